"""Down-weight each blogger's habitual tags so one prolific blogger cannot skew co-occurrence.

Formula: if blogger ``b`` uses tag ``t`` in ``c(b, t)`` of their posts, each of those occurrences
gets the raw weight ``c(b, t) ** -p`` (``p`` = ``reweight.habit_power``, default 0.5). Blogger b's
total say about tag t then grows like ``c ** (1 - p)`` (sqrt of c at the default) instead of c:
a tag in 100 of one blogger's posts counts like 10 posts, not 100. Weights are then scaled so
their mean over all (kept) occurrences is 1, which keeps the trainer's learning rate meaningful.
With ``p = 0`` every weight is 1.

The stage reads small tables only: the window's tag counts of every blogger (``c(b, t)``, merged
from the partitions' summaries, one hash bucket of bloggers at a time) and the filter's kept tags
of each language. It writes the kept pairs with their counts, ``habit/bucket=NN.parquet``
(blogger_id, tag, count), and the mean raw weight in its manifest: the split's reader
(``topictensor.stages.split``) gives each occurrence its weight from them, and keeps only the
occurrences whose pair is there (that is the filter). The buckets run in a pool of
``ingest.bucket_workers`` processes (``topictensor.pools``); their counts are summed here. Memory: one
bucket of pairs per worker.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import PipelineConfig
from topictensor.pools import bucket_workers, map_buckets

STAGE = "reweight"
WEIGHTS_FIELD = pa.field("weights", pa.list_(pa.float32()))
HABIT_SCHEMA = pa.schema([("blogger_id", pa.string()), ("tag", pa.string()), ("count", pa.int64())])


def habit_file(bucket: int) -> str:
    return f"habit/bucket={bucket:02d}.parquet"


def reweight(filtered: Sequence[ArtifactRef | dict], window: ArtifactRef | dict, config: PipelineConfig) -> ArtifactRef:
    """The kept (blogger, tag) pairs of the window with their counts, and the weights' mean."""
    from topictensor.stages.filter import KEPT
    from topictensor.stages.normalize import PAIR_BUCKETS
    from topictensor.stages.window import habit_file as window_habit_file

    store = config.open_store()
    # By language (then key): the same corpus must give the same bytes whatever the keys.
    sources = sorted((Artifact(store, ref) for ref in filtered),
                     key=lambda a: (str(a.manifest.get("params", {}).get("lang", "")), a.ref.key))
    if not sources:
        raise ValueError("reweight needs at least one filtered language artifact")
    window_art = Artifact(store, window)
    power = config.reweight.habit_power

    def compute(ws: Workspace) -> StageResult:
        kept = {a.manifest["params"]["lang"]: a.read_table(KEPT).column("tag").combine_chunks() for a in sources}
        jobs = [BucketReweight(bucket=bucket, habit=str(window_art.path(window_habit_file(bucket))), kept=kept,
                               out=str(ws.path(habit_file(bucket)))) for bucket in range(PAIR_BUCKETS)]
        results = map_buckets(reweight_bucket, jobs, bucket_workers(config.ingest.bucket_workers, PAIR_BUCKETS),
                              label=lambda _, job: f"reweight: blogger bucket {job.bucket} "
                                                   f"({window_habit_file(job.bucket)} of the window)")
        # occurrences_with_count[c]: how many kept occurrences belong to a (blogger, tag) pair used c times
        occurrences_with_count = np.zeros(max(len(h) for h, _, _ in results), dtype=np.int64)
        for histogram, _, _ in results:
            occurrences_with_count[:len(histogram)] += histogram
        pairs = sum(n for _, n, _ in results)
        bloggers = sum(n for _, _, n in results)  # the buckets' bloggers are disjoint (a hash of blogger_id)
        total = int(occurrences_with_count.sum())
        used = np.flatnonzero(occurrences_with_count)
        mean = raw_mean(occurrences_with_count, power)
        low = float(used.max()) ** -power / mean if total else 0.0
        high = float(used.min()) ** -power / mean if total else 0.0
        return StageResult(
            counts={"occurrences": total, "pairs": pairs, "bloggers": bloggers, "languages": len(sources)},
            metrics={"weight_min": low, "weight_max": high},
            extra={"habit_power": power, "raw_mean": mean},
        )

    return run_stage(store, STAGE, code=code_version(__name__), params=config.reweight,
                     inputs={"filtered": [a.ref for a in sources], "window": window_art.ref}, compute=compute)


@dataclass(frozen=True)
class BucketReweight:
    """One blogger bucket's job: the window's habit file of the bucket (a local path), each
    language's kept tags, and the kept pairs' file to write."""
    bucket: int
    habit: str
    kept: dict[str, pa.Array]
    out: str


def reweight_bucket(job: BucketReweight) -> tuple[np.ndarray, int, int]:
    """Write one bucket's kept (blogger_id, tag, count) pairs in the window's order; returns the
    bucket's occurrences per count (index c: the kept occurrences of pairs used c times; at least
    one element), its pairs and its distinct bloggers."""
    habit = pq.read_table(job.habit)  # sorted by blogger_id, tag
    habit = habit.filter(pa.array(_kept_rows(habit, job.kept)))
    count = habit.column("posts").to_numpy().astype(np.int64)
    pq.write_table(pa.table({"blogger_id": habit.column("blogger_id"), "tag": habit.column("tag"),
                             "count": pa.array(count)}, schema=HABIT_SCHEMA), job.out)
    if not len(count):
        return np.zeros(1, dtype=np.int64), 0, 0
    histogram = np.bincount(count, weights=count).astype(np.int64)
    return histogram, len(count), len(pc.unique(habit.column("blogger_id")))


def _kept_rows(habit: pa.Table, kept: dict[str, pa.Array]) -> np.ndarray:
    """Mask of the (blogger, tag, lang) rows whose tag its language keeps; a mask keeps the window's
    order (a join would not). Decided once per distinct (lang, tag) of the table, then looked up."""
    if not habit.num_rows:
        return np.zeros(0, dtype=bool)
    tags = pc.dictionary_encode(habit.column("tag").combine_chunks())
    langs = pc.dictionary_encode(habit.column("lang").combine_chunks())
    decided = np.zeros((len(langs.dictionary), len(tags.dictionary)), dtype=bool)
    for row, lang in enumerate(langs.dictionary.to_pylist()):
        if lang in kept:
            decided[row] = np.asarray(pc.is_in(tags.dictionary, value_set=kept[lang]).to_numpy(zero_copy_only=False),
                                      dtype=bool)
    return decided[langs.indices.to_numpy(zero_copy_only=False), tags.indices.to_numpy(zero_copy_only=False)]


def raw_mean(occurrences_with_count: np.ndarray, power: float) -> float:
    """Mean raw weight ``c ** -power`` over occurrences, from how many occurrences have each count c."""
    total = int(occurrences_with_count.sum())
    used = np.flatnonzero(occurrences_with_count)
    return math.fsum(int(occurrences_with_count[c]) * float(c) ** -power for c in used) / total if total else 1.0


def pair_weights(counts: np.ndarray, power: float, mean: float) -> np.ndarray:
    """Each occurrence's weight from its pair's count: ``c ** -power / mean`` (float32)."""
    return ((np.asarray(counts, dtype=np.float64) ** -power) / mean).astype(np.float32)
