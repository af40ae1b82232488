"""One typed configuration for the whole pipeline: YAML file, then environment, then overrides.

Precedence (last wins): defaults here < the YAML file (``TOPICTENSOR_CONFIG`` or ``./topictensor.yaml``)
< environment variables ``TOPICTENSOR__<SECTION>__<FIELD>`` < explicit overrides (DAG params, CLI flags).
Relative paths in the file are resolved against the file's folder, so tasks started from any
working directory agree on where the store is.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from topictensor.errors import ConfigError
from topictensor.search.params import SearchConfig
from topictensor.topics.params import TopicsConfig
from topictensor.train.params import TrainConfig

ENV_PREFIX = "TOPICTENSOR__"
# Sections renamed to the stage they configure: old name -> new name (the old one is still read).
RENAMED_SECTIONS = {"topics": "clusters"}
log = logging.getLogger(__name__)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreConfig(_Section):
    uri: str = Field(".data/store", description="Local directory or s3://bucket/prefix for artifacts.")
    endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, moto).")


class IngestConfig(_Section):
    input_uri: str = Field(".data/raw", description="Raw prefix holding posts/ and bloggers/ files.")
    max_reject_share: float = Field(0.01, ge=0, le=1, description="Fail when more rows than this are rejected.")
    window_days: int | Literal["all"] = Field(
        "all", description="Train on the posts partitions of this many days before the run's data interval "
                           "end (dt=YYYY-MM-DD folders); 'all' = every partition before it.")
    as_of: str | None = Field(None, description="End of the window (exclusive, YYYY-MM-DD); set per run by "
                                                "Airflow's data interval end or `topictensor run --as-of`; "
                                                "null = the day after the newest posts partition.")
    bucket_workers: int = Field(
        1, ge=0, description="Processes over which the window and reweight stages spread their 16 blogger hash "
        "buckets (0 = one per core, never more than 16); not part of any artifact key. Chosen by "
        "benchmarks/bench_bucket_workers.py (README, 'Weekly refresh').")

    @field_validator("window_days")
    @classmethod
    def _positive_window(cls, value):
        if value != "all" and value < 1:
            raise ValueError("window_days must be >= 1 or 'all'")
        return value


class NormalizeConfig(_Section):
    detect_languages: list[str] = Field(
        default_factory=lambda: ["en", "ru", "es", "pt", "it", "de", "fr"],
        description="ISO 639-1 codes the language identifier chooses among when a blogger has no lang.",
    )
    max_tag_length: int = Field(64, ge=1, description="Longer tags (after normalisation) are dropped as invalid.")
    fallback_language: str = Field("und", description="Language of bloggers the identifier cannot place.")


class FilterConfig(_Section):
    languages: list[str] | None = Field(None, description="Languages to keep; None keeps every language present.")
    min_bloggers: int = Field(3, ge=1, description="Keep tags used by at least this many distinct bloggers.")
    min_bloggers_by_lang: dict[str, int] = Field(default_factory=dict, description="Per-language override.")
    blacklist: dict[str, list[str]] = Field(
        default_factory=dict, description="Per-language non-thematic tags to drop ('*' applies to all)."
    )
    review_top_n: int = Field(1000, ge=0, description="Most frequent tags per language written for review.")
    review_margin: float = Field(
        1.0, ge=0, description="The cooccur stage counts the top review_top_n x (1 + review_margin) tags of a "
        "partition's first window, so that later weeks whose candidates stay inside reuse the count. Chosen by "
        "benchmarks/bench_review_margin.py (README, 'Weekly refresh'): 0.6 of 26 partitions recounted a week at "
        "1.0, 25 at 0.")
    generic_mode: Literal["off", "suggest", "apply"] = Field(
        "suggest", description="Generic-tag detection over the review candidates (topictensor.generic_tags): "
        "suggest = score them in review.parquet only; apply = also drop those scoring >= generic_threshold; "
        "off = no scores (one pass less over the posts).")
    generic_mode_by_lang: dict[str, Literal["off", "suggest", "apply"]] = Field(
        default_factory=dict, description="Per-language override of generic_mode.")
    generic_threshold: float = Field(
        0.8, ge=0, le=1, description="cotag_entropy at or above which a review tag is generic (flagged; dropped "
        "under apply). Chosen by benchmarks/bench_selection.py --generic (README): precision 1.0, recall 0.73 "
        "against the planted spam tags on three corpora.")
    generic_keep: dict[str, list[str]] = Field(
        default_factory=dict, description="Per-language tags never dropped as generic ('*' applies to all): "
        "the curated lists win over the detector both ways (blacklist drops, keep protects).")

    def threshold(self, lang: str) -> int:
        return self.min_bloggers_by_lang.get(lang, self.min_bloggers)

    def generic_mode_for(self, lang: str) -> str:
        return self.generic_mode_by_lang.get(lang, self.generic_mode)

    def generic_keep_for(self, lang: str) -> set[str]:
        return set(self.generic_keep.get("*", [])) | set(self.generic_keep.get(lang, []))

    def blacklist_for(self, lang: str) -> set[str]:
        return set(self.blacklist.get("*", [])) | set(self.blacklist.get(lang, []))


class ReweightConfig(_Section):
    habit_power: float = Field(
        0.5, ge=0, le=1, description="A blogger's tag used in c posts gets weight c**-habit_power per use."
    )


class SplitConfig(_Section):
    heldout_share: float = Field(0.05, gt=0, lt=0.5, description="Share of posts held out for evaluation (by a salted hash of post_id).")
    salt: str = Field("topictensor", description="Changes which posts are held out.")


class EvaluateConfig(_Section):
    max_posts: int | None = Field(None, description="Evaluate on at most this many held-out posts (sampled).")


class GateConfig(_Section):
    min_quality: float = Field(0.05, ge=0, le=1, description="Absolute floor on held-out quality.")
    tolerance: float = Field(0.01, ge=0, le=1, description="Allowed drop below the production model's quality "
                             "and below the best of the last `best_of_last` promoted versions, all scored on "
                             "this run's held-out posts.")
    best_of_last: int = Field(4, ge=0, description="Also compare with the best of this many most recently promoted "
                              "versions (0 = production only), so a slow slide of small drops is caught: quality "
                              "may fall at most `tolerance` below the best of the last N weeks.")
    promote: Literal["auto", "manual"] = Field(
        "auto", description="auto = a run that passes the gate moves production; manual = it registers the version "
        "as a candidate with its comparison and drift, and a person promotes it (`topictensor versions promote`, "
        "or the Airflow versions view).")
    promote_backfills: bool = Field(
        False, description="Promote a run whose window ends before production's (a backfill of an older week); "
        "off: such a version is registered but production is left alone.")


class DriftConfig(_Section):
    """How much the model changed against production, measured every run (evaluate, drift stages).
    The thresholds are off (None) by default: drift is reported; set one to fail the gate on it."""

    sample_tags: int | None = Field(
        2000, ge=1, description="Shared tags whose 10 nearest neighbours are compared (sampled with a fixed seed; "
        "None = all): the overlap is a mean of values in 0..1, so 2000 tags give a standard error <= 0.011.")
    probe_themes: list[str] = Field(
        default_factory=list, description="Themes (`tag[:weight]` lists) whose top bloggers are compared; empty = "
        "the labels of production's `probe_topics` largest fixed topics.")
    probe_topics: int = Field(10, ge=1, description="How many of production's largest topics are probes when "
                              "`probe_themes` is empty.")
    ranking_top: int = Field(50, ge=1, description="Bloggers per probe theme whose turnover is the ranking churn.")
    min_neighbour_overlap: float | None = Field(
        None, ge=0, le=1, description="Fail when the mean neighbour overlap@10 over shared tags is below this.")
    max_tags_new_share: float | None = Field(
        None, ge=0, description="Fail when new tags exceed this share of production's vocabulary.")
    max_tags_vanished_share: float | None = Field(
        None, ge=0, le=1, description="Fail when vanished tags exceed this share of production's vocabulary.")
    max_ranking_churn: float | None = Field(
        None, ge=0, le=1, description="Fail when the mean share of a probe's top bloggers that changed exceeds this.")
    max_topics_changed_share: float | None = Field(
        None, ge=0, description="Fail when topics born + died + split + merged exceed this share of production's topics.")


class PipelineConfig(_Section):
    store: StoreConfig = Field(default_factory=StoreConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    normalize: NormalizeConfig = Field(default_factory=NormalizeConfig)
    filter: FilterConfig = Field(default_factory=FilterConfig)
    reweight: ReweightConfig = Field(default_factory=ReweightConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    clusters: TopicsConfig = Field(default_factory=TopicsConfig)  # the clusters stage (fixed topics)

    @model_validator(mode="before")
    @classmethod
    def _renamed_sections(cls, data: Any) -> Any:
        """A section under its old name (``topics:``, ``TOPICTENSOR__TOPICS__...``) is read as the
        new one, its fields under the new name winning; a warning says to rename it."""
        if not isinstance(data, dict) or not any(old in data for old in RENAMED_SECTIONS):
            return data
        data = dict(data)
        for old, new in RENAMED_SECTIONS.items():
            if old in data:
                log.warning("config section %r is now %r (the stage it configures); rename it", old, new)
                legacy, current = data.pop(old), data.get(new)
                data[new] = (deep_merge(legacy, current) if isinstance(legacy, dict) and isinstance(current, dict)
                             else current if new in data else legacy)
        return data

    def open_store(self):
        from topictensor.store import open_store

        return open_store(self.store.uri, endpoint_url=self.store.endpoint_url)


def default_config_path() -> Path | None:
    env = os.environ.get("TOPICTENSOR_CONFIG")
    if env:
        return Path(env)
    local = Path("topictensor.yaml")
    return local if local.is_file() else None


def load_config(path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None,
                *, use_env: bool = True) -> PipelineConfig:
    """Build the config from file, environment and overrides; errors name the offending field."""
    data: dict[str, Any] = {}
    base_dir = Path.cwd()
    cfg_path = Path(path) if path else default_config_path()
    if cfg_path is not None:
        if not cfg_path.is_file():
            raise ConfigError(f"config file {cfg_path} does not exist")
        try:
            loaded = yaml.safe_load(cfg_path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {cfg_path} is not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {cfg_path} must hold a mapping at the top level")
        data = loaded
        base_dir = cfg_path.resolve().parent
    if use_env:
        data = deep_merge(data, _env_overrides())
    if overrides:
        data = deep_merge(data, overrides)
    try:
        config = PipelineConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration ({cfg_path or 'defaults'}): {problems}") from None
    return _resolve_paths(config, base_dir)


def _resolve_paths(config: PipelineConfig, base_dir: Path) -> PipelineConfig:
    def resolve(uri: str) -> str:
        if "://" in uri or Path(uri).is_absolute():
            return uri
        return str((base_dir / uri).resolve())

    config.store.uri = resolve(config.store.uri)
    config.ingest.input_uri = resolve(config.ingest.input_uri)
    return config


def _env_overrides() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, raw in os.environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX):].split("__") if p]
        if not path:
            continue
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = yaml.safe_load(raw) if raw != "" else None
    return out


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def config_from_params(params: dict[str, Any] | None, path: str | os.PathLike | None = None) -> PipelineConfig:
    """Map an Airflow run's params (or any dict of the same shape) onto the config.

    Recognised: ``input_uri``, ``languages``, ``train`` (trainer overrides) and ``overrides``
    (any section, e.g. ``{"gate": {"min_quality": 0.1}}``). Empty values mean 'as configured'.
    """
    params = params or {}
    overrides: dict[str, Any] = dict(params.get("overrides") or {})
    if params.get("input_uri"):
        overrides = deep_merge(overrides, {"ingest": {"input_uri": params["input_uri"]}})
    if params.get("languages"):
        overrides = deep_merge(overrides, {"filter": {"languages": list(params["languages"])}})
    if params.get("train"):
        overrides = deep_merge(overrides, {"train": dict(params["train"])})
    return load_config(path, overrides=overrides)
