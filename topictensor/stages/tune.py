"""Tune stage (optional, before train): a budgeted hyperparameter search on a validation part of
the training split (see ``topictensor.train.tune``); the held-out split that evaluate and the gate
use is never read. Writes ``train.yaml`` (the chosen ``train:`` section), ``trials.json`` and
``table.txt``.

The search depends on wall-clock time, so two runs could choose differently: the artifact is keyed
by the split, the starting train config and the budget, and a rerun reuses the first choice.
``apply_tuned`` lays the choice over the config for the train stage, whose key then includes it.

Tuning and the weekly warm start pull in different directions: a search that picks another dim
makes that week's training cold. Run it now and then (a manual trigger with a budget), not weekly.
"""

from __future__ import annotations

from typing import Any

from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import PipelineConfig, deep_merge
from topictensor.train import TRAINER_MODULES

STAGE = "tune"
VALIDATION_SHARE = 0.1
# The search trains with the trainer and scores with the quality metric: editing either (the
# kernels included) must not reuse a choice made by the old code.
ENGINE_MODULES = (*TRAINER_MODULES, "topictensor.train.tune", "topictensor.quality", "topictensor.ranking")


def stage_code() -> str:
    """The tune stage's code version (part of its key)."""
    return code_version(__name__, *ENGINE_MODULES)


def tune_params(config: PipelineConfig, budget_seconds: float, validation_share: float) -> dict[str, Any]:
    """The search never starts warm, so the warm-start policy is not one of its inputs."""
    return {"budget_seconds": float(budget_seconds), "validation_share": float(validation_share),
            "train": config.train.deciding_settings(warm=False)}


def tune_config(splits: ArtifactRef | dict, config: PipelineConfig, budget_seconds: float, *,
                validation_share: float = VALIDATION_SHARE) -> ArtifactRef:
    store = config.open_store()
    source = Artifact(store, splits)

    def compute(ws: Workspace) -> StageResult:
        import json

        from topictensor.train.tune import split_validation, tune

        from topictensor.stages.split import SplitPosts

        table = SplitPosts(store, source).table("train", ["tags", "weights"])
        train_part, held = split_validation(table, validation_share, config.train.seed)
        result = tune(train_part, held.column("tags").to_pylist(), budget_seconds, config.train,
                      seed=config.train.seed)
        ws.path("train.yaml").write_text(result.to_yaml())
        ws.path("trials.json").write_text(json.dumps(result.summary(), indent=2, default=float))
        ws.path("table.txt").write_text(result.table() + "\n")
        return StageResult(
            counts={"trials": len(result.trials), "validation_posts": result.validation_posts},
            metrics={"chosen_quality": result.best_trial.quality, "baseline_quality": result.baseline_trial.quality,
                     "search_seconds": result.seconds},
            extra={"chosen": result.train_section()},
        )

    return run_stage(store, STAGE, code=stage_code(),
                     params=tune_params(config, budget_seconds, validation_share),
                     inputs={"split": source.ref}, compute=compute)


def apply_tuned(config: PipelineConfig, tuned: ArtifactRef | dict | None) -> PipelineConfig:
    """The config with the tune artifact's ``train:`` section laid over it (None: unchanged).
    Threads stay as configured: they decide how fast, not what is learned."""
    if not tuned:
        return config
    import yaml

    chosen = yaml.safe_load(Artifact(config.open_store(), tuned).path("train.yaml").read_text())["train"]
    chosen.pop("threads", None)
    data = deep_merge(config.model_dump(mode="json"), {"train": chosen})
    return PipelineConfig.model_validate(data)
