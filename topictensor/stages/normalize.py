"""Normalize: one ingested partition -> canonical tags per post, plus the partition's small summary.

Tags go through ``topictensor.tags`` (the same rule the query side uses), so a theme typed as
``#Café`` finds the tag ``cafe`` that training saw. Posts left without a valid tag are dropped.

Language is a property of the blogger, not of a post, and is decided over the whole window by the
window stage (``topictensor.stages.window``): the bloggers snapshot's ``lang``, else the majority
``lang`` of their posts in the window, else what the identifier reads in their captions and tags,
else ``normalize.fallback_language``. So that the window never re-reads old partitions' posts for
it, this stage writes, next to ``posts.parquet``, a summary of the partition (``summary/``):

- ``bloggers.parquet``: blogger_id, posts, likes_total (kept posts);
- ``votes.parquet``: blogger_id, lang, n (kept posts stating a lang);
- ``texts.parquet``: blogger_id, text: the first ``POSTS_PER_BLOGGER_FOR_DETECTION`` captions
  and tags of each blogger none of whose posts here states a lang (the identifier's input);
- ``pairs/bucket=NN.parquet``: blogger_id, tag, posts (how many of the blogger's posts here use the
  tag), split into ``PAIR_BUCKETS`` files by a stable hash of blogger_id so the window merges
  them bucket by bucket: distinct bloggers per tag and language, and the habit counts;
- ``post_ids.parquet``: the 64-bit hash of every kept post's post_id, in row order (8 bytes a
  post), so the window finds post_ids repeated across partitions without reading their posts.

Posts are streamed in batches (see ``topictensor.stages.streaming``); every tag use's (blogger,
tag) pair goes through a disk spill and is counted one spill bucket at a time; what is held at the
end is the partition's summary itself (its distinct pairs, sorted for stable bytes), not its posts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import NormalizeConfig, PipelineConfig
from topictensor.contract.schema import RAW_POSTS_SCHEMA
from topictensor.langid import LanguageIdentifier, identifier_for
from topictensor.stages import streaming
from topictensor.stages.ingest import post_id_hashes
from topictensor.stages.streaming import TAG_BITS, BucketSpill, ReadColumns, Vocabulary
from topictensor.tags import normalize_tag_column

log = logging.getLogger(__name__)

STAGE = "normalize"
POSTS_PER_BLOGGER_FOR_DETECTION = 20  # enough text to be sure; the identifier caps the length anyway
PAIR_BUCKETS = 16  # summary pair files per partition; the window merges one bucket of all partitions at a time

# The window's posts (what filter reads): the raw posts' columns but the caption; lang is the blogger's language.
POSTS_SCHEMA = RAW_POSTS_SCHEMA.remove(RAW_POSTS_SCHEMA.get_field_index("caption"))
# One partition's normalised posts: the post's own stated lang (a vote), not yet the blogger's, and
# where each row came from (the window resolves duplicates across partitions by it).
PARTITION_POSTS_SCHEMA = POSTS_SCHEMA.append(pa.field("source_file", pa.string())).append(
    pa.field("source_row", pa.int64()))
BLOGGERS_SCHEMA = pa.schema([
    ("blogger_id", pa.string()),
    ("username", pa.string()),
    ("followers", pa.int64()),
    ("lang", pa.string()),
    ("lang_source", pa.string()),
    ("lang_confidence", pa.float64()),
    ("posts", pa.int64()),
    ("likes_total", pa.int64()),
])
SUMMARY_BLOGGERS = "summary/bloggers.parquet"
SUMMARY_VOTES = "summary/votes.parquet"
SUMMARY_TEXTS = "summary/texts.parquet"
SUMMARY_POST_IDS = "summary/post_ids.parquet"
PAIRS_SCHEMA = pa.schema([("blogger_id", pa.string()), ("tag", pa.string()), ("posts", pa.int64())])


def summary_pairs_file(bucket: int) -> str:
    return f"summary/pairs/bucket={bucket:02d}.parquet"


def pair_bucket(blogger_ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Stable bucket of each blogger_id (the same in every partition, process and run)."""
    if isinstance(blogger_ids, pa.ChunkedArray):
        blogger_ids = blogger_ids.combine_chunks()
    ids = np.asarray(streaming.plain_strings(blogger_ids).to_numpy(zero_copy_only=False), dtype=object)
    return (pd.util.hash_array(ids) % np.uint64(PAIR_BUCKETS)).astype(np.int64)


def normalize_partition(raw: ArtifactRef | dict, config: PipelineConfig) -> ArtifactRef:
    """One ingest partition -> normalised posts (non-empty tag lists) and its summary."""
    store = config.open_store()
    source = Artifact(store, raw)
    dt = source.manifest.get("params", {}).get("dt")

    def compute(ws: Workspace) -> StageResult:
        path = source.path("posts.parquet")
        with pq.ParquetWriter(ws.path("posts.parquet"), PARTITION_POSTS_SCHEMA, **streaming.WRITE_OPTIONS) as writer:
            summary, counts = normalize_batches(
                lambda columns: streaming.parquet_batches(path, columns, dictionary=("blogger_id", "tags"))(),
                config.normalize, writer.write_table, occurrences=streaming.parquet_values(path, "tags"))
        write_summary(summary, ws.path)
        log.info("normalize[%s]: %d posts of %d bloggers, %d tag uses", dt or "all", counts["posts"],
                 counts["bloggers"], counts["tags_out"])
        return StageResult(counts=counts, extra={"dt": dt})

    return run_stage(store, STAGE, code=_code(), params=_params(dt, config), inputs={"raw": source.ref},
                     compute=compute)


def _code() -> str:
    return code_version(__name__, "topictensor.tags", "topictensor.stages.streaming", "topictensor.vocabulary")


def _params(dt: str | None, config: PipelineConfig) -> dict[str, Any]:
    return {"dt": dt, "max_tag_length": config.normalize.max_tag_length}


def partition_key(ingest_key: str, dt: str | None, config: PipelineConfig) -> str:
    """The key ``normalize_partition`` gives the partition ingested as ``ingest/<ingest_key>``."""
    from topictensor.artifacts import artifact_key

    return artifact_key(STAGE, _code(), _params(dt, config), {"raw": ArtifactRef(stage="ingest", key=ingest_key)})


def write_summary(summary: dict[str, Any], path_of: Callable[[str], Any]) -> None:
    pq.write_table(summary["bloggers"], path_of(SUMMARY_BLOGGERS))
    pq.write_table(summary["votes"], path_of(SUMMARY_VOTES))
    pq.write_table(summary["texts"], path_of(SUMMARY_TEXTS))
    pq.write_table(summary["post_ids"], path_of(SUMMARY_POST_IDS))
    for bucket, table in summary["pairs"].items():
        pq.write_table(table, path_of(summary_pairs_file(bucket)))


def normalize_batches(read: ReadColumns, params: NormalizeConfig, write: Callable[[pa.Table], None], *,
                      occurrences: int) -> tuple[dict[str, Any], dict[str, int]]:
    """The stage over ingested posts streamed by ``read(columns)`` (callable again for each pass):
    normalised posts of each batch go to ``write`` in input order; returns (summary, counts).
    ``occurrences`` (raw tag uses) sizes the pair spill."""
    bloggers = Vocabulary()
    post_counts = np.zeros(0, dtype=np.int64)
    likes_total = np.zeros(0, dtype=np.int64)
    tags_vocab = Vocabulary()
    vote_parts: list[pa.Table] = []
    id_hashes: list[np.ndarray] = []
    tag_counts = {"tags_in": 0, "tags_out": 0, "tags_invalid": 0, "tags_duplicate": 0}
    kept = dropped = 0
    with BucketSpill(streaming.bucket_count(occurrences), np.int64, name="normalize-pairs") as spill:
        for batch in read(list(PARTITION_POSTS_SCHEMA.names)):
            tags = batch.column("tags")
            norm = normalize_tag_column(streaming.plain_tags(tags) if tags.null_count else tags, params.max_tag_length)
            for name in tag_counts:
                tag_counts[name] += getattr(norm, name)
            has_tags = pc.greater(pc.list_value_length(norm.tags), 0)
            out = pa.table({
                "post_id": streaming.plain_strings(batch.column("post_id")),
                "blogger_id": streaming.plain_strings(batch.column("blogger_id")),
                "created_at": batch.column("created_at"),
                "tags": norm.tags,
                "likes": batch.column("likes"),
                "lang": streaming.plain_strings(batch.column("lang")),
                "source_file": streaming.plain_strings(batch.column("source_file")),
                "source_row": batch.column("source_row"),
            }, schema=PARTITION_POSTS_SCHEMA).filter(has_tags)
            dropped += batch.num_rows - out.num_rows
            kept += out.num_rows
            if not out.num_rows:
                continue
            id_hashes.append(post_id_hashes(out.column("post_id")))
            code = bloggers.codes(out.column("blogger_id"))
            if len(post_counts) < len(bloggers):
                grow = len(bloggers) - len(post_counts)
                post_counts = np.concatenate([post_counts, np.zeros(grow, dtype=np.int64)])
                likes_total = np.concatenate([likes_total, np.zeros(grow, dtype=np.int64)])
            np.add.at(post_counts, code, 1)
            np.add.at(likes_total, code, np.asarray(out.column("likes").to_numpy(), dtype=np.int64))
            stated = out.select(["blogger_id", "lang"]).filter(pc.is_valid(out.column("lang")))
            if stated.num_rows:
                vote_parts.append(stated.group_by(["blogger_id", "lang"]).aggregate([("lang", "count")]))
            flat, parent = streaming.list_parts(out.column("tags"))
            pairs = (code[parent] << TAG_BITS) | tags_vocab.codes(flat)  # tags are distinct within a post
            spill.append(code[parent] % spill.buckets, pairs)
            write(out)

        ids = bloggers.values()
        bucket_of_blogger = pair_bucket(ids) if len(ids) else np.zeros(0, dtype=np.int64)
        tag_values = tags_vocab.values()
        pair_parts: dict[int, list[pa.Table]] = {}
        for bucket in range(spill.buckets):
            codes = spill.read(bucket)
            if not len(codes):
                continue
            unique, per_pair = np.unique(codes, return_counts=True)
            blogger_code = unique >> TAG_BITS
            table = pa.table({"blogger_id": ids.take(pa.array(blogger_code)),
                              "tag": tag_values.take(pa.array(unique & ((1 << TAG_BITS) - 1))),
                              "posts": pa.array(per_pair.astype(np.int64))}, schema=PAIRS_SCHEMA)
            target = bucket_of_blogger[blogger_code]
            for b in np.unique(target):
                pair_parts.setdefault(int(b), []).append(table.filter(pa.array(target == b)))

    summary_bloggers = pa.table({"blogger_id": ids, "posts": pa.array(post_counts[:len(ids)]),
                                 "likes_total": pa.array(likes_total[:len(ids)])})
    votes = (pa.concat_tables(vote_parts).group_by(["blogger_id", "lang"]).aggregate([("lang_count", "sum")])
             .rename_columns(["blogger_id", "lang", "n"]).sort_by([("blogger_id", "ascending"), ("lang", "ascending")])
             if vote_parts
             else pa.table({"blogger_id": pa.array([], pa.string()), "lang": pa.array([], pa.string()),
                            "n": pa.array([], pa.int64())}))
    voters = set(votes.column("blogger_id").to_pylist())
    silent = pd.Series([b for b in ids.to_pylist() if b not in voters], dtype=object)
    texts = _texts_for_detection(read, silent) if len(silent) else {}
    texts_table = pa.table({"blogger_id": pa.array([b for b, ts in texts.items() for _ in ts], pa.string()),
                            "text": pa.array([t for ts in texts.values() for t in ts], pa.string())})
    hashes = np.concatenate(id_hashes) if id_hashes else np.zeros(0, dtype=np.uint64)
    summary = {"bloggers": summary_bloggers, "votes": votes, "texts": texts_table,
               "post_ids": pa.table({"hash": pa.array(hashes, pa.uint64())}),
               "pairs": {b: pa.concat_tables(parts).sort_by([("blogger_id", "ascending"), ("tag", "ascending")])
                         for b, parts in sorted(pair_parts.items())}}  # sorted: the same bytes for any spill size
    counts = {"posts": kept, "bloggers": len(ids), **tag_counts, "posts_dropped_empty": dropped,
              "pairs": sum(t.num_rows for t in summary["pairs"].values())}
    return summary, counts


def assign_languages(bloggers: pa.Table, votes: Callable[[pd.Series], pd.DataFrame],
                     texts: Callable[[pd.Series], dict[str, list[str]]], params: NormalizeConfig,
                     identifier: LanguageIdentifier | None = None) -> pd.DataFrame:
    """One row per blogger (bloggers' order): lang, source ('given'|'posts'|'detected'|'fallback'),
    confidence (1 for given, the majority's share for posts, the identifier's score otherwise).

    ``votes(ids)``: (blogger_id, lang, n) of the posts of these bloggers that state a lang;
    ``texts(ids)``: the identifier's texts of each of these bloggers. Both are asked only for the
    bloggers still without a language."""
    ids = bloggers.column("blogger_id").to_pandas()
    out = pd.DataFrame({
        "blogger_id": ids,
        "lang": pd.Series(bloggers.column("lang").to_pandas(), dtype=object),
        "source": "given",
        "confidence": 1.0,
    })
    out["lang"] = out["lang"].where(out["lang"].notna(), None)
    todo = out["lang"].isna()

    # Majority of the posts' own lang, ties broken alphabetically so reruns agree.
    if todo.any():
        found_votes = votes(out.loc[todo, "blogger_id"])
        if len(found_votes):
            found_votes = found_votes.copy()
            found_votes["share"] = found_votes["n"] / found_votes.groupby("blogger_id")["n"].transform("sum")
            best = found_votes.sort_values(["blogger_id", "n", "lang"], ascending=[True, False, True]) \
                .drop_duplicates("blogger_id").set_index("blogger_id")
            found = todo & out["blogger_id"].isin(best.index)
            out.loc[found, "lang"] = best.loc[out.loc[found, "blogger_id"], "lang"].to_numpy()
            out.loc[found, "source"] = "posts"
            out.loc[found, "confidence"] = best.loc[out.loc[found, "blogger_id"], "share"].to_numpy()
            todo &= ~found

    if todo.any():
        wanted = out.loc[todo, "blogger_id"]
        found_texts = texts(wanted)
        identifier = identifier or identifier_for(tuple(params.detect_languages))
        results = identifier.detect_many([found_texts.get(b, []) for b in wanted])
        codes = [code for code, _ in results]
        out.loc[todo, "lang"] = [code if code else params.fallback_language for code in codes]
        out.loc[todo, "source"] = ["detected" if code else "fallback" for code in codes]
        out.loc[todo, "confidence"] = [confidence for _, confidence in results]
    return out


def _texts_for_detection(read: ReadColumns, blogger_ids: pd.Series) -> dict[str, list[str]]:
    """Captions and tags (``#`` dropped, ``_`` read as a space) of the first posts of each blogger."""
    wanted = pa.array(blogger_ids.to_numpy(dtype=object), pa.string())
    seen: dict[str, int] = {}
    texts: dict[str, list[str]] = {}
    for batch in read(["blogger_id", "caption", "tags"]):
        subset = pa.table({"blogger_id": streaming.plain_strings(batch.column("blogger_id")),
                           "caption": batch.column("caption"),
                           "tags": streaming.plain_tags(batch.column("tags"))})
        subset = subset.filter(pc.is_in(subset.column("blogger_id"), value_set=wanted))
        if not subset.num_rows:
            continue
        tag_text = pc.binary_join(subset.column("tags"), " ")
        tag_text = pc.replace_substring(pc.replace_substring(tag_text, "#", ""), "_", " ")
        text = pc.binary_join_element_wise(pc.fill_null(subset.column("caption"), ""), pc.fill_null(tag_text, ""), " ")
        for blogger, piece in zip(subset.column("blogger_id").to_pylist(), pc.utf8_trim_whitespace(text).to_pylist()):
            rank = seen.get(blogger, 0)
            seen[blogger] = rank + 1
            if rank < POSTS_PER_BLOGGER_FOR_DETECTION and piece:
                texts.setdefault(blogger, []).append(piece)
    return texts
