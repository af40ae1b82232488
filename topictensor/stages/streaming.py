"""Bounded-memory building blocks of the preparation stages: batches in, batches out.

Memory is held to three kinds of state whose size does not grow with the number of posts read:
one batch of rows (``BATCH_ROWS``), vocabularies (distinct tags, distinct bloggers: the vocab, not
the rows) and one bucket of a spill (``SPILL_BUCKET_ROWS``). State that is as large as the data --
the (blogger, tag) pairs behind "distinct bloggers per tag" and the habit weights -- goes through a
:class:`BucketSpill`: values are appended to files on local disk by ``blogger code % buckets``, so
every blogger's pairs land in one bucket and each bucket is aggregated exactly, alone. Spills go
to the system's temporary directory (``TMPDIR``: point it at a large local disk) and are removed
when the stage ends, failed or not.

Measured on 1M synthetic posts (``benchmarks/bench_prep.py``) against DuckDB and the in-memory
stages before this module; the figures are in that benchmark's docstring.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from topictensor.vocabulary import Vocabulary  # noqa: F401 - the stages' codes for tags and bloggers

BATCH_ROWS = 100_000  # rows per batch read and per row group written
SPILL_BUCKET_ROWS = 4_000_000  # values per spill bucket aggregated at once (~100 MB of int64 work arrays)
# Written files keep a whole row group's tag dictionary in one page, so readers get dictionary-coded
# tags (cheap to map to codes) instead of strings to hash again.
WRITE_OPTIONS = {"dictionary_pagesize_limit": 64 << 20, "compression": "snappy"}

# A (blogger, tag) pair as one int64: blogger code << TAG_BITS | tag code (tag vocabularies stay < 2**31).
TAG_BITS = 31

Batches = Callable[[], Iterator[pa.RecordBatch]]  # a source of batches that can be read again
ReadColumns = Callable[[list[str]], Iterator[pa.RecordBatch]]  # the same, for the columns asked


def parquet_batches(path: Path, columns: Sequence[str] | None = None,
                    dictionary: Sequence[str] = ()) -> Batches:
    """A re-iterable source of a parquet file's batches; ``dictionary`` columns come dictionary-coded
    (``tags`` means its list elements)."""

    def batches() -> Iterator[pa.RecordBatch]:
        read_dictionary = [f"{name}.list.element" if name == "tags" else name for name in dictionary]
        parquet = pq.ParquetFile(path, read_dictionary=read_dictionary or None)
        for group in range(parquet.metadata.num_row_groups):  # a batch never spans two dictionaries
            yield from parquet.iter_batches(batch_size=BATCH_ROWS, row_groups=[group],
                                            columns=list(columns) if columns else None)

    return batches


def parquet_values(path: Path, column: str = "tags") -> int:
    """Number of values of a column in a parquet file (list elements for a list), from the footer."""
    meta = pq.ParquetFile(path).metadata
    leaf = f"{column}.list.element" if column == "tags" else column
    index = [meta.schema.column(i).path for i in range(meta.num_columns)].index(leaf)
    return sum(meta.row_group(g).column(index).num_values for g in range(meta.num_row_groups))


def bucket_count(values: int, bucket_rows: int | None = None) -> int:
    return max(1, math.ceil(values / (bucket_rows or SPILL_BUCKET_ROWS)))


def plain_strings(array: pa.Array) -> pa.Array:
    """A dictionary-coded string array as plain strings (what the written files hold)."""
    return array.dictionary.take(array.indices) if pa.types.is_dictionary(array.type) else array


def plain_tags(tags: pa.Array) -> pa.Array:
    """``list<dictionary<string>>`` read from parquet as the contract's ``list<string>``."""
    if isinstance(tags, pa.ChunkedArray):
        tags = tags.combine_chunks()
    if not pa.types.is_dictionary(tags.type.value_type):
        return tags
    values = plain_strings(tags.values)
    return pa.ListArray.from_arrays(tags.offsets, values, mask=tags.is_null() if tags.null_count else None)


def list_parts(tags: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """(the flat values, the row of each value) of a list column, for any offset of the array."""
    if isinstance(tags, pa.ChunkedArray):
        tags = tags.combine_chunks()
    flat = pc.list_flatten(tags)
    parent = pc.list_parent_indices(tags).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return flat, parent


class BucketSpill:
    """Numbers appended to ``buckets`` files on local disk, each bucket read back alone (in arrival
    order)."""

    def __init__(self, buckets: int, dtype: np.dtype | type, directory: Path | None = None, name: str = "spill"):
        self.buckets = buckets
        self.dtype = np.dtype(dtype)
        from topictensor.scratch import scratch_dir

        self.root = scratch_dir(name, directory)
        self.sizes = np.zeros(buckets, dtype=np.int64)

    def path(self, bucket: int, suffix: str = "") -> Path:
        return self.root / f"bucket-{bucket:05d}{suffix}.bin"

    def append(self, bucket_of: np.ndarray, values: np.ndarray) -> None:
        """Append ``values[i]`` to bucket ``bucket_of[i]``, keeping their order within each bucket."""
        if len(values) == 0:
            return
        if self.buckets == 1:
            self._write(0, values)
            return
        order = _bucket_order(bucket_of, self.buckets)
        counts = np.bincount(bucket_of, minlength=self.buckets)
        start = 0
        for bucket in np.flatnonzero(counts):
            end = start + counts[bucket]
            self._write(int(bucket), values[order[start:end]])
            start = end

    def _write(self, bucket: int, values: np.ndarray) -> None:
        with open(self.path(bucket), "ab") as f:
            np.ascontiguousarray(values, dtype=self.dtype).tofile(f)
        self.sizes[bucket] += len(values)

    def read(self, bucket: int) -> np.ndarray:
        path = self.path(bucket)
        return np.fromfile(path, dtype=self.dtype) if path.exists() else np.zeros(0, dtype=self.dtype)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "BucketSpill":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _bucket_order(bucket_of: np.ndarray, buckets: int) -> np.ndarray:
    """Stable order of the values by bucket (a radix sort while bucket numbers fit 16 bits)."""
    keys = bucket_of.astype(np.uint16) if buckets <= 1 << 16 else bucket_of
    return np.argsort(keys, kind="stable")


def repeated_hash_records(spill: "BucketSpill") -> list[np.ndarray]:
    """Per bucket of ``spill`` (structured records with a ``hash`` field), the records whose hash
    another record of the bucket shares: every repeat and what it repeats, plus hash collisions
    (callers compare the real values of these few)."""
    out = []
    for bucket in range(spill.buckets):
        records = spill.read(bucket)
        if len(records) < 2:
            continue
        records = records[np.argsort(records["hash"], kind="stable")]
        same = records["hash"][1:] == records["hash"][:-1]
        shared = np.zeros(len(records), dtype=bool)
        shared[1:] |= same
        shared[:-1] |= same
        out.append(records[shared])
    return out
