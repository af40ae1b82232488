"""Down-weight each blogger's habitual tags so one prolific blogger cannot skew co-occurrence.

Formula: if blogger ``b`` uses tag ``t`` in ``c(b, t)`` of their posts, each of those occurrences
gets the raw weight ``c(b, t) ** -p`` (``p`` = ``reweight.habit_power``, default 0.5). Blogger b's
total say about tag t then grows like ``c ** (1 - p)`` (sqrt of c at the default) instead of c:
a tag in 100 of one blogger's posts counts like 10 posts, not 100. Weights are then scaled so
their mean over all occurrences is 1, which keeps the trainer's learning rate meaningful.
With ``p = 0`` every weight is 1.

Bounded memory (see ``topictensor.stages.streaming``): ``c(b, t)`` is as large as the data, so a
first pass spills every occurrence's (blogger, tag) pair to disk bucketed by blogger; each bucket
is counted alone (a blogger's pairs are all in it) and its per-occurrence counts written back in
the same order; a second pass reads them in step with the posts and writes the weights.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import PipelineConfig
from topictensor.stages import streaming
from topictensor.stages.streaming import Batches, BucketSpill, Vocabulary

STAGE = "reweight"
_TAG_BITS = 31
WEIGHTS_FIELD = pa.field("weights", pa.list_(pa.float32()))


def reweight(filtered: Sequence[ArtifactRef | dict], config: PipelineConfig) -> ArtifactRef:
    """Merge the per-language outputs into one table with a ``weights`` list aligned with ``tags``."""
    store = config.open_store()
    # By language (then key), not by key alone: keys change with the raw input's listing (mtimes), and
    # the merged order is the order training sees the posts in, so the same corpus must merge alike.
    sources = sorted((Artifact(store, ref) for ref in filtered),
                     key=lambda a: (str(a.manifest.get("params", {}).get("lang", "")), a.ref.key))
    if not sources:
        raise ValueError("reweight needs at least one filtered language artifact")

    def compute(ws: Workspace) -> StageResult:
        paths = [a.path("posts.parquet") for a in sources]
        schema = pa.unify_schemas([pq.read_schema(p) for p in paths]).append(WEIGHTS_FIELD)

        def batches():
            return itertools.chain.from_iterable(
                streaming.parquet_batches(p, dictionary=("blogger_id", "tags"))() for p in paths)

        occurrences = sum(streaming.parquet_values(p, "tags") for p in paths)
        with pq.ParquetWriter(ws.path("posts.parquet"), schema, **streaming.WRITE_OPTIONS) as writer:
            stats = weight_batches(batches, lambda table: writer.write_table(table.cast(schema)),
                                   config.reweight.habit_power, occurrences)
        return StageResult(
            counts={"posts": stats["posts"], "occurrences": stats["occurrences"], "languages": len(sources)},
            metrics={"weight_min": stats["weight_min"], "weight_max": stats["weight_max"]},
        )

    return run_stage(store, STAGE, code=code_version(__name__, "topictensor.stages.streaming", "topictensor.vocabulary"),
                     params=config.reweight, inputs={"filtered": [a.ref for a in sources]}, compute=compute)


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
    """The stage's core on an in-memory table with ``blogger_id`` and ``tags``: adds ``weights``."""
    parts: list[pa.Table] = []
    occurrences = int(pc.sum(pc.list_value_length(posts.column("tags"))).as_py() or 0)
    weight_batches(streaming.table_batches(posts), parts.append, power, occurrences)
    schema = posts.schema.append(WEIGHTS_FIELD)
    return pa.concat_tables(parts).cast(schema) if parts else schema.empty_table()


def weight_batches(batches: Batches, write: Callable[[pa.Table], None], power: float,
                   occurrences: int) -> dict[str, float]:
    """Stream ``batches`` twice; each batch goes to ``write`` with its ``weights`` column.
    ``occurrences`` (the number of tags in all posts) sizes the spill's buckets."""
    bloggers, tags = Vocabulary(), Vocabulary()
    with BucketSpill(streaming.bucket_count(occurrences), np.int64, name="reweight-pairs") as spill:
        for batch in batches():
            flat, parent = streaming.list_parts(batch.column("tags"))
            blogger_of = bloggers.codes(batch.column("blogger_id"))[parent]
            pairs = (blogger_of << _TAG_BITS) | tags.codes(flat)
            spill.append(blogger_of % spill.buckets, pairs)

        # occurrences_with_count[c]: how many occurrences belong to a (blogger, tag) pair used c times
        occurrences_with_count = np.zeros(1, dtype=np.int64)
        for bucket in range(spill.buckets):
            pairs = spill.read(bucket)
            if not len(pairs):
                spill.write_result(bucket, np.zeros(0, dtype=np.int64))
                continue
            _, inverse, per_pair = np.unique(pairs, return_inverse=True, return_counts=True)
            count = per_pair[inverse].astype(np.int64)
            spill.write_result(bucket, count)
            histogram = np.bincount(count)
            if len(histogram) > len(occurrences_with_count):
                occurrences_with_count = np.pad(occurrences_with_count,
                                                (0, len(histogram) - len(occurrences_with_count)))
            occurrences_with_count[:len(histogram)] += histogram
        total = int(occurrences_with_count.sum())
        used = np.flatnonzero(occurrences_with_count)
        mean = math.fsum(int(occurrences_with_count[c]) * float(c) ** -power for c in used) / total if total else 1.0

        stats = {"posts": 0, "occurrences": total, "weight_min": 0.0, "weight_max": 0.0}
        low, high = math.inf, -math.inf
        with spill.reader(np.int64) as counts:
            for batch in batches():
                tag_column = batch.column("tags")
                flat, parent = streaming.list_parts(tag_column)
                blogger_of = bloggers.codes(batch.column("blogger_id"))[parent]
                count = counts.take(blogger_of % spill.buckets)
                weights = ((count.astype(np.float64) ** -power) / mean).astype(np.float32)
                if len(weights):
                    low, high = min(low, float(weights.min())), max(high, float(weights.max()))
                lengths = pc.fill_null(pc.list_value_length(tag_column), 0).to_numpy(zero_copy_only=False)
                offsets = np.zeros(batch.num_rows + 1, dtype=np.int32)
                np.cumsum(lengths, out=offsets[1:])
                columns = {name: streaming.plain_strings(batch.column(name)) for name in batch.schema.names}
                columns["tags"] = streaming.plain_tags(tag_column)
                columns["weights"] = pa.ListArray.from_arrays(pa.array(offsets), pa.array(weights, pa.float32()))
                stats["posts"] += batch.num_rows
                write(pa.table(columns))
    if total:
        stats["weight_min"], stats["weight_max"] = low, high
    return stats
