"""What a reader yields: :class:`RawBatch`, rows of one raw file with their row numbers and the
raw text each reject record is made of, and the UTF-8 checks every text column goes through."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from topictensor.contract.schema import MAX_RECORD_CHARS


@dataclass
class RawBatch:
    """Rows read from one file: their fields (Arrow arrays, or Python lists when types are mixed),
    their row numbers, and the raw rows for reject records, plus lines that were not rows at all."""

    columns: dict[str, pa.Array | list]
    rows: np.ndarray  # int64 row number of each row in its file
    raw: pa.RecordBatch | list[bytes]  # parquet rows, or the JSONL lines themselves
    unreadable: list[dict[str, Any]] = field(default_factory=list)  # rejects of lines that are not rows
    # Per field, the rows whose text is not UTF-8 (Parquet does not check it on write); their
    # values are nulled in ``columns`` so the checks never touch undecodable bytes.
    undecodable: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rows)

    def record(self, i: int) -> str:
        if isinstance(self.raw, pa.RecordBatch):
            row = self.raw.slice(i, 1)
            if self.undecodable:
                row = pa.RecordBatch.from_arrays([_as_replaced_text(col) for col in row.columns],
                                                 names=row.schema.names)
            return record_text(row.to_pylist()[0])
        return self.raw[i].decode("utf-8", errors="replace").rstrip("\r\n")[:MAX_RECORD_CHARS]


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _holds_text(t: pa.DataType) -> bool:
    return _is_text(t) or ((pa.types.is_list(t) or pa.types.is_large_list(t)) and _holds_text(t.value_type))


def invalid_utf8_rows(array: pa.Array) -> np.ndarray | None:
    """Rows of a string (or list of strings) array holding bytes that are not UTF-8; None when all
    are valid (the common case, decided by one C++ pass over the column)."""
    if not _holds_text(array.type):
        return None
    try:
        array.validate(full=True)
        return None
    except pa.ArrowInvalid:
        pass
    if _is_text(array.type):
        bad = np.zeros(len(array), dtype=bool)
        for i, value in enumerate(array.cast(pa.binary() if pa.types.is_string(array.type) else pa.large_binary())
                                  .to_pylist()):
            if value is not None:
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError:
                    bad[i] = True
        return bad
    inner = invalid_utf8_rows(pc.list_flatten(array))
    bad = np.zeros(len(array), dtype=bool)
    if inner is not None and inner.any():
        parents = pc.list_parent_indices(array).to_numpy(zero_copy_only=False)
        bad[np.unique(parents[inner])] = True
    return bad


def _as_replaced_text(array: pa.Array) -> pa.Array:
    """A string (or list of strings) array with bytes that are not UTF-8 shown as U+FFFD."""
    if _is_text(array.type):
        binary = array.cast(pa.binary() if pa.types.is_string(array.type) else pa.large_binary())
        return pa.array([None if v is None else v.decode("utf-8", errors="replace") for v in binary.to_pylist()],
                        type=pa.string())
    if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
        if not _holds_text(array.type):
            return array
        flat = _as_replaced_text(pc.list_flatten(array))
        lengths = pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False)
        offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
        return pa.ListArray.from_arrays(offsets, flat, mask=array.is_null())
    return array


def record_text(row: Any) -> str:
    return json.dumps(row, ensure_ascii=False, default=str)[:MAX_RECORD_CHARS]
