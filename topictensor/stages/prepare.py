"""Prepare: one normalised partition + the window's small tables -> that partition's share of the
training split. A mapped stage (one task per partition), so a week's preparation reads the new
partition's posts and the window's tables, not the old partitions' posts.

For each post of the partition it drops the older copies of post_ids a newer partition holds and
the posts of bloggers missing from the snapshot (listing both in ``rejects.parquet``), sets the
blogger's window language, and writes the post to ``train.parquet`` or ``heldout.parquet`` by the
split's salted hash of its post_id (``topictensor.stages.split.heldout_mask``). Tags are written
unfiltered and without weights: the filter's choices and the habit weights change every week at
the margin (a tag crossing ``min_bloggers``, a blogger's tag count), so they are applied when the
split is read (``topictensor.stages.split.SplitPosts``) from the reweight stage's table of kept
(blogger, tag) counts; a partition's artifact then stays valid week after week.

It also counts, for every language whose filter scores generic tags, the co-occurrences of that
language's review candidates in this partition (``cooc.parquet``: lang, a, b, posts for a < b,
indices into the candidate list), which the filter sums over the partitions.

Key: the partition's normalize artifact, the split's parameters, and digests of exactly what it
uses of the window: its dropped rows, the language (or absence from the snapshot) of each of its
bloggers, and the candidate lists. A new week changes none of these for an old partition unless a
blogger's language flips, a newer partition repeats one of its post_ids, or the review candidates
of a language change (the price of exact generic-tag scores: ``filter.generic_mode: off`` removes
it); the bench_weekly table reports how many partitions were recomputed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from topictensor import contract
from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import PipelineConfig
from topictensor.stages import streaming
from topictensor.stages.normalize import POSTS_SCHEMA, SUMMARY_BLOGGERS

STAGE = "prepare"
COOC = "cooc.parquet"
COOC_SCHEMA = pa.schema([("lang", pa.string()), ("a", pa.int32()), ("b", pa.int32()), ("posts", pa.int64())])
SIDES = ("train", "heldout")


def side_file(side: str) -> str:
    if side not in SIDES:
        raise ValueError(f"unknown split side {side!r}: use one of {SIDES}")
    return f"{side}.parquet"


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:32]


def review_candidates(config: PipelineConfig, window: Artifact, languages: Sequence[str]) -> dict[str, list[str]]:
    """Per language (of ``languages``) whose filter scores generic tags: its review candidates, in the
    filter's order."""
    from topictensor.stages.filter import candidate_tags
    from topictensor.stages.window import tag_stats_for

    fc = config.filter
    out = {}
    for lang in languages:
        if fc.generic_mode_for(lang) != "off":
            out[lang] = candidate_tags(tag_stats_for(window, lang), fc.review_top_n).to_pylist()
    return out


def prepare_partition(normalized: ArtifactRef | dict, window: ArtifactRef | dict, languages: Sequence[str],
                      config: PipelineConfig) -> ArtifactRef:
    """``languages``: those the filter runs for (``topictensor.stages.languages``)."""
    from topictensor.stages.window import dropped_rows_of

    store = config.open_store()
    source, window_art = Artifact(store, normalized), Artifact(store, window)
    candidates = review_candidates(config, window_art, languages)
    dropped = dropped_rows_of(window_art, source.ref.key)
    mine = source.read_table(SUMMARY_BLOGGERS, columns=["blogger_id"]).column("blogger_id")
    people = window_art.read_table("bloggers.parquet", columns=["blogger_id", "lang"])
    langs = _languages_of(mine, people)
    params = {
        "dt": source.manifest.get("params", {}).get("dt"),
        "split": config.split.model_dump(mode="json"),
        "dropped_rows": _digest(dropped.tolist()),
        "blogger_languages": _digest(sorted(zip(mine.to_pylist(), langs))),
        "candidates": {lang: _digest(tags) for lang, tags in sorted(candidates.items())},
    }

    def compute(ws: Workspace) -> StageResult:
        return _prepare(source, people, dropped, candidates, config, ws)

    return run_stage(store, STAGE, code=code_version(__name__, "topictensor.stages.split", "topictensor.stages.streaming",
                                                     "topictensor.generic_tags"),
                     params=params, inputs={"normalized": source.ref}, compute=compute)


def _languages_of(ids: pa.ChunkedArray, people: pa.Table) -> list[str | None]:
    lang = pd.Series(people.column("lang").to_numpy(zero_copy_only=False),
                     index=np.asarray(people.column("blogger_id").to_numpy(zero_copy_only=False), dtype=object))
    found = lang.reindex(np.asarray(ids.to_numpy(zero_copy_only=False), dtype=object))
    return [None if pd.isna(v) else str(v) for v in found.to_numpy()]


def _plain(table: pa.Table) -> pa.Table:
    """Dictionary-coded columns (as read) as the plain strings the contract's records hold."""
    return pa.table({name: streaming.plain_tags(column.combine_chunks()) if name == "tags"
                     else streaming.plain_strings(column.combine_chunks())
                     for name, column in zip(table.column_names, table.columns)})


def _prepare(source: Artifact, people: pa.Table, dropped: np.ndarray, candidates: dict[str, list[str]],
             config: PipelineConfig, ws: Workspace) -> StageResult:
    from topictensor.generic_tags import cooccurrence
    from topictensor.stages.split import heldout_mask
    from topictensor.stages.streaming import Vocabulary
    from topictensor.stages.window import rejects_of

    positions = Vocabulary(people.column("blogger_id").combine_chunks())
    n_known = people.num_rows
    lang_of = people.column("lang").combine_chunks()
    candidate_index = {lang: pd.Index(tags) for lang, tags in candidates.items()}
    cooc = {lang: np.zeros((len(tags), len(tags))) for lang, tags in candidates.items()}
    rejects: list[dict[str, Any]] = []
    counts = {"posts_in": 0, "train_posts": 0, "heldout_posts": 0, "posts_unknown_blogger": 0,
              "posts_duplicate_across_partitions": 0}
    split = config.split
    offset = 0
    with pq.ParquetWriter(ws.path(side_file("train")), POSTS_SCHEMA, **streaming.WRITE_OPTIONS) as train, \
            pq.ParquetWriter(ws.path(side_file("heldout")), POSTS_SCHEMA, **streaming.WRITE_OPTIONS) as heldout:
        for batch in streaming.parquet_batches(source.path("posts.parquet"), dictionary=("blogger_id", "tags"))():
            table = pa.Table.from_batches([batch])
            counts["posts_in"] += table.num_rows
            position = positions.codes(table.column("blogger_id"))
            keep = position < n_known
            lo, hi = np.searchsorted(dropped, [offset, offset + table.num_rows])
            duplicate = np.zeros(table.num_rows, dtype=bool)
            duplicate[dropped[lo:hi] - offset] = True
            offset += table.num_rows
            for mask, reason, name in ((~keep, contract.REASON_UNKNOWN_BLOGGER, "posts_unknown_blogger"),
                                       (keep & duplicate, contract.REASON_DUPLICATE_ACROSS_PARTITIONS,
                                        "posts_duplicate_across_partitions")):
                if mask.any():
                    rejects.extend(rejects_of(_plain(table.filter(pa.array(mask))), reason))
                    counts[name] += int(mask.sum())
            keep &= ~duplicate
            if not keep.any():
                continue
            kept = table.filter(pa.array(keep))
            langs = lang_of.take(pa.array(position[keep]))
            out = pa.table({"post_id": streaming.plain_strings(kept.column("post_id").combine_chunks()),
                            "blogger_id": streaming.plain_strings(kept.column("blogger_id").combine_chunks()),
                            "created_at": kept.column("created_at"),
                            "tags": streaming.plain_tags(kept.column("tags")),
                            "likes": kept.column("likes"), "lang": langs}, schema=POSTS_SCHEMA)
            for lang, index in candidate_index.items():
                if not len(index):
                    continue
                rows = np.flatnonzero(np.asarray(pc.equal(langs, lang).to_numpy(zero_copy_only=False), dtype=bool))
                if not len(rows):
                    continue
                flat, parent = streaming.list_parts(out.column("tags").take(pa.array(rows)))
                codes = index.get_indexer(np.asarray(flat.to_numpy(zero_copy_only=False), dtype=object))
                inside = codes >= 0  # tags are distinct within a post (normalize)
                cooc[lang] += cooccurrence([(parent[inside], codes[inside])], len(index))
            held = heldout_mask(out.column("post_id").to_pylist(), split.heldout_share, split.salt)
            if (~held).any():
                train.write_table(out.filter(pa.array(~held)))
            if held.any():
                heldout.write_table(out.filter(pa.array(held)))
            counts["train_posts"] += int((~held).sum())
            counts["heldout_posts"] += int(held.sum())
    pq.write_table(contract.rejects_table(rejects), ws.path("rejects.parquet"))
    parts = []
    for lang, matrix in sorted(cooc.items()):
        a, b = np.nonzero(np.triu(matrix, 1))
        parts.append(pa.table({"lang": pa.array([lang] * len(a), pa.string()), "a": pa.array(a, pa.int32()),
                               "b": pa.array(b, pa.int32()), "posts": pa.array(matrix[a, b].astype(np.int64))},
                              schema=COOC_SCHEMA))
    pq.write_table(pa.concat_tables(parts) if parts else COOC_SCHEMA.empty_table(), ws.path(COOC))
    counts["rejected"] = len(rejects)
    return StageResult(counts=counts, extra={"dt": source.manifest.get("params", {}).get("dt"),
                                             "candidates": {lang: len(t) for lang, t in candidates.items()}})


def summed_cooccurrence(prepared: Sequence[Artifact], lang: str, n: int) -> np.ndarray:
    """The n x n co-occurrence of ``lang``'s review candidates over the prepared partitions."""
    if not prepared and n:
        raise ValueError(f"generic-tag scores of {lang!r} need the review candidates' co-occurrences, and no prepared "
                         "partition was given")
    total = np.zeros((n, n))
    for art in prepared:
        got = art.manifest.get("extra", {}).get("candidates", {}).get(lang)
        if got != n:
            raise ValueError(f"prepare artifact {art.ref.key} counted {got} review candidates of {lang!r}, "
                             f"the filter has {n}: the window's tables and the prepared partitions disagree")
        table = pq.read_table(art.path(COOC), filters=[("lang", "=", lang)])
        a, b = table.column("a").to_numpy(), table.column("b").to_numpy()
        np.add.at(total, (a, b), table.column("posts").to_numpy().astype(np.float64))
    return total + total.T
