"""Hold out posts for evaluation, deterministically by a salted hash of ``post_id``.

A hash (not a random draw) keeps a post on the same side of the split from week to week, so a
refreshed model is never evaluated on posts an earlier model trained on.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import PipelineConfig

STAGE = "split"
_BUCKETS = 1_000_000


def split(weighted: ArtifactRef | dict, config: PipelineConfig) -> ArtifactRef:
    store = config.open_store()
    source = Artifact(store, weighted)

    def compute(ws: Workspace) -> StageResult:
        posts = source.read_table("posts.parquet")
        mask = heldout_mask(posts.column("post_id").to_pylist(), config.split.heldout_share, config.split.salt)
        train, heldout = posts.filter(pa.array(~mask)), posts.filter(pa.array(mask))
        pq.write_table(train, ws.path("train.parquet"))
        pq.write_table(heldout, ws.path("heldout.parquet"))
        n_tags = pc.list_value_length(heldout.column("tags"))
        evaluable = int(pc.sum(pc.greater_equal(n_tags, 2)).as_py() or 0) if len(heldout) else 0
        return StageResult(counts={"train_posts": len(train), "heldout_posts": len(heldout),
                                   "heldout_evaluable_posts": evaluable})

    return run_stage(store, STAGE, code=code_version(__name__), params=config.split,
                     inputs={"weighted": source.ref}, compute=compute)


def heldout_mask(post_ids: list[str], share: float, salt: str) -> np.ndarray:
    """True for held-out posts: hash(salt, post_id) falls in the first ``share`` of the buckets."""
    limit = int(share * _BUCKETS)
    salt_b = salt.encode()
    out = np.empty(len(post_ids), dtype=bool)
    for i, pid in enumerate(post_ids):
        h = hashlib.blake2b(salt_b + b"\0" + str(pid).encode(), digest_size=8).digest()
        out[i] = int.from_bytes(h, "little") % _BUCKETS < limit
    return out
