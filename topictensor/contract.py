"""The raw input contract: what the pipeline accepts, and what happens to what breaks it.

Raw input lives under a prefix (``s3://bucket/prefix`` or a local directory), set by
``ingest.input_uri`` (S3 endpoint from ``store.endpoint_url``):

``<prefix>/posts/**`` -- files ``*.parquet``, ``*.jsonl`` or ``*.jsonl.gz``, one post per row/line:

=============  ===========================================================================
post_id        string (integers accepted and cast to string); required, unique
blogger_id     string (integers accepted); required; must be a blogger of ``bloggers/``
created_at     timestamp, or ISO 8601 string (``2024-05-01``, ``2024-05-01T10:00:00+03:00``);
               a time without offset is taken as UTC
tags           list of strings (raw, as written: ``#Café``, ``BMW``); may be null/absent/empty
               when ``caption`` is given: the caption's ``#tags`` are used instead
likes          integer >= 0 (a float with an integral value such as ``12.0`` is accepted)
lang           optional ISO 639-1 code (``ru``, ``pt-BR`` is read as ``pt``)
caption        optional string
=============  ===========================================================================

``<prefix>/bloggers/**`` -- same formats: ``blogger_id`` (required, unique), ``username``
(string, may be null), ``followers`` (integer >= 0), optional ``lang``.

Other fields are ignored. Paths with any component starting with ``_`` or ``.`` (``_truth/``,
``_SUCCESS``, ``.tmp``) are ignored. Rows are numbered from 0 in each file (``source_row``); in
JSONL the row number is the 0-based line number, and blank lines are not rows.

Whole-file failures (the ``ingest`` stage fails with ``ContractError`` naming the file): a file
that cannot be read at all (corrupt parquet, a ``.gz`` that is not gzip, an unknown extension),
no posts files at all (names the prefix), posts files without a single row, no bloggers files.

Row failures: the row goes to ``rejects.parquet`` (``source_file``, ``source_row``, ``reason``,
``record`` = the raw row as JSON text: the JSONL line as written, or a parquet row as JSON; cut at
2000 chars). Reasons are the ``REASON_*`` constants below: missing/invalid ids, a post_id or blogger_id seen
before (the first is kept), likes/followers missing, negative or not an integer, tags not a list
of strings, neither tags nor caption, created_at missing or unparsable, a lang that is not an
ISO 639-1 code, a caption or username that is not a string, a JSONL line that is not UTF-8, not
JSON, or not a JSON object, a Parquet string value (any field, tags included) whose bytes are not
UTF-8 (Parquet writers need not check it; the reason names the field), and a post whose blogger is not among the valid bloggers. Every input
row ends up either in the output or in the rejects. When the rejected share of all rows exceeds
``ingest.max_reject_share`` the stage fails, writes the rejects to ``rejects/<ingest key>/`` in
the artifact store for the operator, and leaves no artifact.

Tags are kept raw here. Normalisation (``topictensor.tags``) happens in the ``normalize`` stage,
which drops tags with invalid characters and then posts left without any tag (counted there, as
is a caption-only post whose caption holds no ``#tag``).
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from topictensor.errors import ContractError
from topictensor.store import ObjectInfo, Store
from topictensor.tags import extract_caption_tags

POSTS_DIR = "posts"
BLOGGERS_DIR = "bloggers"
FORMATS = (".parquet", ".jsonl", ".jsonl.gz")
MAX_RECORD_CHARS = 2000
JSONL_CHUNK_LINES = 100_000
PARQUET_BATCH_ROWS = 100_000

REASON_MISSING_POST_ID = "missing post_id"
REASON_INVALID_POST_ID = "invalid post_id (not a string or integer)"
REASON_DUPLICATE_POST_ID = "duplicate post_id"
REASON_DUPLICATE_ACROSS_PARTITIONS = "duplicate post_id (newer partition wins)"
REASON_MISSING_BLOGGER_ID = "missing blogger_id"
REASON_INVALID_BLOGGER_ID = "invalid blogger_id (not a string or integer)"
REASON_DUPLICATE_BLOGGER_ID = "duplicate blogger_id"
REASON_UNKNOWN_BLOGGER = "blogger_id not among the valid bloggers"
REASON_MISSING_LIKES = "missing likes"
REASON_INVALID_LIKES = "likes not a non-negative integer"
REASON_MISSING_FOLLOWERS = "missing followers"
REASON_INVALID_FOLLOWERS = "followers not a non-negative integer"
REASON_INVALID_TAGS = "tags not a list of strings"
REASON_NO_TAGS = "no tags and no caption"
REASON_MISSING_CREATED_AT = "missing created_at"
REASON_INVALID_CREATED_AT = "unparsable created_at"
REASON_INVALID_LANG = "lang not an ISO 639-1 code"
REASON_INVALID_CAPTION = "caption not a string"
REASON_INVALID_USERNAME = "username not a string"
REASON_UNDECODABLE = "undecodable text (not UTF-8)"
REASON_UNDECODABLE_FIELD = "undecodable text (not UTF-8) in {field}"
REASON_INVALID_JSON = "invalid JSON line"
REASON_NOT_AN_OBJECT = "JSON line is not an object"

TIMESTAMP = pa.timestamp("us", tz="UTC")
POSTS_SCHEMA = pa.schema([
    ("post_id", pa.string()),
    ("blogger_id", pa.string()),
    ("created_at", TIMESTAMP),
    ("tags", pa.list_(pa.string())),
    ("likes", pa.int64()),
    ("lang", pa.string()),
    ("caption", pa.string()),
    ("source_file", pa.string()),
    ("source_row", pa.int64()),
])
BLOGGERS_SCHEMA = pa.schema([
    ("blogger_id", pa.string()),
    ("username", pa.string()),
    ("followers", pa.int64()),
    ("lang", pa.string()),
    ("source_file", pa.string()),
    ("source_row", pa.int64()),
])
REJECTS_SCHEMA = pa.schema([
    ("source_file", pa.string()),
    ("source_row", pa.int64()),
    ("reason", pa.string()),
    ("record", pa.string()),
])
POST_FIELDS = ("post_id", "blogger_id", "created_at", "tags", "likes", "lang", "caption")
BLOGGER_FIELDS = ("blogger_id", "username", "followers", "lang")


# ----------------------------------------------------------------------------------- listing

def is_ignored(key: str) -> bool:
    """True for keys with a path component starting with '_' or '.' (metadata, truth, temp files)."""
    return any(part.startswith(("_", ".")) for part in key.split("/") if part)


def raw_files(store: Store, kind: str) -> list[ObjectInfo]:
    """The contract's files of one kind (``posts`` or ``bloggers``), sorted by key."""
    return [info for info in store.list_info(kind) if not is_ignored(info.key)]


def file_format(store: Store, key: str) -> str:
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if key.endswith(suffix):
            return suffix
    raise ContractError(
        f"{store.url(key)}: unknown file type; raw files must end with {', '.join(FORMATS)} "
        f"(or start with '_' or '.' to be ignored)"
    )


# ----------------------------------------------------------------------------------- reading

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


def undecodable_reason(field_name: str) -> str:
    """The reject reason of a row whose ``field_name`` holds bytes that are not UTF-8."""
    return REASON_UNDECODABLE_FIELD.format(field=field_name)


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _holds_text(t: pa.DataType) -> bool:
    return _is_text(t) or ((pa.types.is_list(t) or pa.types.is_large_list(t)) and _holds_text(t.value_type))


def _invalid_utf8_rows(array: pa.Array) -> np.ndarray | None:
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
    inner = _invalid_utf8_rows(pc.list_flatten(array))
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


def read_raw_file(store: Store, key: str, fields: tuple[str, ...]) -> Iterator[RawBatch]:
    """Stream a raw file in batches (parquet by row group, JSONL by chunks of lines)."""
    fmt = file_format(store, key)
    path = store.local_path(key)
    try:
        if fmt == ".parquet":
            yield from _read_parquet(path, fields)
        else:
            yield from _read_jsonl(path, fields, gz=fmt == ".jsonl.gz")
    except ContractError:
        raise
    except (OSError, EOFError, pa.ArrowException, ValueError) as exc:
        raise ContractError(f"{store.url(key)}: cannot read file ({type(exc).__name__}: {exc})") from exc


def _read_parquet(path: Path, fields: tuple[str, ...]) -> Iterator[RawBatch]:
    parquet = pq.ParquetFile(path)
    present = [name for name in fields if name in parquet.schema_arrow.names]
    offset = 0
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=present or None):
        n = batch.num_rows
        columns: dict[str, pa.Array | list] = {}
        undecodable: dict[str, np.ndarray] = {}
        for name in fields:
            column = batch.column(name) if name in present else pa.nulls(n)
            bad = _invalid_utf8_rows(column)
            if bad is not None and bad.any():
                undecodable[name] = bad
                column = pc.if_else(pa.array(bad), pa.nulls(n, column.type), column)
            columns[name] = column
        yield RawBatch(columns=columns, rows=np.arange(offset, offset + n, dtype=np.int64), raw=batch,
                       undecodable=undecodable)
        offset += n


# What well-formed JSONL rows look like to Arrow's JSON reader (the fast path). A chunk it cannot
# read this way (an integer post_id, likes written 3.0, a broken line) is parsed line by line.
_JSON_FAST_TYPES = {
    "post_id": pa.string(), "blogger_id": pa.string(), "created_at": pa.string(),
    "tags": pa.list_(pa.string()), "likes": pa.int64(), "lang": pa.string(), "caption": pa.string(),
    "username": pa.string(), "followers": pa.int64(),
}


def _read_jsonl(path: Path, fields: tuple[str, ...], *, gz: bool) -> Iterator[RawBatch]:
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


# -------------------------------------------------------------------------------- validation

class _Verdicts:
    """First reason each row fails for; rows without one are valid."""

    def __init__(self, n: int):
        self.reasons = np.full(n, None, dtype=object)
        self.bad = np.zeros(n, dtype=bool)

    def flag(self, mask: np.ndarray, reason: str) -> None:
        new = mask & ~self.bad
        if new.any():
            self.reasons[new] = reason
            self.bad |= new


def _undecodable_verdicts(batch: RawBatch, fields: tuple[str, ...]) -> _Verdicts:
    """Verdicts starting from the rows with undecodable text (first field in contract order wins)."""
    verdicts = _Verdicts(len(batch))
    for name in fields:
        if name in batch.undecodable:
            verdicts.flag(batch.undecodable[name], undecodable_reason(name))
    return verdicts


def _try_arrow(values: pa.Array | list) -> pa.Array | None:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError, ValueError):
        return None  # mixed types: checked value by value


def _np_mask(array: pa.Array) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)


def _to_pylist(values: pa.Array | list) -> list:
    return values if isinstance(values, list) else values.to_pylist()


def coerce_ids(values: pa.Array | list) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """(string ids, missing mask, invalid mask): strings are trimmed, integers cast."""
    array = _try_arrow(values)
    if array is not None and (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        ids = pc.utf8_trim_whitespace(array.cast(pa.string()))
        missing = _np_mask(pc.fill_null(pc.equal(ids, ""), True))
        return ids, missing, np.zeros(len(ids), dtype=bool)
    if array is not None and pa.types.is_integer(array.type):
        ids = array.cast(pa.string())
        return ids, _np_mask(ids.is_null()), np.zeros(len(ids), dtype=bool)
    if array is not None and pa.types.is_null(array.type):
        return pa.nulls(len(array), pa.string()), np.ones(len(array), dtype=bool), np.zeros(len(array), dtype=bool)
    out: list[str | None] = []
    invalid = []
    for v in _to_pylist(values):
        if isinstance(v, str):
            out.append(v.strip())
            invalid.append(False)
        elif isinstance(v, int) and not isinstance(v, bool):
            out.append(str(v))
            invalid.append(False)
        else:
            out.append(None)
            invalid.append(v is not None)
    ids = pa.array(out, type=pa.string())
    missing = _np_mask(pc.fill_null(pc.equal(ids, ""), True)) & ~np.asarray(invalid, dtype=bool)
    return ids, missing, np.asarray(invalid, dtype=bool)


def coerce_counts(values: pa.Array | list) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """(int64 counts, missing mask, invalid mask) for likes/followers: integers >= 0."""
    array = _try_arrow(values)
    n = len(values)
    if array is not None and pa.types.is_null(array.type):
        return pa.nulls(n, pa.int64()), np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    if array is not None and (pa.types.is_integer(array.type) or pa.types.is_floating(array.type)):
        as_float = array.cast(pa.float64())
        missing = _np_mask(as_float.is_null())
        x = as_float.to_numpy(zero_copy_only=False)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(x) & (x >= 0) & (np.floor(x) == x) & (x < 2.0**63)
        invalid = ~missing & ~ok
        if pa.types.is_integer(array.type):
            counts = array.cast(pa.int64(), safe=False)
        else:
            counts = pa.array(np.where(ok, x, 0).astype(np.int64), mask=~ok)
        return counts, missing, invalid
    out: list[int | None] = []
    missing_l, invalid_l = [], []
    for v in _to_pylist(values):
        value = None
        if isinstance(v, bool) or v is None:
            pass
        elif isinstance(v, int):
            value = v if 0 <= v < 2**63 else None
        elif isinstance(v, float) and v.is_integer() and 0 <= v < 2.0**63:
            value = int(v)
        out.append(value)
        missing_l.append(v is None)
        invalid_l.append(v is not None and value is None)
    return pa.array(out, type=pa.int64()), np.asarray(missing_l, dtype=bool), np.asarray(invalid_l, dtype=bool)


def coerce_timestamps(values: pa.Array | list) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """(timestamp[us, UTC], missing mask, invalid mask); naive times are taken as UTC."""
    array = _try_arrow(values)
    n = len(values)
    if array is not None and pa.types.is_null(array.type):
        return pa.nulls(n, TIMESTAMP), np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    if array is not None and (pa.types.is_timestamp(array.type) or pa.types.is_date(array.type)):
        if pa.types.is_timestamp(array.type) and array.type.tz is None:
            array = array.cast(pa.timestamp(array.type.unit, tz="UTC"))
        stamps = array.cast(TIMESTAMP, safe=False)
        missing = _np_mask(stamps.is_null())
        return stamps, missing, np.zeros(n, dtype=bool)
    if array is not None and (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        texts = array.to_pandas()
        not_text = np.zeros(n, dtype=bool)
    else:
        items = _to_pylist(values)
        texts = pd.Series([v if isinstance(v, str) else None for v in items], dtype=object)
        not_text = np.asarray([v is not None and not isinstance(v, str) for v in items], dtype=bool)
    missing = texts.isna().to_numpy() & ~not_text
    parsed = pd.to_datetime(texts, format="ISO8601", utc=True, errors="coerce")
    stamps = pa.array(parsed, type=TIMESTAMP, from_pandas=True)
    invalid = _np_mask(stamps.is_null()) & ~missing
    return stamps, missing, invalid


def coerce_tags(values: pa.Array | list) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """(list<string> with null for absent or empty lists, absent mask, invalid mask)."""
    array = _try_arrow(values)
    n = len(values)
    list_type = pa.list_(pa.string())
    if array is not None and pa.types.is_null(array.type):
        return pa.nulls(n, list_type), np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    if array is not None and (pa.types.is_list(array.type) or pa.types.is_large_list(array.type)):
        lengths = pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False)
        absent = lengths == 0
        flat = pc.list_flatten(array)
        invalid = np.zeros(n, dtype=bool)
        value_type = array.type.value_type
        if not (pa.types.is_string(value_type) or pa.types.is_large_string(value_type)):
            invalid = ~absent  # a non-empty list of numbers, nulls, ...
        elif flat.null_count:
            parents = pc.list_parent_indices(array).to_numpy(zero_copy_only=False)
            invalid[np.unique(parents[_np_mask(flat.is_null())])] = True
        if invalid.any() or not pa.types.is_string(value_type):
            keep = ~invalid & ~absent
            tags = pa.array([v if k else None for v, k in zip(array.to_pylist(), keep)], type=list_type)
        else:
            tags = array.cast(list_type)
            tags = pc.if_else(pa.array(absent), pa.nulls(n, list_type), tags)
        return tags, absent, invalid
    if array is not None and (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        absent = _np_mask(array.is_null())
        return pa.nulls(n, list_type), absent, ~absent
    out, absent_l, invalid_l = [], [], []
    for v in _to_pylist(values):
        ok_list = isinstance(v, (list, tuple)) and all(isinstance(t, str) for t in v)
        is_absent = v is None or (ok_list and len(v) == 0)
        out.append(list(v) if ok_list and not is_absent else None)
        absent_l.append(is_absent)
        invalid_l.append(not is_absent and not ok_list)
    return pa.array(out, type=list_type), np.asarray(absent_l, dtype=bool), np.asarray(invalid_l, dtype=bool)


def coerce_optional_text(values: pa.Array | list) -> tuple[pa.Array, np.ndarray]:
    """(string or null, invalid mask) for optional text fields; empty strings become null."""
    array = _try_arrow(values)
    n = len(values)
    if array is not None and pa.types.is_null(array.type):
        return pa.nulls(n, pa.string()), np.zeros(n, dtype=bool)
    if array is not None and (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        text = array.cast(pa.string())
    else:
        items = _to_pylist(values)
        invalid = np.asarray([v is not None and not isinstance(v, str) for v in items], dtype=bool)
        text = pa.array([v if isinstance(v, str) else None for v in items], type=pa.string())
        text = pc.if_else(pc.equal(pc.utf8_trim_whitespace(text), ""), pa.scalar(None, pa.string()), text)
        return text, invalid
    text = pc.if_else(pc.equal(pc.utf8_trim_whitespace(text), ""), pa.scalar(None, pa.string()), text)
    return text, np.zeros(n, dtype=bool)


def coerce_lang(values: pa.Array | list) -> tuple[pa.Array, np.ndarray]:
    """(lowercase ISO 639-1 code or null, invalid mask): ``pt-BR`` -> ``pt``."""
    text, invalid = coerce_optional_text(values)
    primary = pc.utf8_lower(pc.utf8_trim_whitespace(text))
    primary = pc.list_element(pc.split_pattern_regex(primary, r"[-_]"), 0)
    ok = pc.fill_null(pc.match_substring_regex(primary, r"^[a-z]{2}$"), True)
    invalid = invalid | ~_np_mask(ok)
    return pc.if_else(ok, primary, pa.scalar(None, pa.string())), invalid


@dataclass
class CheckedBatch:
    table: pa.Table  # valid rows in the output schema
    rejects: list[dict[str, Any]]


def check_posts(batch: RawBatch, source_file: str, known_bloggers: pa.Array | pd.Index | None) -> CheckedBatch:
    """Validate a batch of posts against the contract, vectorised per field. ``known_bloggers``
    as a pandas Index is hashed once for all batches (an Arrow array is hashed per batch); None
    skips the blogger check (a date partition is checked against the bloggers snapshot later)."""
    n = len(batch)
    c = batch.columns
    verdicts = _undecodable_verdicts(batch, POST_FIELDS)
    post_id, missing, invalid = coerce_ids(c["post_id"])
    verdicts.flag(missing, REASON_MISSING_POST_ID)
    verdicts.flag(invalid, REASON_INVALID_POST_ID)
    blogger_id, missing, invalid = coerce_ids(c["blogger_id"])
    verdicts.flag(missing, REASON_MISSING_BLOGGER_ID)
    verdicts.flag(invalid, REASON_INVALID_BLOGGER_ID)
    created_at, missing, invalid = coerce_timestamps(c["created_at"])
    verdicts.flag(missing, REASON_MISSING_CREATED_AT)
    verdicts.flag(invalid, REASON_INVALID_CREATED_AT)
    likes, missing, invalid = coerce_counts(c["likes"])
    verdicts.flag(missing, REASON_MISSING_LIKES)
    verdicts.flag(invalid, REASON_INVALID_LIKES)
    caption, invalid = coerce_optional_text(c["caption"])
    verdicts.flag(invalid, REASON_INVALID_CAPTION)
    tags, absent, invalid = coerce_tags(c["tags"])
    verdicts.flag(invalid, REASON_INVALID_TAGS)
    verdicts.flag(absent & _np_mask(caption.is_null()), REASON_NO_TAGS)
    lang, invalid = coerce_lang(c["lang"])
    verdicts.flag(invalid, REASON_INVALID_LANG)
    if isinstance(known_bloggers, pd.Index):
        ids = np.asarray(blogger_id.to_numpy(zero_copy_only=False), dtype=object)
        known = known_bloggers.get_indexer(ids) >= 0
        verdicts.flag(~known, REASON_UNKNOWN_BLOGGER)
    elif known_bloggers is not None:
        known = _np_mask(pc.is_in(blogger_id, value_set=known_bloggers))
        verdicts.flag(~known, REASON_UNKNOWN_BLOGGER)

    from_caption = np.flatnonzero(absent & ~verdicts.bad)
    if len(from_caption):  # tags absent: the caption's #tags stand in, spliced in with one take
        captions = caption.take(pa.array(from_caption)).to_pylist()
        extracted = pa.array([extract_caption_tags(text) for text in captions], type=tags.type)
        index = np.arange(n, dtype=np.int64)
        index[from_caption] = n + np.arange(len(from_caption))
        tags = pa.concat_arrays([tags, extracted]).take(pa.array(index))

    table = pa.table({
        "post_id": post_id,
        "blogger_id": blogger_id,
        "created_at": created_at,
        "tags": tags,
        "likes": likes,
        "lang": lang,
        "caption": caption,
        "source_file": pa.array(np.full(n, source_file, dtype=object), type=pa.string()),
        "source_row": pa.array(batch.rows, type=pa.int64()),
    }, schema=POSTS_SCHEMA)
    return _split(table, verdicts, batch, source_file)


def check_bloggers(batch: RawBatch, source_file: str) -> CheckedBatch:
    n = len(batch)
    c = batch.columns
    verdicts = _undecodable_verdicts(batch, BLOGGER_FIELDS)
    blogger_id, missing, invalid = coerce_ids(c["blogger_id"])
    verdicts.flag(missing, REASON_MISSING_BLOGGER_ID)
    verdicts.flag(invalid, REASON_INVALID_BLOGGER_ID)
    username, invalid = coerce_optional_text(c["username"])
    verdicts.flag(invalid, REASON_INVALID_USERNAME)
    followers, missing, invalid = coerce_counts(c["followers"])
    verdicts.flag(missing, REASON_MISSING_FOLLOWERS)
    verdicts.flag(invalid, REASON_INVALID_FOLLOWERS)
    lang, invalid = coerce_lang(c["lang"])
    verdicts.flag(invalid, REASON_INVALID_LANG)
    table = pa.table({
        "blogger_id": blogger_id,
        "username": username,
        "followers": followers,
        "lang": lang,
        "source_file": pa.array(np.full(n, source_file, dtype=object), type=pa.string()),
        "source_row": pa.array(batch.rows, type=pa.int64()),
    }, schema=BLOGGERS_SCHEMA)
    return _split(table, verdicts, batch, source_file)


def _split(table: pa.Table, verdicts: _Verdicts, batch: RawBatch, source_file: str) -> CheckedBatch:
    rejects = [dict(r, source_file=source_file) for r in batch.unreadable]
    for i in np.flatnonzero(verdicts.bad):
        rejects.append({
            "source_file": source_file,
            "source_row": int(batch.rows[i]),
            "reason": verdicts.reasons[i],
            "record": batch.record(int(i)),
        })
    return CheckedBatch(table=table.filter(pa.array(~verdicts.bad)), rejects=rejects)


def first_occurrences(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Boolean mask: True where the id appears for the first time (in order)."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks() if ids.num_chunks else pa.array([], pa.string())
    keep = np.zeros(len(ids), dtype=bool)
    if len(ids) == 0:
        return keep
    codes = pc.dictionary_encode(ids).indices.to_numpy(zero_copy_only=False)
    _, first = np.unique(codes, return_index=True)
    keep[first] = True
    return keep


def rejects_table(rejects: list[dict[str, Any]]) -> pa.Table:
    """The rejects in file and row order, in ``REJECTS_SCHEMA``."""
    ordered = sorted(rejects, key=lambda r: (r["source_file"], r["source_row"]))
    return pa.Table.from_pylist(
        [{name: r[name] for name in REJECTS_SCHEMA.names} for r in ordered], schema=REJECTS_SCHEMA
    )
