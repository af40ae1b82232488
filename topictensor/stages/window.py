"""Window: the normalised partitions of the training window + the bloggers snapshot -> the window's
posts, one file per language, bloggers with a language, and per-language tag statistics.

Window-wide statistics come from the partitions' summaries (``topictensor.stages.normalize``),
never from their posts: per-blogger post and like totals and language votes are summed, the
identifier's texts are the first ones of the blogger's oldest partitions, and the (blogger, tag)
pair counts are merged one hash bucket of all partitions at a time, giving the number of posts
and of distinct bloggers of every tag in every language (``stats/tags.parquet``, which the filter
stage reads instead of counting). Memory: one bucket of pairs and the bloggers table.

The posts are then streamed once, partition by partition, into ``posts/lang=<lang>/part-0.parquet``
(the blogger's language on every post), dropping and rejecting:

- posts of bloggers missing from the snapshot (``blogger_id not among the valid bloggers``);
- older copies of a post_id that a newer partition holds again (``duplicate post_id (newer
  partition wins)``): found by a spill of post_id hashes, their summary contributions subtracted
  so the statistics count each post once.

When rejects exceed ``ingest.max_reject_share`` of the window's posts the stage fails, leaves its
rejects under ``rejects/<key>/`` and writes no artifact.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from topictensor import contract
from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, artifact_key, code_version, run_stage
from topictensor.config import PipelineConfig
from topictensor.stages import streaming
from topictensor.stages.normalize import (BLOGGERS_SCHEMA, PAIR_BUCKETS, PAIRS_SCHEMA, POSTS_PER_BLOGGER_FOR_DETECTION,
                                          POSTS_SCHEMA, SUMMARY_BLOGGERS, SUMMARY_TEXTS, SUMMARY_VOTES,
                                          assign_languages, language_posts_file, pair_bucket, summary_pairs_file)
from topictensor.stages.streaming import BucketSpill, LanguageWriters, Vocabulary

log = logging.getLogger(__name__)

STAGE = "window"
TAG_STATS = "stats/tags.parquet"
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

    tag_stats = _tag_stats(sources, correction, pa.table({"blogger_id": people.column("blogger_id"),
                                                          "lang": lang_of_blogger}))
    pq.write_table(tag_stats, ws.path(TAG_STATS))

    rejects: list[dict[str, Any]] = []
    posts_in = 0
    posts_by_lang: Counter = Counter()
    positions = Vocabulary(people.column("blogger_id").combine_chunks())
    n_known = people.num_rows
    writers = LanguageWriters(lambda lang: ws.path(language_posts_file(lang)), POSTS_SCHEMA)
    try:
        for index, source in enumerate(sources):
            drop_rows = dropped.get(index, np.zeros(0, dtype=np.int64))
            offset = 0
            for batch in streaming.parquet_batches(source.path("posts.parquet"))():
                table = pa.Table.from_batches([batch])
                posts_in += table.num_rows
                position = positions.codes(table.column("blogger_id"))
                keep = position < n_known
                lo, hi = np.searchsorted(drop_rows, [offset, offset + table.num_rows])
                duplicate = np.zeros(table.num_rows, dtype=bool)
                duplicate[drop_rows[lo:hi] - offset] = True
                offset += table.num_rows
                for mask, reason in ((~keep, contract.REASON_UNKNOWN_BLOGGER),
                                     (keep & duplicate, contract.REASON_DUPLICATE_ACROSS_PARTITIONS)):
                    if mask.any():
                        rejects.extend(_rejects(table.filter(pa.array(mask)), reason))
                keep &= ~duplicate
                if not keep.any():
                    continue
                kept = table.filter(pa.array(keep))
                langs = lang_of_blogger.take(pa.array(position[keep]))
                out = pa.table({"post_id": kept.column("post_id"), "blogger_id": kept.column("blogger_id"),
                                "created_at": kept.column("created_at"), "tags": kept.column("tags"),
                                "likes": kept.column("likes"), "lang": langs}, schema=POSTS_SCHEMA)
                for lang in pc.unique(langs).to_pylist():
                    part = out.filter(pc.equal(langs, lang))
                    writers.write(lang, part)
                    posts_by_lang[lang] += part.num_rows
    finally:
        writers.close()
    _check_reject_share(store, rejects, posts_in, config.ingest.max_reject_share, rejects_key,
                        f"window of {len(sources)} partitions")
    pq.write_table(contract.rejects_table(rejects), ws.path("rejects.parquet"))
    reasons = Counter(r["reason"] for r in rejects)
    for reason, n in reasons.most_common():
        log.warning("window: rejected %d posts: %s", n, reason)

    bloggers_by_lang = languages["lang"].value_counts()
    ordered = sorted(set(posts_by_lang) | set(bloggers_by_lang.index),
                     key=lambda lang: (-int(posts_by_lang.get(lang, 0)), lang))
    for lang in ordered:
        log.info("window: language %s: %d bloggers, %d posts", lang, int(bloggers_by_lang.get(lang, 0)),
                 int(posts_by_lang.get(lang, 0)))
    source_counts = languages["source"].value_counts()
    counts = {
        "posts_in": posts_in,
        "posts_out": sum(posts_by_lang.values()),
        "bloggers": out_bloggers.num_rows,
        "partitions": len(sources),
        "rejected": len(rejects),
        "posts_unknown_blogger": reasons.get(contract.REASON_UNKNOWN_BLOGGER, 0),
        "posts_duplicate_across_partitions": reasons.get(contract.REASON_DUPLICATE_ACROSS_PARTITIONS, 0),
        "bloggers_detected": int(source_counts.get("detected", 0)),
        "bloggers_fallback": int(source_counts.get("fallback", 0)),
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


def _sum_by(tables: list[pa.Table], keys: list[str], values: list[str]) -> pa.Table:
    tables = [t.select(keys + values).cast(tables[0].select(keys + values).schema) for t in tables]
    merged = pa.concat_tables(tables).group_by(keys).aggregate([(v, "sum") for v in values])
    return merged.rename_columns([n.removesuffix("_sum") for n in merged.column_names])


def older_copies(sources: list[Artifact]) -> dict[int, np.ndarray]:
    """Rows (sorted, per source index) whose post_id a newer partition of ``sources`` holds again."""
    if len(sources) < 2:
        return {}
    from topictensor.stages.ingest import post_id_hashes

    total = sum(pq.ParquetFile(a.path("posts.parquet")).metadata.num_rows for a in sources)
    with BucketSpill(streaming.bucket_count(total, ID_BUCKET_RECORDS), _ID_RECORD, name="window-ids") as spill:
        for index, source in enumerate(sources):
            row = 0
            for batch in streaming.parquet_batches(source.path("posts.parquet"), ["post_id"])():
                records = np.empty(batch.num_rows, dtype=_ID_RECORD)
                records["hash"] = post_id_hashes(batch.column("post_id"))
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


def _tag_stats(sources: list[Artifact], correction: pa.Table, blogger_lang: pa.Table) -> pa.Table:
    """(lang, tag, posts, bloggers) over the window, merged one pair bucket of all partitions at a time."""
    flat, parent = streaming.list_parts(correction.column("tags"))
    minus = pa.table({"blogger_id": correction.column("blogger_id").take(pa.array(parent)), "tag": flat,
                      "posts": pa.array(np.full(len(flat), -1, dtype=np.int64))}, schema=PAIRS_SCHEMA)
    minus_bucket = pair_bucket(minus.column("blogger_id")) if minus.num_rows else np.zeros(0, dtype=np.int64)
    known = blogger_lang.column("blogger_id")
    per_bucket = []
    for bucket in range(PAIR_BUCKETS):
        name = summary_pairs_file(bucket)
        parts = [a.read_table(name) for a in sources if name in a.files]
        if minus.num_rows:
            parts.append(minus.filter(pa.array(minus_bucket == bucket)))
        if not parts:
            continue
        pairs = pa.concat_tables(parts).group_by(["blogger_id", "tag"]).aggregate([("posts", "sum")])
        pairs = pairs.filter(pc.and_(pc.greater(pairs.column("posts_sum"), 0),
                                     pc.is_in(pairs.column("blogger_id"), value_set=known)))
        pairs = pairs.join(blogger_lang, "blogger_id")
        per_bucket.append(pairs.group_by(["lang", "tag"]).aggregate([("posts_sum", "sum"), ("blogger_id", "count")]))
    if not per_bucket:
        return pa.table({"lang": pa.array([], pa.string()), "tag": pa.array([], pa.string()),
                         "posts": pa.array([], pa.int64()), "bloggers": pa.array([], pa.int64())})
    stats = pa.concat_tables(per_bucket).group_by(["lang", "tag"]).aggregate(
        [("posts_sum_sum", "sum"), ("blogger_id_count", "sum")])
    stats = stats.rename_columns(["lang", "tag", "posts", "bloggers"]).select(["lang", "tag", "posts", "bloggers"])
    return stats.sort_by([("lang", "ascending"), ("tag", "ascending")])


def _rejects(table: pa.Table, reason: str) -> list[dict[str, Any]]:
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
