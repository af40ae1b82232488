"""Hold out posts for evaluation, deterministically by a salted hash of ``post_id``; and read the split.

A hash (not a random draw) keeps a post on the same side of the split from week to week, so a
refreshed model is never evaluated on posts an earlier model trained on. Each partition is split by
its own ``prepare`` task (``topictensor.stages.prepare``); this stage only records which prepared
partitions and which habit table (``topictensor.stages.reweight``) make the window's split, in
``parts.json``: it reads no posts.

:class:`SplitPosts` reads a split: the prepared partitions' posts of one side, oldest partition
first, each tag use kept only when its (blogger, tag) pair is in the reweight table (a tag the
blogger's language keeps: that is the filter) and given that pair's habit weight; posts left without
a tag are dropped. Memory: one batch, plus the kept pairs (16 bytes each: a sorted int64 key and a
float32 weight) and the vocabularies of bloggers and kept tags.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow as pa

from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import PipelineConfig
from topictensor.stages import streaming

STAGE = "split"
PARTS = "parts.json"


def split(prepared: Sequence[ArtifactRef | dict], weighted: ArtifactRef | dict, config: PipelineConfig) -> ArtifactRef:
    store = config.open_store()
    parts = [Artifact(store, ref) for ref in prepared]
    if not parts:
        raise ValueError("the split needs at least one prepared partition")
    habit = Artifact(store, weighted)

    def compute(ws: Workspace) -> StageResult:
        ws.path(PARTS).write_text(json.dumps({"prepared": [a.ref.to_dict() for a in parts],
                                              "weighted": habit.ref.to_dict()}, indent=2, sort_keys=True))
        counts = {name: sum(int(a.manifest.get("counts", {}).get(name, 0)) for a in parts)
                  for name in ("train_posts", "heldout_posts")}
        return StageResult(counts={**counts, "partitions": len(parts),
                                   "occurrences": int(habit.manifest.get("counts", {}).get("occurrences", 0))},
                           extra={"partitions": [a.manifest.get("extra", {}).get("dt") for a in parts]})

    return run_stage(store, STAGE, code=code_version(__name__), params=config.split,
                     inputs={"prepared": [a.ref for a in parts], "weighted": habit.ref}, compute=compute)


class HabitTable:
    """The kept (blogger, tag) pairs and their weights, looked up by codes (``streaming.Vocabulary``)."""

    def __init__(self, weighted: Artifact):
        from topictensor.stages.normalize import PAIR_BUCKETS
        from topictensor.stages.reweight import habit_file, pair_weights
        from topictensor.stages.streaming import Vocabulary

        extra = weighted.manifest.get("extra", {})
        power, mean = float(extra["habit_power"]), float(extra["raw_mean"])
        self.bloggers, self.tags = Vocabulary(), Vocabulary()
        keys, weights = [], []
        for bucket in range(PAIR_BUCKETS):
            table = weighted.read_table(habit_file(bucket))
            if not table.num_rows:
                continue
            b = self.bloggers.codes(table.column("blogger_id"))
            t = self.tags.codes(table.column("tag"))
            keys.append((b << streaming.TAG_BITS) | t)
            weights.append(pair_weights(table.column("count").to_numpy(), power, mean))
        key = np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)
        order = np.argsort(key, kind="stable")
        self.keys = key[order]
        self.weights = np.concatenate(weights)[order] if weights else np.zeros(0, dtype=np.float32)
        self.n_bloggers, self.n_tags = len(self.bloggers), len(self.tags)

    def lookup(self, blogger_of_use: pa.Array, tags: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """(kept mask, weight) of every tag use; ``blogger_of_use`` and ``tags`` aligned."""
        b = self.bloggers.codes(blogger_of_use)
        t = self.tags.codes(tags)
        known = (b < self.n_bloggers) & (t < self.n_tags)  # codes the table never gave cannot be in it
        key = (b << streaming.TAG_BITS) | t
        at = np.minimum(np.searchsorted(self.keys, key), max(len(self.keys) - 1, 0))
        found = known & (self.keys[at] == key) if len(self.keys) else np.zeros(len(key), dtype=bool)
        return found, np.where(found, self.weights[at] if len(self.keys) else 0, 0).astype(np.float32)


class SplitPosts:
    """The posts of a split artifact, filtered and weighted (see the module docstring)."""

    COLUMNS = ("post_id", "blogger_id", "created_at", "tags", "likes", "weights")

    def __init__(self, store, split_ref: Artifact | ArtifactRef | dict):
        self.store = store
        self.art = split_ref if isinstance(split_ref, Artifact) else Artifact(store, split_ref)
        meta = self.art.read_json(PARTS)
        self.parts = [Artifact(store, ref) for ref in meta["prepared"]]
        self.weighted = Artifact(store, meta["weighted"])
        self._habit: HabitTable | None = None

    @property
    def habit(self) -> HabitTable:
        if self._habit is None:
            self._habit = HabitTable(self.weighted)
        return self._habit

    def batches(self, side: str, columns: Sequence[str] = COLUMNS) -> Iterator[pa.Table]:
        from topictensor.stages.prepare import side_file

        unknown = set(columns) - set(self.COLUMNS)
        if unknown:
            raise ValueError(f"split posts have no columns {sorted(unknown)} (they have {list(self.COLUMNS)})")
        read = sorted((set(columns) - {"weights"}) | {"blogger_id", "tags"}, key=self.COLUMNS.index)
        for part in self.parts:
            for batch in streaming.parquet_batches(part.path(side_file(side)), read,
                                                   dictionary=("blogger_id", "tags"))():
                out = self._apply(batch, columns)
                if out.num_rows:
                    yield out

    def _apply(self, batch: pa.RecordBatch, columns: Sequence[str]) -> pa.Table:
        flat, parent = streaming.list_parts(batch.column("tags"))
        blogger = batch.column("blogger_id")
        found, weights = self.habit.lookup(blogger.take(pa.array(parent)), flat)
        lengths = np.bincount(parent[found], minlength=batch.num_rows)
        offsets = np.zeros(batch.num_rows + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        out = {}
        for name in columns:
            if name == "tags":
                out[name] = pa.ListArray.from_arrays(pa.array(offsets),
                                                     streaming.plain_strings(flat.filter(pa.array(found))))
            elif name == "weights":
                out[name] = pa.ListArray.from_arrays(pa.array(offsets), pa.array(weights[found], pa.float32()))
            else:
                out[name] = streaming.plain_strings(batch.column(name))
        return pa.table(out).filter(pa.array(lengths > 0))

    def table(self, side: str, columns: Sequence[str] = COLUMNS) -> pa.Table:
        from topictensor.stages.prepare import PREPARED_SCHEMA
        from topictensor.stages.reweight import WEIGHTS_FIELD

        schema = pa.schema([PREPARED_SCHEMA.append(WEIGHTS_FIELD).field(name) for name in columns])
        parts = [t.cast(schema) for t in self.batches(side, columns)]
        return pa.concat_tables(parts) if parts else schema.empty_table()
