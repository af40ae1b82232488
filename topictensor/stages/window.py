"""Window: the normalised partitions of the training window + the bloggers snapshot -> the window's
small tables. It reads the partitions' summaries (``topictensor.stages.normalize``), never their
posts, so its cost grows with bloggers and distinct (blogger, tag) pairs, not with posts:

- ``bloggers.parquet``: every blogger of the snapshot with its language (the snapshot's, else the
  majority of its posts' stated languages, else the identifier's reading of the texts of its oldest
  partitions, else the fallback) and its window totals (posts, likes);
- ``stats/tags.parquet``: the number of posts and of distinct bloggers of every tag in every
  language (what the filter decides on);
- ``habit/bucket=NN.parquet``: each known blogger's tag counts over the window (blogger_id, tag,
  lang, posts), one file per ``PAIR_BUCKETS`` hash bucket of blogger_id (what reweight's habit
  weights and blogger_vectors are computed from); the buckets are merged in a pool of
  ``ingest.bucket_workers`` processes (``topictensor.pools``), their statistics summed here, so the
  files do not depend on the worker count;
- ``dropped.parquet``: the rows (partition, row) of older copies of post_ids that a newer
  partition holds again (``duplicate post_id (newer partition wins)``), found from the
  partitions' post_id hashes; their summary contributions are subtracted so the statistics count
  each post once (the posts of those few rows are read to subtract them).

The window's posts themselves are not rewritten: each partition is prepared on its own by the
``prepare`` stage (``topictensor.stages.prepare``) with these tables, and the filter and the habit
weights are applied when the training split is read (``topictensor.stages.split``).

Posts of bloggers missing from the snapshot (``blogger_id not among the valid bloggers``) and the
older copies are rejected; their rows are listed by each partition's prepare artifact. When they
exceed ``ingest.max_reject_share`` of the window's posts the stage fails, leaves the rejected rows
under ``rejects/<key>/`` (reading the partitions that hold them: the failure path) and writes no
artifact.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from topictensor import contract
from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, artifact_key, code_version, run_stage
from topictensor.config import PipelineConfig
from topictensor.pools import bucket_workers, map_buckets
from topictensor.stages import streaming
from topictensor.stages.normalize import (BLOGGERS_SCHEMA, PAIR_BUCKETS, PAIRS_SCHEMA, POSTS_PER_BLOGGER_FOR_DETECTION,
                                          SUMMARY_BLOGGERS, SUMMARY_POST_IDS, SUMMARY_TEXTS, SUMMARY_VOTES,
                                          assign_languages, pair_bucket, summary_pairs_file)
from topictensor.stages.streaming import BucketSpill

log = logging.getLogger(__name__)

STAGE = "window"
TAG_STATS = "stats/tags.parquet"
DROPPED = "dropped.parquet"
HABIT_SCHEMA = pa.schema([("blogger_id", pa.string()), ("tag", pa.string()), ("lang", pa.string()),
                          ("posts", pa.int64())])
_ID_RECORD = np.dtype([("hash", "<u8"), ("source", "<i8"), ("row", "<i8")])
ID_BUCKET_RECORDS = 10_000_000  # post_id hash records per bucket of the cross-partition duplicate check


def partition_order(artifacts: Sequence[Artifact]) -> list[Artifact]:
    """Oldest partition first (the unpartitioned table has no date and is alone)."""
    return sorted(artifacts, key=lambda a: (a.manifest.get("params", {}).get("dt") or "", a.ref.key))


def build_window(bloggers: ArtifactRef | dict, normalized: Sequence[ArtifactRef | dict],
                 config: PipelineConfig) -> ArtifactRef:
    store = config.open_store()
    snapshot = Artifact(store, bloggers)
    sources = partition_order([Artifact(store, ref) for ref in normalized])
    if not sources:
        raise ValueError("the window stage needs at least one normalised partition")
    nc = config.normalize
    params = {"detect_languages": nc.detect_languages, "fallback_language": nc.fallback_language,
              "max_reject_share": config.ingest.max_reject_share}
    code = code_version(__name__, "topictensor.stages.normalize", "topictensor.langid", "topictensor.stages.streaming",
                        "topictensor.vocabulary")
    inputs = {"bloggers": snapshot.ref, "partitions": [a.ref for a in sources]}
    key = artifact_key(STAGE, code, params, inputs)

    def compute(ws: Workspace) -> StageResult:
        return _window(store, snapshot, sources, config, ws, rejects_key=f"rejects/{key}/rejects.parquet")

    return run_stage(store, STAGE, code=code, params=params, inputs=inputs, compute=compute)


def _window(store, snapshot: Artifact, sources: list[Artifact], config: PipelineConfig, ws: Workspace, *,
            rejects_key: str) -> StageResult:
    from topictensor.stages.ingest import _check_reject_share

    people = snapshot.read_table("bloggers.parquet", columns=["blogger_id", "username", "followers", "lang"])
    known = pd.Index(np.asarray(people.column("blogger_id").to_numpy(), dtype=object))
    dropped = older_copies(sources)
    correction = _dropped_rows(sources, dropped)

    # Per-blogger totals and votes: the summaries' sums, minus the dropped copies.
    totals = _sum_by(
        [a.read_table(SUMMARY_BLOGGERS) for a in sources]
        + [pa.table({"blogger_id": correction.column("blogger_id"),
                     "posts": pa.array(np.full(correction.num_rows, -1, dtype=np.int64)),
                     "likes_total": pc.negate(correction.column("likes"))})],
        ["blogger_id"], ["posts", "likes_total"])
    vote_rows = correction.filter(pc.is_valid(correction.column("lang")))
    votes = _sum_by(
        [a.read_table(SUMMARY_VOTES) for a in sources]
        + [pa.table({"blogger_id": vote_rows.column("blogger_id"), "lang": vote_rows.column("lang"),
                     "n": pa.array(np.full(vote_rows.num_rows, -1, dtype=np.int64))})],
        ["blogger_id", "lang"], ["n"])
    votes = votes.filter(pc.greater(votes.column("n"), 0)).to_pandas()

    def votes_of(ids: pd.Series) -> pd.DataFrame:
        return votes[votes["blogger_id"].isin(set(ids))]

    def texts_of(ids: pd.Series) -> dict[str, list[str]]:
        wanted, texts = set(ids), {}
        for a in sources:  # oldest partition first: a blogger's first posts of the window
            table = a.read_table(SUMMARY_TEXTS)
            for blogger, text in zip(table.column("blogger_id").to_pylist(), table.column("text").to_pylist()):
                if blogger in wanted:
                    got = texts.setdefault(blogger, [])
                    if len(got) < POSTS_PER_BLOGGER_FOR_DETECTION:
                        got.append(text)
        return texts

    languages = assign_languages(people, votes_of, texts_of, config.normalize)
    lang_of_blogger = pa.array(languages["lang"].to_numpy(dtype=object), type=pa.string())
    found = totals.to_pandas().set_index("blogger_id").reindex(known)
    out_bloggers = pa.table({
        "blogger_id": people.column("blogger_id"),
        "username": people.column("username"),
        "followers": people.column("followers"),
        "lang": lang_of_blogger,
        "lang_source": pa.array(languages["source"].to_numpy(dtype=object), type=pa.string()),
        "lang_confidence": pa.array(languages["confidence"].to_numpy(dtype=np.float64)),
        "posts": pa.array(found["posts"].fillna(0).to_numpy(dtype=np.int64)),
        "likes_total": pa.array(found["likes_total"].fillna(0).to_numpy(dtype=np.int64)),
    }, schema=BLOGGERS_SCHEMA)
    pq.write_table(out_bloggers, ws.path("bloggers.parquet"))

    dropped_table = pa.table({
        "partition": pa.array([sources[i].ref.key for i, rows in sorted(dropped.items()) for _ in rows], pa.string()),
        "row": pa.array(np.concatenate([rows for _, rows in sorted(dropped.items())]) if dropped
                        else np.zeros(0, dtype=np.int64), pa.int64())})
    pq.write_table(dropped_table, ws.path(DROPPED))
    tag_stats, n_pairs = _tag_stats(sources, correction, pa.table({"blogger_id": people.column("blogger_id"),
                                                                   "lang": lang_of_blogger}), ws,
                                    workers=bucket_workers(config.ingest.bucket_workers, PAIR_BUCKETS))
    _write_by_language(tag_stats, ws.path(TAG_STATS))

    # Post counts from the summaries: every partition's posts, less the older copies, less the posts of
    # bloggers missing from the snapshot (their rows are listed by the partitions' prepare artifacts).
    posts_in = sum(int(a.manifest.get("counts", {}).get("posts", 0)) for a in sources)
    n_duplicate = dropped_table.num_rows
    all_totals = totals.to_pandas()
    unknown = ~all_totals["blogger_id"].isin(set(known))
    n_unknown = int(all_totals.loc[unknown, "posts"].sum())
    n_rejected = n_unknown + n_duplicate
    share = config.ingest.max_reject_share
    if posts_in and n_rejected / posts_in > share:  # the failure path: list the rows for the operator
        rejected = _rejected_rows(sources, dropped, set(all_totals.loc[unknown, "blogger_id"]))
        _check_reject_share(store, rejected, posts_in, share, rejects_key, f"window of {len(sources)} partitions")
    reasons = Counter({contract.REASON_UNKNOWN_BLOGGER: n_unknown,
                       contract.REASON_DUPLICATE_ACROSS_PARTITIONS: n_duplicate})
    reasons = Counter({k: v for k, v in reasons.items() if v})
    for reason, n in reasons.most_common():
        log.warning("window: rejected %d posts: %s", n, reason)

    posts_of = pd.Series(out_bloggers.column("posts").to_numpy(), index=languages["lang"].to_numpy())
    posts_by_lang = Counter({str(k): int(v) for k, v in posts_of.groupby(level=0).sum().items() if v > 0})
    bloggers_by_lang = languages["lang"].value_counts()
    ordered = sorted(set(posts_by_lang) | set(bloggers_by_lang.index),
                     key=lambda lang: (-int(posts_by_lang.get(lang, 0)), lang))
    for lang in ordered:
        log.info("window: language %s: %d bloggers, %d posts", lang, int(bloggers_by_lang.get(lang, 0)),
                 int(posts_by_lang.get(lang, 0)))
    source_counts = languages["source"].value_counts()
    counts = {
        "posts_in": posts_in,
        "posts_out": posts_in - n_rejected,
        "bloggers": out_bloggers.num_rows,
        "partitions": len(sources),
        "rejected": n_rejected,
        "posts_unknown_blogger": n_unknown,
        "posts_duplicate_across_partitions": n_duplicate,
        "bloggers_detected": int(source_counts.get("detected", 0)),
        "bloggers_fallback": int(source_counts.get("fallback", 0)),
        "pairs": n_pairs,
    }
    counts.update({f"bloggers_{lang}": int(n) for lang, n in bloggers_by_lang.items()})
    extra = {
        "languages": [lang for lang in ordered if posts_by_lang.get(lang, 0) > 0],
        "posts_by_language": {lang: int(posts_by_lang.get(lang, 0)) for lang in ordered},
        "lang_sources": {str(k): int(v) for k, v in source_counts.items()},
        "partitions": [a.manifest.get("params", {}).get("dt") for a in sources],
        "reject_reasons": dict(reasons.most_common()),
    }
    return StageResult(counts=counts, extra=extra)


def _write_by_language(stats: pa.Table, path) -> None:
    """The tag statistics (sorted by lang, tag), one row group per language, so that a filter task
    reading its language (``tag_stats_for``) skips the others' row groups by their statistics."""
    langs = stats.column("lang").to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(np.r_[True, langs[1:] != langs[:-1]]) if len(langs) else np.zeros(0, dtype=np.int64)
    with pq.ParquetWriter(path, stats.schema) as writer:
        if not len(starts):
            writer.write_table(stats)
        for start, end in zip(starts, np.r_[starts[1:], len(langs)]):
            writer.write_table(stats.slice(int(start), int(end - start)))


def habit_file(bucket: int) -> str:
    """The window's (blogger_id, tag, lang, posts) of the bloggers of one hash bucket."""
    return f"habit/bucket={bucket:02d}.parquet"


def dropped_rows_of(window: Artifact, partition_key: str) -> np.ndarray:
    """Sorted rows of one normalised partition that the window drops as older copies."""
    table = pq.read_table(window.path(DROPPED), filters=[("partition", "=", partition_key)])
    return np.sort(table.column("row").to_numpy().astype(np.int64))


def _rejected_rows(sources: list[Artifact], dropped: dict[int, np.ndarray], unknown: set) -> list[dict[str, Any]]:
    """The rejected posts' rows (only when the window fails for too many of them)."""
    rejects: list[dict[str, Any]] = []
    wanted = pa.array(sorted(unknown), pa.string())
    for index, source in enumerate(sources):
        table = pq.read_table(source.path("posts.parquet"))
        drop = np.zeros(table.num_rows, dtype=bool)
        drop[dropped.get(index, np.zeros(0, dtype=np.int64))] = True
        missing = np.asarray(pc.is_in(table.column("blogger_id"), value_set=wanted).to_numpy(zero_copy_only=False),
                             dtype=bool)
        for mask, reason in ((missing, contract.REASON_UNKNOWN_BLOGGER),
                             (drop & ~missing, contract.REASON_DUPLICATE_ACROSS_PARTITIONS)):
            if mask.any():
                rejects.extend(rejects_of(table.filter(pa.array(mask)), reason))
    return rejects


def _sum_by(tables: list[pa.Table], keys: list[str], values: list[str]) -> pa.Table:
    tables = [t.select(keys + values).cast(tables[0].select(keys + values).schema) for t in tables]
    merged = pa.concat_tables(tables).group_by(keys).aggregate([(v, "sum") for v in values])
    return merged.rename_columns([n.removesuffix("_sum") for n in merged.column_names])


def older_copies(sources: list[Artifact]) -> dict[int, np.ndarray]:
    """Rows (sorted, per source index) whose post_id a newer partition of ``sources`` holds again."""
    if len(sources) < 2:
        return {}
    total = sum(pq.ParquetFile(a.path(SUMMARY_POST_IDS)).metadata.num_rows for a in sources)
    with BucketSpill(streaming.bucket_count(total, ID_BUCKET_RECORDS), _ID_RECORD, name="window-ids") as spill:
        for index, source in enumerate(sources):  # the summaries' post_id hashes, not the posts
            row = 0
            for batch in streaming.parquet_batches(source.path(SUMMARY_POST_IDS))():
                records = np.empty(batch.num_rows, dtype=_ID_RECORD)
                records["hash"] = batch.column("hash").to_numpy()
                records["source"] = index
                records["row"] = np.arange(row, row + batch.num_rows)
                row += batch.num_rows
                spill.append((records["hash"] % np.uint64(spill.buckets)).astype(np.int64), records)
        suspects = streaming.repeated_hash_records(spill)
    if not suspects:
        return {}
    suspects = np.concatenate(suspects)
    # Exact comparison of the suspects' post_ids (hash collisions are not duplicates).
    ids = np.empty(len(suspects), dtype=object)
    for index, source in enumerate(sources):
        mine = np.flatnonzero(suspects["source"] == index)
        if len(mine):
            column = pq.read_table(source.path("posts.parquet"), columns=["post_id"]).column("post_id")
            ids[mine] = column.take(pa.array(suspects["row"][mine])).to_pylist()
    frame = pd.DataFrame({"post_id": ids, "source": suspects["source"], "row": suspects["row"]})
    newest = frame.groupby("post_id")["source"].transform("max")
    older = frame[frame["source"] < newest]
    return {int(s): np.sort(g["row"].to_numpy(dtype=np.int64)) for s, g in older.groupby("source")}


def _dropped_rows(sources: list[Artifact], dropped: dict[int, np.ndarray]) -> pa.Table:
    """blogger_id, tags, likes, lang of the dropped older copies (to subtract from the summaries)."""
    parts = []
    for index, rows in dropped.items():
        table = pq.read_table(sources[index].path("posts.parquet"), columns=["blogger_id", "tags", "likes", "lang"])
        parts.append(table.take(pa.array(rows)))
    if not parts:
        return pa.table({"blogger_id": pa.array([], pa.string()), "tags": pa.array([], pa.list_(pa.string())),
                         "likes": pa.array([], pa.int64()), "lang": pa.array([], pa.string())})
    return pa.concat_tables(parts)


def _tag_stats(sources: list[Artifact], correction: pa.Table, blogger_lang: pa.Table, ws: Workspace,
               workers: int = 1) -> pa.Table:
    """(lang, tag, posts, bloggers) over the window, merged one pair bucket of all partitions at a time
    (``merge_bucket``, the buckets in a pool of ``workers`` processes); each bucket's merged pairs (the
    bloggers' tag counts) are written as ``habit_file(bucket)``. The buckets' statistics are summed here.
    Returns the statistics and the number of pairs written."""
    flat, parent = streaming.list_parts(correction.column("tags"))
    minus = pa.table({"blogger_id": correction.column("blogger_id").take(pa.array(parent)), "tag": flat,
                      "posts": pa.array(np.full(len(flat), -1, dtype=np.int64))}, schema=PAIRS_SCHEMA)
    minus_bucket = pair_bucket(minus.column("blogger_id")) if minus.num_rows else np.zeros(0, dtype=np.int64)
    people = pa.table({"blogger_id": blogger_lang.column("blogger_id").combine_chunks(),
                       "lang": blogger_lang.column("lang").combine_chunks()})
    people_bucket = pair_bucket(people.column("blogger_id")) if people.num_rows else np.zeros(0, dtype=np.int64)
    jobs = []
    for bucket in range(PAIR_BUCKETS):
        name = summary_pairs_file(bucket)
        jobs.append(BucketMerge(
            bucket=bucket, pair_files=[str(a.path(name)) for a in sources if name in a.files],
            minus=minus.filter(pa.array(minus_bucket == bucket)) if minus.num_rows else None,
            people=people.filter(pa.array(people_bucket == bucket)), out=str(ws.path(habit_file(bucket)))))
    results = map_buckets(merge_bucket, jobs, workers,
                          label=lambda _, job: f"window: pair bucket {job.bucket} ({summary_pairs_file(job.bucket)} "
                                               f"of {len(job.pair_files)} partitions)")
    per_bucket = [stats for stats, _ in results if stats is not None]
    pairs = sum(n for _, n in results)
    if not per_bucket:
        return pa.table({"lang": pa.array([], pa.string()), "tag": pa.array([], pa.string()),
                         "posts": pa.array([], pa.int64()), "bloggers": pa.array([], pa.int64())}), pairs
    stats = pa.concat_tables(per_bucket).group_by(["lang", "tag"]).aggregate(
        [("posts_sum_sum", "sum"), ("blogger_id_count", "sum")])
    stats = stats.rename_columns(["lang", "tag", "posts", "bloggers"]).select(["lang", "tag", "posts", "bloggers"])
    return stats.sort_by([("lang", "ascending"), ("tag", "ascending")]), pairs


@dataclass(frozen=True)
class BucketMerge:
    """One pair bucket's job: the partitions' pair summary files of the bucket (local paths, oldest
    partition first), the dropped copies' pairs to subtract (posts -1), the snapshot's bloggers of
    the bucket with their window languages, and the habit file to write."""
    bucket: int
    pair_files: list[str]
    minus: pa.Table | None
    people: pa.Table
    out: str


def merge_bucket(job: BucketMerge) -> tuple[pa.Table | None, int]:
    """Merge one bucket's pairs and write its habit file; returns the bucket's (lang, tag,
    posts_sum_sum, blogger_id_count) statistics (None when the bucket has no pairs) and its pairs.

    A bucket's pairs are merged on int64 keys (the rank of the blogger_id among the bucket's
    bloggers << 32 | the rank of the tag), so one numpy sort both sums each pair and gives the
    (blogger_id, tag) order the file is written in; no string sort, no hash group-by of the pairs."""
    parts = [pq.read_table(path) for path in job.pair_files]
    if job.minus is not None and job.minus.num_rows:
        parts.append(job.minus)
    if not parts:
        pq.write_table(HABIT_SCHEMA.empty_table(), job.out)
        return None, 0
    pairs = pa.concat_tables(parts)
    lang_code, lang_names = pd.factorize(pd.Series(job.people.column("lang").to_numpy(zero_copy_only=False),
                                                   dtype=object))
    lang_names = pa.array(np.asarray(lang_names, dtype=object), pa.string())
    blogger_rank, bloggers = _ranks(pairs.column("blogger_id"))
    tag_rank, tags = _ranks(pairs.column("tag"))
    keys, inverse = np.unique((blogger_rank << 32) | tag_rank, return_inverse=True)
    posts = np.bincount(inverse, weights=pairs.column("posts").to_numpy(), minlength=len(keys))
    posts = np.rint(posts).astype(np.int64)  # sums of int64 counts, exact below 2**53
    # each blogger's row among the bucket's snapshot bloggers, -1 for one the snapshot lacks (its pairs are dropped)
    known = job.people.column("blogger_id")
    where = pc.fill_null(pc.index_in(bloggers, value_set=known), -1).to_numpy().astype(np.int64)
    pair_blogger = (keys >> 32).astype(np.int64)
    keep = (posts > 0) & (where[pair_blogger] >= 0)
    keys, posts, pair_blogger = keys[keep], posts[keep], pair_blogger[keep]
    pair_tag = (keys & 0xFFFFFFFF).astype(np.int64)
    pair_lang = lang_code[where[pair_blogger]]
    habit = pa.table({"blogger_id": bloggers.take(pa.array(pair_blogger)), "tag": tags.take(pa.array(pair_tag)),
                      "lang": lang_names.take(pa.array(pair_lang)), "posts": pa.array(posts)}, schema=HABIT_SCHEMA)
    pq.write_table(habit, job.out)
    stat_keys, stat_of = np.unique((pair_lang.astype(np.int64) << 32) | pair_tag, return_inverse=True)
    stats = pa.table({
        "lang": lang_names.take(pa.array((stat_keys >> 32).astype(np.int64))),
        "tag": tags.take(pa.array((stat_keys & 0xFFFFFFFF).astype(np.int64))),
        "posts_sum_sum": pa.array(np.bincount(stat_of, weights=posts, minlength=len(stat_keys)).round()
                                  .astype(np.int64)),
        "blogger_id_count": pa.array(np.bincount(stat_of, minlength=len(stat_keys)).astype(np.int64))})
    return stats, habit.num_rows


def _ranks(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, pa.Array]:
    """(each value's rank among the distinct values, the distinct values in sorted order)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    encoded = pc.dictionary_encode(column)
    order = pc.sort_indices(encoded.dictionary).to_numpy()
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    return rank[encoded.indices.to_numpy(zero_copy_only=False)], encoded.dictionary.take(pa.array(order))


def rejects_of(table: pa.Table, reason: str) -> list[dict[str, Any]]:
    out = []
    for row in table.to_pylist():
        source_file, source_row = row.pop("source_file"), row.pop("source_row")
        out.append({"source_file": source_file, "source_row": source_row, "reason": reason,
                    "record": contract.record_text(row)})
    return out


def tag_stats_for(window: Artifact, lang: str) -> pa.Table | None:
    """The window's (tag, posts, bloggers) of one language, or None for an artifact without them."""
    if TAG_STATS not in window.files:
        return None
    table = pq.read_table(window.path(TAG_STATS), filters=[("lang", "=", lang)])
    return table.select(["tag", "posts", "bloggers"])
