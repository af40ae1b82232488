"""Down-weight each blogger's habitual tags so one prolific blogger cannot skew co-occurrence.

Formula: if blogger ``b`` uses tag ``t`` in ``c(b, t)`` of their posts, each of those occurrences
gets the raw weight ``c(b, t) ** -p`` (``p`` = ``reweight.habit_power``, default 0.5). Blogger b's
total say about tag t then grows like ``c ** (1 - p)`` (sqrt of c at the default) instead of c:
a tag in 100 of one blogger's posts counts like 10 posts, not 100. Weights are then scaled so
their mean over all occurrences is 1, which keeps the trainer's learning rate meaningful.
With ``p = 0`` every weight is 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import PipelineConfig

STAGE = "reweight"


def reweight(filtered: Sequence[ArtifactRef | dict], config: PipelineConfig) -> ArtifactRef:
    """Merge the per-language outputs into one table with a ``weights`` list aligned with ``tags``."""
    store = config.open_store()
    sources = sorted((Artifact(store, ref) for ref in filtered), key=lambda a: a.ref.key)
    if not sources:
        raise ValueError("reweight needs at least one filtered language artifact")

    def compute(ws: Workspace) -> StageResult:
        tables = [a.read_table("posts.parquet") for a in sources]
        posts = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
        weighted = add_habit_weights(posts, config.reweight.habit_power)
        pq.write_table(weighted, ws.path("posts.parquet"))
        w = pc.list_flatten(weighted.column("weights")).to_numpy()
        return StageResult(
            counts={"posts": len(weighted), "occurrences": len(w), "languages": len(sources)},
            metrics={"weight_min": float(w.min()) if len(w) else 0.0, "weight_max": float(w.max()) if len(w) else 0.0},
        )

    return run_stage(store, STAGE, code=code_version(__name__), params=config.reweight,
                     inputs={"filtered": [a.ref for a in sources]}, compute=compute)


def habit_weights(blogger_codes: np.ndarray, tag_codes: np.ndarray, power: float) -> np.ndarray:
    """Per-occurrence weights ``c(b, t) ** -power`` scaled to mean 1 (see module docstring)."""
    if len(tag_codes) == 0:
        return np.zeros(0, dtype=np.float32)
    n_tags = int(tag_codes.max()) + 1
    pair = blogger_codes.astype(np.int64) * n_tags + tag_codes.astype(np.int64)
    _, inverse, per_pair = np.unique(pair, return_inverse=True, return_counts=True)
    raw = per_pair[inverse].astype(np.float64) ** -power
    return (raw / raw.mean()).astype(np.float32)


def add_habit_weights(posts: pa.Table, power: float) -> pa.Table:
    tags = posts.column("tags").combine_chunks()
    flat = pc.list_flatten(tags)
    parent = pc.list_parent_indices(tags).to_numpy()
    blogger_codes = pc.dictionary_encode(posts.column("blogger_id")).combine_chunks().indices.to_numpy()
    tag_codes = pc.dictionary_encode(flat).indices.to_numpy()
    weights = habit_weights(blogger_codes[parent], tag_codes, power)
    weight_lists = pa.ListArray.from_arrays(tags.offsets, pa.array(weights, type=pa.float32()))
    return posts.append_column("weights", weight_lists)
