"""Train stage: the tag embeddings from the training split, with the same trainer as
``topictensor train``. Writes ``embeddings.parquet``, ``model.json`` and ``adagrad.npy`` (the
optimiser's per-tag state, which the next week's warm start continues).

Weekly refresh (``train.warm_start``, on by default): the run starts from the production model's
vectors and trains ``train.warm_epochs`` epochs. The production train artifact it starts from is
an input of this stage's key (as the clusters stage does with its baseline), so a promotion or a
rollback to a different model changes the key, and the model is a function of exactly the
artifacts its manifest names. The version it came from is recorded in the manifest and model.json.
"""

from __future__ import annotations

import logging
from typing import Any

from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import PipelineConfig
from topictensor.store import Store
from topictensor.train import TRAINER_MODULES

STAGE = "train"
log = logging.getLogger(__name__)

# Modules whose source decides the trained vectors: editing any of them retrains.
ENGINE_MODULES = (*TRAINER_MODULES, "topictensor.embeddings", "topictensor.modeldir")

PRODUCTION = "production"  # init_from default: the registry's production model, when warm_start is on


def train_params(config: PipelineConfig, warm: bool = False) -> dict:
    """The trainer's settings that decide the result (:meth:`TrainConfig.deciding_settings`)."""
    return config.train.deciding_settings(warm=warm)


def train_model(splits: ArtifactRef | dict, config: PipelineConfig, *,
                init_from: str | Artifact | ArtifactRef | dict | None = PRODUCTION) -> ArtifactRef:
    """Train on the split. ``init_from``: ``"production"`` (warm start from the production model
    when ``train.warm_start``), a train artifact to start from, or None (cold)."""
    store = config.open_store()
    source = Artifact(store, splits)
    baseline, version, reason = warm_baseline(store, config, source.ref, init_from)
    if reason:
        log.info("train: %s", reason)

    def compute(ws: Workspace) -> StageResult:
        from topictensor.modeldir import load_warm_start, train_to_dir

        init = None
        if baseline is not None:
            origin = {"version": version, "artifact": f"{baseline.ref.stage}/{baseline.ref.key}"}
            optimizer = baseline.path("adagrad.npy") if "adagrad.npy" in baseline.files else None
            init = load_warm_start(baseline.path("embeddings.parquet"), origin, adagrad_path=optimizer)
        from topictensor.stages.split import SplitPosts

        table = SplitPosts(store, source).table("train", ["tags", "weights"])
        warm = {"init": init} if init is not None else {}  # a cold call is the plain three-argument one
        summary = train_to_dir(table, config.train, ws.root, **warm)
        counts = {"vocabulary": summary["vocabulary"], "posts": summary["posts"],
                  "occurrences": summary["occurrences"], "epochs": summary["epochs"]}
        if summary["init"]:
            counts.update({k: summary["init"][k] for k in ("tags_kept", "tags_new", "tags_vanished")})
        return StageResult(
            counts=counts,
            metrics={"train_seconds": summary["seconds"], "final_loss": summary["final_loss"],
                     "tags_per_second": summary["tags_per_second"]},
            extra={"init": summary["init"], "init_reason": reason},
        )

    return run_stage(store, STAGE, code=code_version(__name__, *ENGINE_MODULES),
                     params=train_params(config, warm=baseline is not None),
                     inputs={"split": source.ref, "init": baseline.ref if baseline else None}, compute=compute)


def warm_baseline(store: Store, config: PipelineConfig, split: ArtifactRef,
                  init_from: str | Artifact | ArtifactRef | dict | None) -> tuple[Artifact | None, str | None, str]:
    """(train artifact to start from or None, its model version if known, why). Cold when warm
    start is off, nothing is in production, or the production model has another dim."""
    if init_from is None:
        return None, None, "cold start (no initial model given)"
    version = None
    if isinstance(init_from, str) and init_from == PRODUCTION:
        if not config.train.warm_start:
            return None, None, "cold start (train.warm_start is off)"
        from topictensor.registry import Registry, RegistryError

        registry = Registry(store)
        version = registry.production()
        if version is None:
            return None, None, "cold start (no model in production yet)"
        try:
            candidate = registry.artifact(version, STAGE)
        except RegistryError as exc:
            return None, None, f"cold start ({exc})"
    else:
        candidate = init_from if isinstance(init_from, Artifact) else Artifact(store, init_from)
    art, version = _before_same_split(store, candidate, version, split)
    if art is None:
        return None, None, "cold start (the production model was trained cold on this same split)"
    dim = _model_dim(art)
    if dim != config.train.dim:
        return None, None, (f"cold start (production model {version} has dim {dim}, the config asks for "
                            f"{config.train.dim})")
    return art, version, f"warm start from model version {version} ({art.ref.stage}/{art.ref.key})"


def _before_same_split(store: Store, art: Artifact | None, version: str | None,
                       split: ArtifactRef) -> tuple[Artifact | None, str | None]:
    """When the candidate was itself trained on this same split (a rerun after publishing), start
    from what *it* started from (:meth:`Artifact.past_own_output`), whose model version the
    stepped-past artifact recorded."""
    if art is None:
        return None, None
    start, passed = art.past_own_output(("split", split), previous="init")
    if passed is not None:
        origin: dict[str, Any] = (passed.manifest.get("extra") or {}).get("init") or {}
        version = origin.get("version")
    return (start, version) if start is not None else (None, None)


def _model_dim(art: Artifact) -> int | None:
    try:
        return int(art.read_json("model.json")["hyperparameters"]["dim"])
    except Exception:  # an unreadable model.json: fall back to the vectors themselves
        import pyarrow.parquet as pq

        col = pq.read_table(art.path("embeddings.parquet"), columns=["vector"]).column("vector")
        return len(col[0].as_py()) if len(col) else None
