"""The one definition of a normalised hashtag, shared by training (normalize stage) and queries.

Rule: strip whitespace and leading ``#``; Unicode NFKC (full-width letters become ASCII);
lowercase; Russian ``ё`` -> ``е``; diacritics are removed from LATIN letters only (``é`` -> ``e``,
``ü`` -> ``u``, ``ç`` -> ``c``, ``ñ`` -> ``n``, ``ß`` -> ``ss``, plus the undecomposable ``ø ł đ æ œ``)
while Cyrillic, Greek, CJK and other scripts keep their letters as written (``й`` stays ``й``).
What is left must consist of Unicode letters, decimal digits and ``_`` (Instagram's rule; combining
marks are allowed after a letter because scripts such as Devanagari or Thai need them) and be
1..max_length characters long.

A tag with any other character (emoji, punctuation, spaces inside) is DROPPED, not repaired:
``"summer!"`` is not silently turned into ``"summer"``, because a repaired tag is a different
word the blogger never wrote. Captions are different: there a ``#tag`` ends at the first character
that cannot be part of a tag, exactly as Instagram links it (see ``extract_caption_tags``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DEFAULT_MAX_LENGTH = 64

# Latin letters that NFKD does not decompose into base + combining mark.
_LATIN_SPECIAL = str.maketrans({"ß": "ss", "ø": "o", "ł": "l", "đ": "d", "ħ": "h", "æ": "ae", "œ": "oe",
                                "ı": "i"})
_ASCII_TAG = re.compile(r"[a-z0-9_]+")
# Caption hashtags: a chain of '#word' not glued to a preceding word (nor a URL fragment or HTML
# entity); '#love#sun' is two tags, as Instagram links it. Python's \w is Unicode-aware (letters,
# digits, '_'); combining-mark blocks are added for scripts whose letters need them.
_TAG_CHARS = r"[\w\u0300-\u036f\u0900-\u0dff\u0e00-\u0e7f]+"
_CAPTION_TAG_CHAIN = re.compile(rf"(?<![\w/&])((?:#{_TAG_CHARS})+)")


def normalize_tag(raw: str, max_length: int = DEFAULT_MAX_LENGTH) -> str | None:
    """The normalised form of one tag, or None when nothing valid is left (see module docstring)."""
    if not isinstance(raw, str):
        return None
    return _normalize_cached(raw, max_length)


@lru_cache(maxsize=1 << 20)
def _normalize_cached(raw: str, max_length: int) -> str | None:
    text = raw.strip().lstrip("#").strip()
    if text.isascii():  # fast path: most tags are plain ASCII
        text = text.lower()
        if _ASCII_TAG.fullmatch(text) and len(text) <= max_length:
            return text
        return None
    text = unicodedata.normalize("NFKC", text).lower().replace("ё", "е").translate(_LATIN_SPECIAL)
    text = _strip_latin_diacritics(text)
    if not text or len(text) > max_length or not _is_valid(text):
        return None
    return text


def _strip_latin_diacritics(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    out: list[str] = []
    base_is_latin = False
    for ch in decomposed:
        if unicodedata.combining(ch):
            if base_is_latin:
                continue  # an accent on a Latin letter: drop it
            out.append(ch)
            continue
        base_is_latin = _is_latin_letter(ch)
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


@lru_cache(maxsize=4096)
def _is_latin_letter(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("LATIN ")


def _is_valid(text: str) -> bool:
    previous_is_letter = False
    for ch in text:
        category = unicodedata.category(ch)
        if category[0] == "L" or category == "Nd" or ch == "_":
            previous_is_letter = category[0] == "L"
        elif category[0] == "M" and previous_is_letter:
            continue  # vowel signs and other marks that belong to the letter before them
        else:
            return False
    return True


def normalize_tags(raw_tags: list[str] | None, max_length: int = DEFAULT_MAX_LENGTH) -> list[str]:
    """Normalise a post's tags, dropping invalid ones and repeats (first occurrence wins)."""
    seen: dict[str, None] = {}
    for raw in raw_tags or ():
        tag = normalize_tag(raw, max_length)
        if tag is not None:
            seen.setdefault(tag, None)
    return list(seen)


def extract_caption_tags(caption: str | None) -> list[str]:
    """The raw ``#tag`` texts of a caption, in order, without '#', not normalised or deduplicated."""
    if not caption:
        return []
    chains = _CAPTION_TAG_CHAIN.findall(unicodedata.normalize("NFC", caption))
    return [tag for chain in chains for tag in chain.split("#") if tag]


@dataclass(frozen=True)
class NormalizedTagColumn:
    """Result of normalising a whole column of tag lists, with what happened to the occurrences."""

    tags: pa.ListArray  # list<string>, one list per input row (possibly empty), never null
    tags_in: int  # raw tag occurrences
    tags_out: int  # occurrences kept (valid and first in their post)
    tags_invalid: int  # occurrences whose tag normalised to nothing
    tags_duplicate: int  # valid occurrences that repeated an earlier tag of the same post


def normalize_tag_column(tags: pa.Array | pa.ChunkedArray, max_length: int = DEFAULT_MAX_LENGTH) -> NormalizedTagColumn:
    """Vectorised ``normalize_tags`` over a list<string> column: each distinct raw tag is
    normalised once (vocabularies repeat heavily), then the lists are rebuilt with Arrow."""
    if isinstance(tags, pa.ChunkedArray):
        tags = tags.combine_chunks() if tags.num_chunks else pa.array([], type=pa.list_(pa.string()))
    tags = pc.fill_null(tags, pa.scalar([], type=tags.type)) if tags.null_count else tags
    n_rows = len(tags)
    flat = pc.list_flatten(tags)
    parent = pc.list_parent_indices(tags).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    tags_in = len(flat)
    if tags_in == 0:
        empty = pa.ListArray.from_arrays(pa.array(np.zeros(n_rows + 1, dtype=np.int32)), pa.array([], pa.string()))
        return NormalizedTagColumn(empty, 0, 0, 0, 0)

    # Values read dictionary-coded from parquet are mapped by their dictionary, not hashed again.
    encoded = flat if pa.types.is_dictionary(flat.type) else pc.dictionary_encode(flat.cast(pa.string()))
    dictionary = encoded.dictionary.to_pylist()
    normalised = [normalize_tag(raw, max_length) if raw is not None else None for raw in dictionary]
    # Map raw dictionary entries to a dictionary of normalised tags (several raws -> one tag).
    norm_codes: dict[str, int] = {}
    raw_to_norm = np.full(len(dictionary), -1, dtype=np.int64)
    for i, tag in enumerate(normalised):
        if tag is not None:
            raw_to_norm[i] = norm_codes.setdefault(tag, len(norm_codes))
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    indices = np.where(encoded.indices.is_valid().to_numpy(zero_copy_only=False), indices, 0)
    codes = raw_to_norm[indices] if len(dictionary) else np.full(tags_in, -1, dtype=np.int64)
    if flat.null_count:
        codes = np.where(flat.is_valid().to_numpy(zero_copy_only=False), codes, -1)

    valid = codes >= 0
    tags_invalid = int((~valid).sum())
    # First occurrence of each (post, tag) pair, keeping the original order.
    pair = parent[valid] * max(len(norm_codes), 1) + codes[valid]
    _, first = np.unique(pair, return_index=True)
    keep_positions = np.flatnonzero(valid)[np.sort(first)]
    tags_out = len(keep_positions)

    kept_parent = parent[keep_positions]
    counts = np.bincount(kept_parent, minlength=n_rows)
    offsets = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    vocabulary = pa.array(list(norm_codes), type=pa.string())
    values = vocabulary.take(pa.array(codes[keep_positions]))
    out = pa.LargeListArray.from_arrays(pa.array(offsets), values).cast(pa.list_(pa.string()))
    return NormalizedTagColumn(
        tags=out,
        tags_in=tags_in,
        tags_out=tags_out,
        tags_invalid=tags_invalid,
        tags_duplicate=tags_in - tags_out - tags_invalid,
    )
