"""Ingest: one raw posts partition, or the bloggers snapshot (any mix of parquet / JSONL files)
-> one checked, typed table.

The contract lives in ``topictensor.contract``, the partition layout in ``topictensor.partitions``.
Each artifact's key follows its partition's listing (key, size, version of every file), so a new
or replaced raw file redoes only its partition, and an unchanged partition is not read again.
Posts are streamed file by file and batch by batch into a scratch
parquet file. The duplicate check across files holds no column in memory: each post_id's
64-bit hash and row number are spilled to disk bucketed by hash, each bucket is searched for
repeated hashes alone, and only the rows of repeated hashes (the duplicates, and the rare
collisions) are compared by their actual post_id while the staged posts are copied out.
"""

from __future__ import annotations

import logging
import math
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from topictensor import contract
from topictensor.artifacts import ArtifactRef, StageResult, Workspace, artifact_key, code_version, run_stage
from topictensor.config import PipelineConfig
from topictensor.errors import ContractError
from topictensor.partitions import Partition, listing_fingerprint, partition_files
from topictensor.scratch import scratch_folder
from topictensor.stages import streaming
from topictensor.stages.streaming import BucketSpill
from topictensor.store import Store, open_store

log = logging.getLogger(__name__)

STAGE = "ingest"
BLOGGERS_STAGE = "bloggers"
DEDUPE_BUCKET_BYTES = 256 << 20  # raw posts bytes per bucket of the post_id duplicate check
_ID_HASH = np.dtype([("hash", "<u8"), ("row", "<i8")])


def ingest_partition(partition: Partition | dict, config: PipelineConfig) -> ArtifactRef:
    """Read one posts partition, check every row against the contract (all but the blogger's
    existence, which the window stage checks against the bloggers snapshot), drop repeated
    post_ids within the partition; write posts/rejects. Keyed by the partition's own listing."""
    part = Partition.from_dict(partition)
    raw_store, files, code, params, inputs = _identity(STAGE, part, config)
    store = config.open_store()
    key = artifact_key(STAGE, code, params, inputs)

    def compute(ws: Workspace) -> StageResult:
        return _ingest_posts(raw_store, store, part, files, ws, max_reject_share=config.ingest.max_reject_share,
                             rejects_key=f"rejects/{key}/rejects.parquet")

    return run_stage(store, STAGE, code=code, params=params, inputs=inputs, compute=compute)


def ingest_bloggers(partition: Partition | dict, config: PipelineConfig) -> ArtifactRef:
    """Read the bloggers snapshot (one partition of bloggers/), check it, keep the first of a
    repeated blogger_id; write bloggers/rejects."""
    part = Partition.from_dict(partition)
    raw_store, files, code, params, inputs = _identity(BLOGGERS_STAGE, part, config)
    store = config.open_store()
    key = artifact_key(BLOGGERS_STAGE, code, params, inputs)

    def compute(ws: Workspace) -> StageResult:
        rejects: list[dict[str, Any]] = []
        bloggers, rows_in = _read_bloggers(raw_store, files, rejects)
        pq.write_table(bloggers, ws.path("bloggers.parquet"))
        _check_reject_share(store, rejects, rows_in, config.ingest.max_reject_share,
                            f"rejects/{key}/rejects.parquet", f"bloggers snapshot {raw_store.url(part.prefix)}")
        pq.write_table(contract.rejects_table(rejects), ws.path("rejects.parquet"))
        return StageResult(counts={"bloggers_in": rows_in, "bloggers_out": bloggers.num_rows,
                                   "rejected": len(rejects), "files": len(files)},
                           extra={"dt": part.dt, "reject_reasons": dict(Counter(r["reason"] for r in rejects))})

    return run_stage(store, BLOGGERS_STAGE, code=code, params=params, inputs=inputs, compute=compute)


def partition_key(partition: Partition | dict, config: PipelineConfig) -> str:
    """The key ``ingest_partition`` gives this partition as it is listed now (reads no data)."""
    _, _, code, params, inputs = _identity(STAGE, Partition.from_dict(partition), config)
    return artifact_key(STAGE, code, params, inputs)


def bloggers_key(partition: Partition | dict, config: PipelineConfig) -> str:
    """The key ``ingest_bloggers`` gives this snapshot as it is listed now."""
    _, _, code, params, inputs = _identity(BLOGGERS_STAGE, Partition.from_dict(partition), config)
    return artifact_key(BLOGGERS_STAGE, code, params, inputs)


def _identity(stage: str, part: Partition, config: PipelineConfig):
    """(raw store, files, code version, params, inputs) that key a partition's artifact."""
    raw_store = open_store(config.ingest.input_uri, endpoint_url=config.store.endpoint_url)
    files = _checked_files(raw_store, part)
    modules = ("topictensor.contract", "topictensor.stages.streaming") + (("topictensor.tags",) if stage == STAGE else ())
    code = code_version(__name__, *modules)
    params = {"dt": part.dt, "max_reject_share": config.ingest.max_reject_share}
    inputs = {"raw": {"prefix": part.prefix, **listing_fingerprint(raw_store, files)}}
    return raw_store, files, code, params, inputs


def _checked_files(raw_store: Store, part: Partition) -> list:
    files = partition_files(raw_store, part)
    if not files:
        raise ContractError(f"no {part.kind} files under {raw_store.url(part.prefix)}/ (raw prefix {raw_store.uri})")
    for info in files:
        contract.file_format(raw_store, info.key)  # an unknown extension fails before any reading
    return files


def _check_reject_share(store: Store, rejects: list, rows_in: int, max_share: float, rejects_key: str,
                        what: str) -> None:
    """Fail (leaving the rejects for the operator, and no artifact) above ``max_share``."""
    if not rows_in or len(rejects) / rows_in <= max_share:
        return
    with scratch_folder(f"{STAGE}-rejects") as tmp:
        path = Path(tmp) / "rejects.parquet"
        pq.write_table(contract.rejects_table(rejects), path)
        store.upload_file(rejects_key, path)
    reasons = Counter(r["reason"] for r in rejects)
    top = "; ".join(f"{reason}: {n}" for reason, n in reasons.most_common(5))
    raise ContractError(
        f"{what}: rejected {len(rejects)} of {rows_in} rows ({len(rejects) / rows_in:.2%}), more than "
        f"ingest.max_reject_share={max_share:.2%}. Top reasons: {top}. Rejected rows: {store.url(rejects_key)}"
    )


def _ingest_posts(raw_store: Store, store: Store, part: Partition, posts_files: list, ws: Workspace, *,
                  max_reject_share: float, rejects_key: str) -> StageResult:
    rejects: list[dict[str, Any]] = []
    raw_bytes = sum(info.size or 0 for info in posts_files)
    buckets = max(1, math.ceil(raw_bytes / DEDUPE_BUCKET_BYTES))
    with scratch_folder(STAGE) as scratch, \
            BucketSpill(buckets, _ID_HASH, directory=Path(scratch), name="post-ids") as id_hashes:
        staged = Path(scratch) / "posts-staged.parquet"
        posts_in = _stage_posts(raw_store, posts_files, None, staged, rejects, id_hashes)
        if posts_in == 0:
            raise ContractError(f"posts files under {raw_store.url(part.prefix)}/ hold no rows")
        suspects = _rows_of_repeated_hashes(id_hashes)
        posts_out = _write_unique_posts(staged, suspects, ws.path("posts.parquet"), rejects)

    reasons = Counter(r["reason"] for r in rejects)
    _check_reject_share(store, rejects, posts_in, max_reject_share, rejects_key,
                        f"posts partition {raw_store.url(part.prefix)}")
    pq.write_table(contract.rejects_table(rejects), ws.path("rejects.parquet"))
    for reason, n in reasons.most_common():
        log.warning("ingest[%s]: rejected %d rows: %s", part.label, n, reason)
    log.info("ingest[%s]: %d/%d posts kept from %d files", part.label, posts_out, posts_in, len(posts_files))
    return StageResult(
        counts={"posts_in": posts_in, "posts_out": posts_out, "rejected": len(rejects), "files": len(posts_files)},
        metrics={"reject_share": round(len(rejects) / posts_in, 6) if posts_in else 0.0},
        extra={"dt": part.dt, "reject_reasons": dict(reasons.most_common())},
    )


def _read_bloggers(raw_store: Store, files: list, rejects: list) -> tuple[pa.Table, int]:
    tables = []
    rows_in = 0
    for info in files:
        for batch in contract.read_raw_file(raw_store, info.key, contract.BLOGGER_FIELDS):
            rows_in += len(batch) + len(batch.unreadable)
            checked = contract.check_bloggers(batch, info.key)
            tables.append(checked.table)
            rejects.extend(checked.rejects)
    bloggers = pa.concat_tables(tables) if tables else contract.BLOGGERS_SCHEMA.empty_table()
    keep = contract.first_occurrences(bloggers.column("blogger_id"))
    for row in bloggers.filter(pa.array(~keep)).to_pylist():
        rejects.append(_duplicate_reject(row, contract.REASON_DUPLICATE_BLOGGER_ID))
    return bloggers.filter(pa.array(keep)), rows_in


def _stage_posts(raw_store: Store, files: list, known_bloggers: pd.Index | None, staged: Path,
                 rejects: list, id_hashes: BucketSpill) -> int:
    """Check every posts file batch by batch, appending valid rows to a scratch parquet file and
    each one's (post_id hash, row) to the spill."""
    rows_in = 0
    rows_staged = 0
    with pq.ParquetWriter(staged, contract.POSTS_SCHEMA, **streaming.WRITE_OPTIONS) as writer:
        for info in files:
            for batch in contract.read_raw_file(raw_store, info.key, contract.POST_FIELDS):
                rows_in += len(batch) + len(batch.unreadable)
                checked = contract.check_posts(batch, info.key, known_bloggers)
                rejects.extend(checked.rejects)
                n = checked.table.num_rows
                if n:
                    writer.write_table(checked.table)
                    records = np.empty(n, dtype=_ID_HASH)
                    records["hash"] = post_id_hashes(checked.table.column("post_id"))
                    records["row"] = np.arange(rows_staged, rows_staged + n)
                    id_hashes.append((records["hash"] % np.uint64(id_hashes.buckets)).astype(np.int64), records)
                    rows_staged += n
    return rows_in


def post_id_hashes(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """64-bit hash of each post_id (pandas' SipHash; stable across processes and runs)."""
    return pd.util.hash_array(np.asarray(ids.to_numpy(zero_copy_only=False), dtype=object))


def _rows_of_repeated_hashes(id_hashes: BucketSpill) -> np.ndarray:
    """Sorted staged rows whose post_id hash is shared with another row: every duplicate (and the
    first occurrence it repeats), plus the astronomically rare hash collisions."""
    suspects = [records["row"] for records in streaming.repeated_hash_records(id_hashes)]
    return np.sort(np.concatenate(suspects)) if suspects else np.zeros(0, dtype=np.int64)


def _write_unique_posts(staged: Path, suspects: np.ndarray, target: Path, rejects: list) -> int:
    """Copy the staged posts except repeated post_ids (the first one is kept) into the output.
    Only the ``suspects`` rows can be repeats; their post_ids are compared exactly, in order."""
    if not len(suspects):  # the common case: nothing to drop, the staged file is the output
        shutil.move(staged, target)
        return pq.ParquetFile(target).metadata.num_rows
    written = 0
    offset = 0
    seen: set[str] = set()
    with pq.ParquetWriter(target, contract.POSTS_SCHEMA, **streaming.WRITE_OPTIONS) as writer:
        for batch in streaming.parquet_batches(staged)():
            table = pa.Table.from_batches([batch], schema=contract.POSTS_SCHEMA)
            lo, hi = np.searchsorted(suspects, [offset, offset + batch.num_rows])
            mask = np.ones(batch.num_rows, dtype=bool)
            if hi > lo:
                local = suspects[lo:hi] - offset
                for i, post_id in zip(local, table.column("post_id").take(pa.array(local)).to_pylist()):
                    if post_id in seen:
                        mask[i] = False
                    else:
                        seen.add(post_id)
            offset += batch.num_rows
            if not mask.all():
                for row in table.filter(pa.array(~mask)).to_pylist():
                    rejects.append(_duplicate_reject(row, contract.REASON_DUPLICATE_POST_ID))
                table = table.filter(pa.array(mask))
            writer.write_table(table)
            written += table.num_rows
    return written


def _duplicate_reject(row: dict[str, Any], reason: str) -> dict[str, Any]:
    source_file = row.pop("source_file")
    source_row = row.pop("source_row")
    return {"source_file": source_file, "source_row": source_row, "reason": reason,
            "record": contract.record_text(row)}
