"""Evaluate stage: the source project's held-out quality metric (see ``topictensor.quality``)."""

from __future__ import annotations

import json

import numpy as np

from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import PipelineConfig

STAGE = "evaluate"


def evaluate_model(model: ArtifactRef | dict, splits: ArtifactRef | dict, config: PipelineConfig) -> ArtifactRef:
    store = config.open_store()
    model_art, split_art = Artifact(store, model), Artifact(store, splits)

    def compute(ws: Workspace) -> StageResult:
        from topictensor.embeddings import Embeddings
        from topictensor.quality import quality

        emb = Embeddings.load(model_art.path("embeddings.parquet"))
        from topictensor.stages.split import SplitPosts

        heldout = SplitPosts(store, split_art).table("heldout", ["tags"]).column("tags").to_pylist()
        limit = config.evaluate.max_posts
        if limit is not None and len(heldout) > limit:
            picked = np.random.default_rng(0).choice(len(heldout), size=limit, replace=False)
            heldout = [heldout[i] for i in sorted(picked)]
        result = quality(emb, heldout)
        metrics = {"quality": result.quality, "hits": result.hits, "total": result.total}
        ws.path("metrics.json").write_text(json.dumps(
            {**metrics, "posts": result.posts, "posts_skipped": result.posts_skipped}, indent=2))
        return StageResult(counts={"posts": result.posts, "posts_skipped": result.posts_skipped},
                           metrics=metrics)

    return run_stage(store, STAGE, code=code_version(__name__, "topictensor.quality"), params=config.evaluate,
                     inputs={"model": model_art.ref, "split": split_art.ref}, compute=compute)
