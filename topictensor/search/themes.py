"""Themes: a weighted list of tags turned into one direction in the embedding space.

Query syntax: ``apple, iphone:-1, macbook:-0.05`` -- comma-separated tags, each with an optional
``:weight`` (default 1; negative weights subtract a meaning). Whitespace around items and a
leading ``#`` are fine; empty items (``a,,b``) are skipped. Every tag is normalised with
``topictensor.tags.normalize_tag``, the rule training used, so ``#BMW`` finds ``bmw``. A tag
repeated in one query has its weights added.

The theme vector is the weighted sum of the tags' unit vectors, unit-normalised. Tags the model
does not know are reported back in ``Theme.unknown`` (the rest of the query still runs); a query
with nothing usable raises :class:`QueryError`, which the API maps to HTTP 400 and the CLI to
exit code 2 (3 when none of its tags is known: :class:`UnknownTagsError`).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from topictensor.embeddings import Embeddings
from topictensor.errors import NotFound, TopicTensorError
from topictensor.tags import normalize_tag


MAX_WEIGHT = 1e6  # only ratios of weights matter; beyond this a sum of squares could overflow


class QueryError(TopicTensorError, ValueError):
    """A query that cannot be answered as written (empty, malformed weight, only unknown tags,
    out-of-range top-k, unknown blogger id ...). The message says what to fix."""


class NotFoundError(QueryError, NotFound):
    """The query names something that does not exist (a blogger id); HTTP 404."""


class UnknownTagsError(QueryError, NotFound):
    """None of the query's tags is known to the model (HTTP 400: the query is what to change)."""


@dataclass(frozen=True)
class Term:
    """One item of a query: as written, normalised (None if invalid), its weight."""

    raw: str
    tag: str | None
    weight: float


@dataclass
class Theme:
    """A parsed query and its unit vector; ``unknown`` lists items the model could not use."""

    query: str
    terms: list[Term]
    vector: np.ndarray
    tags: list[str] = field(default_factory=list)  # the known tags used (any weight sign)
    unknown: list[str] = field(default_factory=list)  # items as written that the model lacks


@dataclass(frozen=True)
class TagHit:
    tag: str
    relevance: float  # cosine similarity to the theme
    count: int  # uses of the tag in the training corpus (popularity)


def parse_query(text: str, max_terms: int = 50) -> list[Term]:
    """Split ``tag[:weight], ...`` into terms; raises QueryError naming the offending item."""
    if text is None or not str(text).strip():
        raise QueryError("empty query: give one or more tags, e.g. 'apple, iphone:-1'")
    items = [item.strip() for item in str(text).split(",")]
    items = [item for item in items if item]
    if not items:
        raise QueryError(f"query {text!r} has no tags, only separators")
    if len(items) > max_terms:
        raise QueryError(f"query has {len(items)} tags; at most {max_terms} are allowed")
    terms: list[Term] = []
    for item in items:
        raw, weight = item, 1.0
        if ":" in item:
            raw, _, weight_text = item.rpartition(":")
            raw, weight_text = raw.strip(), weight_text.strip()
            try:
                weight = float(weight_text)
            except ValueError:
                raise QueryError(f"malformed weight {weight_text!r} in {item!r}: write tag:NUMBER, e.g. iphone:-1") from None
            if not math.isfinite(weight):
                raise QueryError(f"weight of {raw!r} must be a finite number, got {weight_text!r}")
            if abs(weight) > MAX_WEIGHT:
                raise QueryError(f"weight of {raw!r} must be between -{MAX_WEIGHT:g} and {MAX_WEIGHT:g}, got {weight_text}")
            if not raw:
                raise QueryError(f"item {item!r} has a weight but no tag")
        terms.append(Term(raw=raw, tag=normalize_tag(raw), weight=weight))
    return terms


def build_theme(text: str, emb: Embeddings, max_terms: int = 50) -> Theme:
    """Parse a query and sum its known tags' unit vectors by weight (see module docstring)."""
    terms = parse_query(text, max_terms)
    unit = emb.normalized()
    vector = np.zeros(emb.dim, dtype=np.float64)
    unknown: list[str] = []
    known: list[str] = []
    for term in terms:
        if term.tag is None or term.tag not in emb.index:
            if term.raw not in unknown:
                unknown.append(term.raw)
            continue
        vector += term.weight * unit[emb.index[term.tag]]
        if term.tag not in known:
            known.append(term.tag)
    if not known:
        raise UnknownTagsError(f"none of the query's tags is known to the model: {', '.join(map(repr, unknown))}")
    norm = float(np.linalg.norm(vector))
    if norm < 1e-6:
        raise QueryError(f"the weights of {text!r} cancel out: the theme has no direction")
    return Theme(query=text, terms=terms, vector=(vector / norm).astype(np.float32), tags=known,
                 unknown=unknown)


def nearest_tags(emb: Embeddings, theme: Theme, top: int, *, include_query_tags: bool = False) -> list[TagHit]:
    """The ``top`` tags most cosine-similar to the theme. The query's own tags are left out by
    default: the user knows them already, and listing them pushes new tags off the page."""
    exclude = () if include_query_tags else theme.tags
    return [TagHit(tag, relevance, int(emb.counts[emb.index[tag]]))
            for tag, relevance in emb.neighbours(theme.vector, k=top, exclude=exclude)]


class TagSuggester:
    """Autocomplete: the most used tags starting with a prefix (normalised like tags)."""

    def __init__(self, emb: Embeddings):
        self._emb = emb

    @cached_property
    def _sorted(self) -> tuple[list[str], np.ndarray]:
        order = np.argsort(self._emb.tags.astype(str), kind="stable")
        return [str(t) for t in self._emb.tags[order]], order

    def suggest(self, prefix: str, limit: int = 10) -> list[TagHit]:
        """Tags starting with ``prefix``, most used first; an empty prefix gives the most used tags."""
        text = (prefix or "").strip().lstrip("#").strip()
        if not text:
            order = np.argsort(-self._emb.counts, kind="stable")[:limit]
            return [TagHit(str(self._emb.tags[i]), 1.0, int(self._emb.counts[i])) for i in order]
        norm = normalize_tag(text)
        if norm is None:
            return []
        tags, order = self._sorted
        lo = bisect.bisect_left(tags, norm)
        hi = bisect.bisect_left(tags, norm + "\U0010ffff")
        rows = order[lo:hi]
        if len(rows) > limit:
            counts = self._emb.counts[rows]
            rows = rows[np.argpartition(-counts, limit - 1)[:limit]]
        rows = sorted(rows, key=lambda i: (-int(self._emb.counts[i]), str(self._emb.tags[i])))
        return [TagHit(str(self._emb.tags[i]), 1.0, int(self._emb.counts[i])) for i in rows[:limit]]
