"""Prepare: one normalised partition + the window's small tables -> that partition's share of the
training split. A mapped stage (one task per partition), so a week's preparation reads the new
partition's posts and the window's tables, not the old partitions' posts.

For each post of the partition it drops the older copies of post_ids a newer partition holds and
the posts of bloggers missing from the snapshot (listing both in ``rejects.parquet``), and writes
the post to ``train.parquet`` or ``heldout.parquet`` by the split's salted hash of its post_id
(``heldout_mask``); ``bloggers.parquet`` lists its bloggers. Tags are
written unfiltered and without weights, and without the blogger's language: the filter's choices,
the habit weights and the languages decided from the window's texts change every week at the
margin (a tag crossing ``min_bloggers``, a blogger's tag count, the texts of the window's oldest
weeks), so they are applied when the split is read (``topictensor.stages.split.SplitPosts``) from
the reweight stage's table of kept (blogger, tag) counts, which holds them all; a partition's
artifact then stays valid week after week.

Key: the partition's normalize artifact, the split's parameters, and digests of exactly what it
uses of the window: its dropped rows and which of its bloggers the snapshot lacks. A new week
changes neither for an old partition unless a newer partition repeats one of its post_ids or a
blogger leaves the snapshot.

The ``cooccur`` stage (``topictensor.stages.cooccur``) counts the review candidates' co-occurrences
in the prepared posts for the filter's generic-tag scores.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from topictensor import contract
from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import PipelineConfig
from topictensor.stages import streaming
from topictensor.stages.normalize import POSTS_SCHEMA, SUMMARY_BLOGGERS
from topictensor.stages.review import digest

STAGE = "prepare"
SIDES = ("train", "heldout")
# A prepared partition's posts: the window's posts without the blogger's language (applied when read).
PREPARED_SCHEMA = pa.schema([f for f in POSTS_SCHEMA if f.name != "lang"])
BLOGGERS = "bloggers.parquet"


_BUCKETS = 1_000_000  # held-out hash buckets: a share is a whole number of millionths


def heldout_mask(post_ids: list[str], share: float, salt: str) -> np.ndarray:
    """True for held-out posts: hash(salt, post_id) falls in the first ``share`` of the buckets."""
    limit = int(share * _BUCKETS)
    salt_b = salt.encode()
    out = np.empty(len(post_ids), dtype=bool)
    for i, pid in enumerate(post_ids):
        h = hashlib.blake2b(salt_b + b"\0" + str(pid).encode(), digest_size=8).digest()
        out[i] = int.from_bytes(h, "little") % _BUCKETS < limit
    return out


def side_file(side: str) -> str:
    if side not in SIDES:
        raise ValueError(f"unknown split side {side!r}: use one of {SIDES}")
    return f"{side}.parquet"


def prepare_partition(normalized: ArtifactRef | dict, window: ArtifactRef | dict, config: PipelineConfig) -> ArtifactRef:
    from topictensor.stages.window import dropped_rows_of

    store = config.open_store()
    source, window_art = Artifact(store, normalized), Artifact(store, window)
    dropped = dropped_rows_of(window_art, source.ref.key)
    mine = source.read_table(SUMMARY_BLOGGERS, columns=["blogger_id"]).column("blogger_id")
    people = window_art.read_table("bloggers.parquet", columns=["blogger_id", "lang"])
    known = set(people.column("blogger_id").to_pylist())
    params = {
        "dt": source.manifest.get("params", {}).get("dt"),
        "split": config.split.model_dump(mode="json"),
        "dropped_rows": digest(dropped.tolist()),
        "bloggers_missing": digest(sorted(b for b in mine.to_pylist() if b not in known)),
    }

    def compute(ws: Workspace) -> StageResult:
        return _prepare(source, people, dropped, config, ws)

    return run_stage(store, STAGE, code=code_version(__name__, "topictensor.stages.streaming", "topictensor.vocabulary",
                                                        "topictensor.stages.window", *contract.MODULES),
                     params=params, inputs={"normalized": source.ref}, compute=compute)


def _plain(table: pa.Table) -> pa.Table:
    """Dictionary-coded columns (as read) as the plain strings the contract's records hold."""
    return pa.table({name: streaming.plain_tags(column.combine_chunks()) if name == "tags"
                     else streaming.plain_strings(column.combine_chunks())
                     for name, column in zip(table.column_names, table.columns)})


def _prepare(source: Artifact, people: pa.Table, dropped: np.ndarray, config: PipelineConfig,
             ws: Workspace) -> StageResult:
    from topictensor.vocabulary import Vocabulary
    from topictensor.stages.window import rejects_of

    positions = Vocabulary(people.column("blogger_id").combine_chunks())
    n_known = people.num_rows
    rejects: list[dict[str, Any]] = []
    counts = {"posts_in": 0, "train_posts": 0, "heldout_posts": 0, "posts_unknown_blogger": 0,
              "posts_duplicate_across_partitions": 0}
    split = config.split
    offset = 0
    seen = np.zeros(n_known, dtype=bool)
    with pq.ParquetWriter(ws.path(side_file("train")), PREPARED_SCHEMA, **streaming.WRITE_OPTIONS) as train, \
            pq.ParquetWriter(ws.path(side_file("heldout")), PREPARED_SCHEMA, **streaming.WRITE_OPTIONS) as heldout:
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
            seen[position[keep]] = True
            out = pa.table({"post_id": streaming.plain_strings(kept.column("post_id").combine_chunks()),
                            "blogger_id": streaming.plain_strings(kept.column("blogger_id").combine_chunks()),
                            "created_at": kept.column("created_at"),
                            "tags": streaming.plain_tags(kept.column("tags")),
                            "likes": kept.column("likes")}, schema=PREPARED_SCHEMA)
            held = heldout_mask(out.column("post_id").to_pylist(), split.heldout_share, split.salt)
            if (~held).any():
                train.write_table(out.filter(pa.array(~held)))
            if held.any():
                heldout.write_table(out.filter(pa.array(held)))
            counts["train_posts"] += int((~held).sum())
            counts["heldout_posts"] += int(held.sum())
    pq.write_table(contract.rejects_table(rejects), ws.path("rejects.parquet"))
    ids = people.column("blogger_id").combine_chunks()
    pq.write_table(pa.table({"blogger_id": ids.take(pa.array(np.flatnonzero(seen)))}), ws.path(BLOGGERS))
    counts["rejected"] = len(rejects)
    return StageResult(counts=counts, extra={"dt": source.manifest.get("params", {}).get("dt")})
