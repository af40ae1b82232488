"""The stage graph, declared once: ``topictensor run``, ``topictensor stage NAME``, publish's list of
a version's artifacts and the Airflow DAG (``dags/topictensor_refresh.py``) are all built from
``GRAPH``. Adding a stage = its module plus one ``Stage`` here.

Each stage names its function (``module:function``, imported only when the stage runs, so this
module stays light enough for the DAG file to import at parse time), its inputs by the name of the
stage that produces them (``plan.posts``: one field of a stage's dict output), whether it is
mapped (one call per element of one input: a partition, a language), and where it runs (queue and
pool: training goes to the dedicated many-core worker). Every function is called as
``function(config, run, **inputs)`` with ``run`` the :class:`RunContext`.

Shape (the window ends at the run's data interval end)::

    plan -> bloggers ---------------------------------------.
         -> ingest[partition] -> normalize[partition] -> window -> {prepare[partition], languages}
    -> cooccur[partition] -> filter[lang] -> reweight -> split -> tune -> train -> evaluate -> gate
    -> {blogger_vectors -> index, clusters} -> drift -> publish -> cleanup (optional retention)

evaluate scores the candidate and production on the same held-out posts; gate decides on that
and on the model's own drift; drift measures ranking and topic churn once bloggers and topics
exist (the gate's second half); publish registers the version and, unless the gate is manual or
the run is a backfill, moves the production pointer.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunContext:
    """What a run knows besides the config: its id, the end of its window (None: after the newest
    partition), the tuning budget (0 = no tuning) and the retention after publish (0 = none)."""

    run_id: str | None = None
    as_of: str | None = None
    tune_budget_seconds: float = 0.0
    gc_keep_versions: int = 0  # > 0: after publish, delete what no kept version needs (topictensor.gc)


@dataclass(frozen=True)
class Stage:
    name: str
    func: str
    inputs: tuple[str, ...] = ()
    mapped: str | None = None  # the input whose elements get one call each
    after: tuple[str, ...] = ()  # upstream stages that only order this one (no data passed)
    queue: str | None = None
    pool: str | None = None
    versioned: bool = True  # its artifact(s) are part of the model version publish records
    multiple_outputs: bool = False  # a dict whose fields other stages take one by one (``stage.field``)
    doc: str = ""
    limits: Mapping[str, Any] = field(default_factory=dict)  # DAG task overrides (timeouts, retries)

    def function(self) -> Callable[..., Any]:
        module, _, name = self.func.partition(":")
        return getattr(importlib.import_module(module), name)

    @property
    def upstream(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([i.split(".", 1)[0] for i in self.inputs] + list(self.after)))

    @staticmethod
    def argument(input_name: str) -> str:
        """The keyword an input is passed as (``plan.posts`` -> ``posts``)."""
        return input_name.rsplit(".", 1)[-1]


_HERE = "topictensor.stages.graph"

GRAPH: tuple[Stage, ...] = (
    Stage("plan", f"{_HERE}:_plan", versioned=False,
          doc="List the raw prefix: the posts partitions in the training window (ending at the run's data "
              "interval end). Reads no data."),
    Stage("bloggers", f"{_HERE}:_bloggers", after=("plan",),
          doc="Read and check the bloggers snapshot: the newest `bloggers/dt=` before the window's end."),
    Stage("ingest", f"{_HERE}:_ingest", inputs=("plan",), mapped="plan",
          doc="Read and check one posts partition; bad rows go to its `rejects`. Keyed by the "
              "partition's listing: an unchanged partition is not read again."),
    Stage("normalize", f"{_HERE}:_normalize", inputs=("ingest",), mapped="ingest",
          doc="Normalise one partition's tags and write its summary (per-blogger counts, language votes, "
              "(blogger, tag) counts) for the window."),
    Stage("window", f"{_HERE}:_window", inputs=("bloggers", "normalize"),
          doc="Merge the partitions' summaries into the window's small tables (bloggers' languages, tag "
              "statistics, each blogger's tag counts); newer partitions win duplicated post_ids. Reads no posts."),
    Stage("languages", f"{_HERE}:_languages", inputs=("window",), versioned=False,
          doc="Languages present in the window and allowed by the config: one filter task each."),
    Stage("prepare", f"{_HERE}:_prepare", inputs=("normalize", "window"), mapped="normalize",
          doc="One partition's share of the split: drop older copies and unknown bloggers' posts, set the "
              "bloggers' languages, hold out posts by a salted hash of post_id. Keyed by what it uses of the "
              "window: an old partition is not read again."),
    Stage("cooccur", f"{_HERE}:_cooccur", inputs=("prepare", "window", "languages"), mapped="prepare",
          doc="One prepared partition's co-occurrences of a superset of the review candidates of each language "
              "scoring generic tags (none: an empty table, nothing read); an earlier count whose superset still holds "
              "this week's candidates is reused without reading the partition."),
    Stage("filter", f"{_HERE}:_filter", inputs=("window", "cooccur", "languages"), mapped="languages",
          doc="Keep tags used by enough distinct bloggers of one language; drop its blacklist; "
              "write the top tags for blacklist review (from the window's statistics)."),
    Stage("reweight", f"{_HERE}:_reweight", inputs=("filter", "window"),
          doc="The kept (blogger, tag) pairs with their counts: each blogger's habitual tags down-weighted."),
    Stage("split", f"{_HERE}:_split", inputs=("prepare", "reweight"),
          doc="The window's split: its prepared partitions and habit weights (read filtered and weighted)."),
    Stage("tune", f"{_HERE}:_tune", inputs=("split",), queue="train", pool="train", versioned=False,
          limits={"retries": 1, "hours": 72},
          doc="Optional hyperparameter search (successive halving) on a validation part of the training "
              "split; skipped (an empty choice) when `tune_budget_seconds` is 0."),
    Stage("train", f"{_HERE}:_train", inputs=("split", "tune"), queue="train", pool="train",
          limits={"retries": 1, "hours": 72},
          doc="Train the tag embeddings (numba StarSpace), warm-started from the production model, on the "
              "`train` queue and pool (the dedicated many-core worker)."),
    Stage("evaluate", f"{_HERE}:_evaluate", inputs=("train", "split"),
          doc="Held-out quality (share of each tag's n-1 nearest tags that are its post's tags); the candidate, "
              "production and the last promoted versions scored on the same held-out posts; neighbour overlap "
              "and vocabulary churn against production."),
    Stage("gate", f"{_HERE}:_gate", inputs=("evaluate",), versioned=False, limits={"retries": 0},
          doc="Fail the run unless quality passes the floor, is not worse than production nor than the best of "
              "the last promoted versions on the same posts (by more than the tolerance), and no drift "
              "threshold is breached."),
    Stage("blogger_vectors", f"{_HERE}:_blogger_vectors", inputs=("train", "reweight", "window"), after=("gate",),
          doc="Each blogger's vector: the weighted sum of the tag vectors of all their posts."),
    Stage("index", f"{_HERE}:_index", inputs=("blogger_vectors",), limits={"hours": 6},
          doc="nmslib HNSW index (cosine) over the blogger vectors."),
    Stage("clusters", f"{_HERE}:_clusters", inputs=("train", "gate", "filter"), limits={"hours": 6},
          doc="Fixed topics: UMAP to 5-D, HDBSCAN, cleaning and merging; topic ids carried over from the "
              "production version; topics made of the filter reviews' generic tags flagged."),
    Stage("drift", f"{_HERE}:_drift", inputs=("evaluate", "blogger_vectors", "clusters"), versioned=False,
          limits={"retries": 0},
          doc="Ranking churn of the probe themes' top bloggers and topic changes against production; fails the "
              "run when a configured drift threshold is breached (the gate's second half)."),
    Stage("publish", f"{_HERE}:_publish", versioned=False,
          inputs=("plan", "gate", "drift"),  # and every versioned stage: see publish_inputs()
          doc="Record the model version and move the production pointer (compare-and-swap), unless the gate is "
              "manual (the version waits for a person's promote) or the run is a backfill; emits the model "
              "Asset event on a promotion."),
    Stage("cleanup", f"{_HERE}:_cleanup", after=("publish",), versioned=False,
          doc="Optional retention after publish (`gc_keep_versions` > 0): delete the artifacts that no kept "
              "version, production or partition of the window needs (as `topictensor gc --delete`)."),
)

STAGES: dict[str, Stage] = {s.name: s for s in GRAPH}


def publish_inputs() -> tuple[str, ...]:
    return tuple(s.name for s in GRAPH if s.versioned)


def inputs_of(stage: Stage) -> tuple[str, ...]:
    return stage.inputs + (publish_inputs() if stage.name == "publish" else ())


def edges() -> set[tuple[str, str]]:
    """(upstream, downstream) of every dependency of the graph."""
    out = set()
    for stage in GRAPH:
        ups = [i.split(".", 1)[0] for i in inputs_of(stage)] + list(stage.after)
        out |= {(up, stage.name) for up in ups}
    return out


def call(name: str, config, run: RunContext, **inputs: Any) -> Any:
    """Run one stage's function (one element, for a mapped stage)."""
    return STAGES[name].function()(config, run, **inputs)


# ------------------------------------------------------------------ the stages' calling conventions
# Thin: each names the library function and turns references into what XCom carries (dicts).

def _window_plan(config, run: RunContext):
    from topictensor.partitions import plan_window
    from topictensor.store import open_store

    raw = open_store(config.ingest.input_uri, endpoint_url=config.store.endpoint_url)
    return plan_window(raw, config.ingest.window_days, run.as_of or config.ingest.as_of)


def _plan(config, run: RunContext) -> list[dict[str, Any]]:
    """The window's posts partitions (oldest first), for ingest to map over."""
    plan = _window_plan(config, run)
    return [p.to_dict() for p in plan.posts]


def _bloggers(config, run):
    from topictensor.stages.ingest import ingest_bloggers

    return ingest_bloggers(_window_plan(config, run).bloggers, config).to_dict()


def _ingest(config, run, plan):
    from topictensor.stages.ingest import ingest_partition

    return ingest_partition(plan, config).to_dict()


def _normalize(config, run, ingest):
    from topictensor.stages.normalize import normalize_partition

    return normalize_partition(ingest, config).to_dict()


def _window(config, run, bloggers, normalize):
    from topictensor.stages.window import build_window

    return build_window(bloggers, list(normalize), config).to_dict()


def _languages(config, run, window):
    from topictensor.stages.languages import select_languages

    return select_languages(window, config)


def _prepare(config, run, normalize, window):
    from topictensor.stages.prepare import prepare_partition

    return prepare_partition(normalize, window, config).to_dict()


def _cooccur(config, run, prepare, window, languages):
    from topictensor.stages.cooccur import count_cooccurrence

    return count_cooccurrence(prepare, window, list(languages), config).to_dict()


def _filter(config, run, window, cooccur, languages):
    from topictensor.stages.filter import filter_language

    return filter_language(window, list(cooccur), languages, config).to_dict()


def _reweight(config, run, filter, window):
    from topictensor.stages.reweight import reweight

    return reweight(list(filter), window, config).to_dict()


def _split(config, run, prepare, reweight):
    from topictensor.stages.split import split

    return split(list(prepare), reweight, config).to_dict()


def _tune(config, run, split):
    """The tune artifact, or ``{}`` when off (a value, so that train's XCom pull finds one)."""
    if run.tune_budget_seconds <= 0:
        return {}
    from topictensor.stages.tune import tune_config

    return tune_config(split, config, run.tune_budget_seconds).to_dict()


def _train(config, run, split, tune):
    from topictensor.stages.train import train_model
    from topictensor.stages.tune import apply_tuned

    return train_model(split, apply_tuned(config, tune or None)).to_dict()


def _evaluate(config, run, train, split):
    from topictensor.stages.evaluate import evaluate_model

    return evaluate_model(train, split, config).to_dict()


def _gate(config, run, evaluate):
    from topictensor.stages.gate import gate

    return gate(evaluate, config, run_id=run.run_id)


def _blogger_vectors(config, run, train, reweight, window):
    from topictensor.stages.blogger_vectors import blogger_vectors

    return blogger_vectors(train, reweight, window, config).to_dict()


def _index(config, run, blogger_vectors):
    from topictensor.stages.index import build_index

    return build_index(blogger_vectors, config).to_dict()


def _clusters(config, run, train, gate, filter):
    from topictensor.stages.clusters import clusters_after_gate

    return clusters_after_gate(train, gate, config, filtered=list(filter)).to_dict()


def _drift(config, run, evaluate, blogger_vectors, clusters):
    from topictensor.stages.drift import measure_drift

    return measure_drift(evaluate, blogger_vectors, clusters, config, run_id=run.run_id)


def _publish(config, run, plan, gate, drift, **stages):
    from topictensor.stages.publish import publish

    refs = {name: (list(value) if isinstance(value, (list, tuple)) else value) for name, value in stages.items()}
    from topictensor.partitions import parse_as_of

    end = parse_as_of(run.as_of or config.ingest.as_of)  # the window's end day (exclusive), None = after the newest
    window = {"as_of": end.isoformat() if end else None, "window_days": config.ingest.window_days,
              "partitions": [p["dt"] for p in plan]}
    return publish(refs, gate, config, run_id=run.run_id, window=window, drift=drift)


def _cleanup(config, run):
    """The retention's summary, or ``{}`` when off."""
    if run.gc_keep_versions <= 0:
        return {}
    from topictensor.gc import collect

    result = collect(config, keep_versions=run.gc_keep_versions, dry_run=False, as_of=run.as_of)
    return {"deleted": len(result.delete), "bytes": result.bytes_deleted, "kept_versions": result.kept_versions}
