"""The contract's rules: each field coerced to its type (``coerce_*``: values, missing mask,
invalid mask) and each row checked (:func:`check_posts`, :func:`check_bloggers`): a row fails for
the first rule it breaks, in the contract's field order, and becomes a reject naming the file, the
row and the reason; every row is either in the output or among the rejects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from topictensor.contract.batch import RawBatch
from topictensor.contract.schema import (
    BLOGGER_FIELDS, BLOGGERS_SCHEMA, POST_FIELDS, POSTS_SCHEMA, REASON_INVALID_BLOGGER_ID, REASON_INVALID_CAPTION,
    REASON_INVALID_CREATED_AT, REASON_INVALID_FOLLOWERS, REASON_INVALID_LANG, REASON_INVALID_LIKES,
    REASON_INVALID_POST_ID, REASON_INVALID_TAGS, REASON_INVALID_USERNAME, REASON_MISSING_BLOGGER_ID,
    REASON_MISSING_CREATED_AT, REASON_MISSING_FOLLOWERS, REASON_MISSING_LIKES, REASON_MISSING_POST_ID,
    REASON_NO_TAGS, REASON_UNKNOWN_BLOGGER, REJECTS_SCHEMA, TIMESTAMP, undecodable_reason,
)
from topictensor.tags import extract_caption_tags


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
