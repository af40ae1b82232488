"""Train stage: the tag embeddings from the training split, with the same trainer as
``topictensor train``. Writes ``embeddings.parquet`` and ``model.json``."""

from __future__ import annotations

from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import PipelineConfig

STAGE = "train"

# Modules whose source decides the trained vectors: editing any of them retrains.
ENGINE_MODULES = (
    "topictensor.train.kernels", "topictensor.train.trainer", "topictensor.train.sampler",
    "topictensor.train.vocab", "topictensor.embeddings", "topictensor.modeldir",
)


def train_params(config: PipelineConfig) -> dict:
    """The trainer's settings that decide the result; the thread count is how, not what."""
    return config.train.model_dump(mode="json", exclude={"threads"})


def train_model(splits: ArtifactRef | dict, config: PipelineConfig) -> ArtifactRef:
    store = config.open_store()
    source = Artifact(store, splits)

    def compute(ws: Workspace) -> StageResult:
        from topictensor.modeldir import train_to_dir

        table = source.read_table("train.parquet", columns=["tags", "weights"])
        summary = train_to_dir(table, config.train, ws.root)
        return StageResult(
            counts={"vocabulary": summary["vocabulary"], "posts": summary["posts"],
                    "occurrences": summary["occurrences"]},
            metrics={"train_seconds": summary["seconds"], "final_loss": summary["final_loss"],
                     "tags_per_second": summary["tags_per_second"]},
        )

    return run_stage(store, STAGE, code=code_version(__name__, *ENGINE_MODULES), params=train_params(config),
                     inputs={"split": source.ref}, compute=compute)
