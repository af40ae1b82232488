"""The Parquet reader of raw files (``*.parquet``): one :class:`RawBatch` per batch of rows;
text that is not UTF-8 (Parquet writers need not check it) is nulled and flagged per field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from topictensor.contract.batch import RawBatch, invalid_utf8_rows

PARQUET_BATCH_ROWS = 100_000


def read_parquet(path: Path, fields: tuple[str, ...]) -> Iterator[RawBatch]:
    """The ``fields`` of a Parquet file (absent ones as nulls), batch by batch."""
    parquet = pq.ParquetFile(path)
    present = [name for name in fields if name in parquet.schema_arrow.names]
    offset = 0
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=present or None):
        n = batch.num_rows
        columns: dict[str, pa.Array | list] = {}
        undecodable: dict[str, np.ndarray] = {}
        for name in fields:
            column = batch.column(name) if name in present else pa.nulls(n)
            bad = invalid_utf8_rows(column)
            if bad is not None and bad.any():
                undecodable[name] = bad
                column = pc.if_else(pa.array(bad), pa.nulls(n, column.type), column)
            columns[name] = column
        yield RawBatch(columns=columns, rows=np.arange(offset, offset + n, dtype=np.int64), raw=batch,
                       undecodable=undecodable)
        offset += n
