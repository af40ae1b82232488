"""Hold out posts for evaluation, deterministically by a salted hash of ``post_id``.

A hash (not a random draw) keeps a post on the same side of the split from week to week, so a
refreshed model is never evaluated on posts an earlier model trained on. Streamed batch by batch:
each post's side depends on its id alone.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import PipelineConfig
from topictensor.stages import streaming

STAGE = "split"
_BUCKETS = 1_000_000


def split(weighted: ArtifactRef | dict, config: PipelineConfig) -> ArtifactRef:
    store = config.open_store()
    source = Artifact(store, weighted)

    def compute(ws: Workspace) -> StageResult:
        path = source.path("posts.parquet")
        schema = pq.read_schema(path)
        counts = {"train_posts": 0, "heldout_posts": 0, "heldout_evaluable_posts": 0}
        with pq.ParquetWriter(ws.path("train.parquet"), schema, **streaming.WRITE_OPTIONS) as train, \
                pq.ParquetWriter(ws.path("heldout.parquet"), schema, **streaming.WRITE_OPTIONS) as heldout:
            for batch in streaming.parquet_batches(path)():
                table = pa.Table.from_batches([batch], schema=schema)
                mask = heldout_mask(table.column("post_id").to_pylist(), config.split.heldout_share,
                                    config.split.salt)
                held = table.filter(pa.array(mask))
                if held.num_rows < table.num_rows:
                    train.write_table(table.filter(pa.array(~mask)))
                if held.num_rows:
                    heldout.write_table(held)
                counts["train_posts"] += int((~mask).sum())
                counts["heldout_posts"] += held.num_rows
                if held.num_rows:
                    n_tags = pc.list_value_length(held.column("tags"))
                    counts["heldout_evaluable_posts"] += int(pc.sum(pc.greater_equal(n_tags, 2)).as_py() or 0)
        return StageResult(counts=counts)

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
