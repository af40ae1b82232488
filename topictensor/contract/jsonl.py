"""The JSON Lines reader of raw files (``*.jsonl``, and gzipped ``*.jsonl.gz``): one object a
line, read a chunk of lines at a time by Arrow's JSON reader when the chunk is well formed, else
line by line (a line that is not UTF-8, not JSON or not an object is a reject of its own)."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from topictensor.contract.batch import RawBatch
from topictensor.contract.schema import (MAX_RECORD_CHARS, REASON_INVALID_JSON, REASON_NOT_AN_OBJECT,
                                         REASON_UNDECODABLE)

JSONL_CHUNK_LINES = 100_000


# What well-formed JSONL rows look like to Arrow's JSON reader (the fast path). A chunk it cannot
# read this way (an integer post_id, likes written 3.0, a broken line) is parsed line by line.
_JSON_FAST_TYPES = {
    "post_id": pa.string(), "blogger_id": pa.string(), "created_at": pa.string(),
    "tags": pa.list_(pa.string()), "likes": pa.int64(), "lang": pa.string(), "caption": pa.string(),
    "username": pa.string(), "followers": pa.int64(),
}


def read_jsonl(path: Path, fields: tuple[str, ...], *, gz: bool = False) -> Iterator[RawBatch]:
    """The ``fields`` of a JSONL file (gzipped: ``gz``), in chunks of ``JSONL_CHUNK_LINES`` lines."""
    opener = gzip.open if gz else open
    with opener(path, "rb") as f:
        lines: list[bytes] = []
        rows: list[int] = []
        for line_no, line in enumerate(f):
            if not line.strip():
                continue  # blank lines are not rows
            lines.append(line)
            rows.append(line_no)
            if len(lines) >= JSONL_CHUNK_LINES:
                yield _jsonl_chunk(lines, rows, fields)
                lines, rows = [], []
        if lines:
            yield _jsonl_chunk(lines, rows, fields)


def _jsonl_chunk(lines: list[bytes], rows: list[int], fields: tuple[str, ...]) -> RawBatch:
    fast = _jsonl_chunk_with_arrow(lines, rows, fields)
    return fast if fast is not None else _jsonl_chunk_by_line(lines, rows, fields)


def _jsonl_chunk_with_arrow(lines: list[bytes], rows: list[int], fields: tuple[str, ...]) -> RawBatch | None:
    import pyarrow.json as pajson

    block = b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines)
    try:
        block.decode("utf-8")
        table = pajson.read_json(
            io.BytesIO(block),
            read_options=pajson.ReadOptions(block_size=max(1 << 20, 2 * max(len(line) for line in lines))),
            parse_options=pajson.ParseOptions(
                explicit_schema=pa.schema([(name, _JSON_FAST_TYPES[name]) for name in fields]),
                unexpected_field_behavior="ignore",
            ),
        )
    except (UnicodeDecodeError, pa.ArrowException):
        return None
    if table.num_rows != len(lines):  # e.g. two objects on one line
        return None
    columns = {name: table.column(name).combine_chunks() for name in fields}
    return RawBatch(columns=columns, rows=np.asarray(rows, dtype=np.int64), raw=lines)


def _jsonl_chunk_by_line(lines: list[bytes], rows: list[int], fields: tuple[str, ...]) -> RawBatch:
    records: list[dict] = []
    kept_lines: list[bytes] = []
    kept_rows: list[int] = []
    unreadable: list[dict[str, Any]] = []
    for line_no, line in zip(rows, lines):
        try:
            record = json.loads(line)
        except UnicodeDecodeError:
            unreadable.append(_line_reject(line_no, REASON_UNDECODABLE, line))
            continue
        except ValueError:
            unreadable.append(_line_reject(line_no, REASON_INVALID_JSON, line))
            continue
        if not isinstance(record, dict):
            unreadable.append(_line_reject(line_no, REASON_NOT_AN_OBJECT, line))
            continue
        records.append(record)
        kept_lines.append(line)
        kept_rows.append(line_no)
    columns = {name: [r.get(name) for r in records] for name in fields}
    return RawBatch(columns=columns, rows=np.asarray(kept_rows, dtype=np.int64), raw=kept_lines,
                    unreadable=unreadable)


def _line_reject(line_no: int, reason: str, line: bytes) -> dict[str, Any]:
    text = line.decode("utf-8", errors="replace").rstrip("\r\n")
    return {"source_row": line_no, "reason": reason, "record": text[:MAX_RECORD_CHARS]}


def read_jsonl_gz(path: Path, fields: tuple[str, ...]) -> Iterator[RawBatch]:
    """:func:`read_jsonl` of a gzipped file."""
    return read_jsonl(path, fields, gz=True)
