"""Themes: a weighted list of tags turned into one direction in the embedding space.

Query syntax: ``apple, iphone:-1, macbook:-0.05`` -- comma-separated tags, each with an optional
``:weight`` (default 1; negative weights subtract a meaning). Whitespace around items and a
leading ``#`` are fine; empty items (``a,,b``) are skipped. Every tag is normalised with
``topictensor.tags.normalize_tag``, the rule training used, so ``#BMW`` finds ``bmw`` -- with the
model's own ``max_tag_length`` (the ``normalize.max_tag_length`` its posts were normalised with,
recorded in its version: :class:`topictensor.search.model.SearchModel`). A tag
repeated in one query has its weights added.

The theme vector is the weighted sum of the tags' unit vectors, unit-normalised. Tags the model
does not know are reported back in ``Theme.unknown`` (the rest of the query still runs); a query
with nothing usable raises :class:`QueryError`, which the API maps to HTTP 400 and the CLI to
exit code 2 (3 when none of its tags is known: :class:`UnknownTagsError`) -- and exit code 2 too for a query whose usable tags all have negative weights: subtracting a
meaning needs something to subtract it from.

An unknown tag gets "did you mean" suggestions from the vocabulary (:meth:`TagSuggester.did_you_mean`:
tags it is the start of, then tags within a small edit distance), and an item holding spaces
(``bmw audi``: tags separated by spaces, not commas) a hint to separate them with commas.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

import numpy as np

from topictensor.embeddings import Embeddings
from topictensor.errors import NotFound, TopicTensorError
from topictensor.ranking import rank_rows
from topictensor.tags import DEFAULT_MAX_LENGTH, normalize_tag


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
    suggestions: dict[str, list[str]] = field(default_factory=dict)  # unknown item -> known tags like it
    hints: list[str] = field(default_factory=list)  # how to write the query better (spaces for commas)


@dataclass(frozen=True)
class TagHit:
    tag: str
    relevance: float  # cosine similarity to the theme
    count: int  # uses of the tag in the training corpus (popularity)


def parse_query(text: str, max_terms: int = 50, max_tag_length: int = DEFAULT_MAX_LENGTH) -> list[Term]:
    """Split ``tag[:weight], ...`` into terms, each tag normalised as training did (tags longer than
    ``max_tag_length`` are invalid: None); raises QueryError naming the offending item."""
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
        terms.append(Term(raw=raw, tag=normalize_tag(raw, max_tag_length), weight=weight))
    return terms


def build_theme(text: str, emb: Embeddings, max_terms: int = 50,
                suggester: "TagSuggester | None" = None, max_tag_length: int | None = None) -> Theme:
    """Parse a query and sum its known tags' unit vectors by weight (see module docstring).
    ``max_tag_length``: the model's (None: the suggester's, else the default)."""
    if max_tag_length is None:
        max_tag_length = suggester.max_tag_length if suggester is not None else DEFAULT_MAX_LENGTH
    terms = parse_query(text, max_terms, max_tag_length)
    unit = emb.normalized()
    vector = np.zeros(emb.dim, dtype=np.float64)
    unknown: list[str] = []
    known: list[str] = []
    weight: dict[str, float] = {}
    for term in terms:
        if term.tag is None or term.tag not in emb.index:
            if term.raw not in unknown:
                unknown.append(term.raw)
            continue
        vector += term.weight * unit[emb.index[term.tag]]
        weight[term.tag] = weight.get(term.tag, 0.0) + term.weight
        if term.tag not in known:
            known.append(term.tag)
    suggester = suggester or TagSuggester(emb, max_tag_length=max_tag_length)
    suggestions = {raw: suggester.did_you_mean(raw) for raw in unknown}
    suggestions = {raw: tags for raw, tags in suggestions.items() if tags}
    hints = [hint for hint in (space_hint(raw, emb, max_tag_length) for raw in unknown) if hint]
    if not known:
        raise UnknownTagsError(f"none of the query's tags is known to the model: "
                         f"{describe_unknown(unknown, suggestions)}" + "".join(f"; {h}" for h in hints))
    if not any(w > 0 for w in weight.values()) and any(w < 0 for w in weight.values()):
        lost = [t.raw for t in terms if t.weight > 0 and t.raw in unknown]
        raise QueryError(
            "the query has only negative weights" + (f" among the tags the model knows (unknown: "
                                                     f"{describe_unknown(lost, suggestions)})" if lost else "")
            + ": a negative weight subtracts a meaning from the others, so add at least one tag with a "
            "positive weight, e.g. 'apple, iphone:-1'")
    norm = float(np.linalg.norm(vector))
    if norm < 1e-6:
        raise QueryError(f"the weights of {text!r} cancel out: the theme has no direction")
    return Theme(query=text, terms=terms, vector=(vector / norm).astype(np.float32), tags=known,
                 unknown=unknown, suggestions=suggestions, hints=hints)


def describe_unknown(unknown: list[str], suggestions: dict[str, list[str]]) -> str:
    """``'bwm' (did you mean bmw, bmwm?), 'xyz'``."""
    return ", ".join(f"{raw!r}" + (f" (did you mean {', '.join(suggestions[raw])}?)" if suggestions.get(raw) else "")
                     for raw in unknown)


def space_hint(raw: str, emb: Embeddings, max_tag_length: int = DEFAULT_MAX_LENGTH) -> str | None:
    """A hint for an item holding spaces (``bmw audi``): several tags separated by spaces, not commas."""
    words = [w for w in str(raw).split() if w]
    if len(words) < 2:
        return None
    fixed = ", ".join(words)
    known = [w for w in words if normalize_tag(w, max_tag_length) in emb.index]
    return (f"{raw!r} holds spaces: separate tags with commas, e.g. '{fixed}'"
            + (f" ({', '.join(known)} {'is' if len(known) == 1 else 'are'} known)" if known else ""))


class RankedTags(NamedTuple):
    hits: list[TagHit]
    nearest: float  # the best cosine among every candidate tag (-inf: none): the relative cut-off's reference


def nearest_tags(emb: Embeddings, theme: Theme, top: int, *, include_query_tags: bool = False,
                 exclude: Iterable[str] = (), penalty: np.ndarray | None = None) -> list[TagHit]:
    """The ``top`` tags nearest the theme (see :func:`ranked_tags`)."""
    return ranked_tags(emb, theme, top, include_query_tags=include_query_tags, exclude=exclude, penalty=penalty).hits


def ranked_tags(emb: Embeddings, theme: Theme, top: int, *, include_query_tags: bool = False,
                exclude: Iterable[str] = (), penalty: np.ndarray | None = None) -> RankedTags:
    """The ``top`` tags nearest the theme: by cosine, or by cosine + ``penalty`` (one number per tag,
    :func:`topictensor.ranking.popularity_penalty`; the hits' relevance is still the cosine), and
    the best cosine of every candidate (which the penalty may have kept off the list), so that a
    cut-off relative to it does not depend on ``top``.
    The query's own tags are left out by default (the user knows them already, and listing them
    pushes new tags off the page), and so are the ``exclude`` tags."""
    skip = set(exclude) if include_query_tags else {*exclude, *theme.tags}
    sims = emb.normalized() @ theme.vector
    skipped = sorted({emb.index[t] for t in skip if t in emb.index})
    rows = rank_rows(sims, top, skipped, penalty)
    candidates = np.delete(sims, skipped) if skipped else sims
    nearest = float(candidates.max()) if len(candidates) else -math.inf
    return RankedTags([TagHit(str(emb.tags[i]), float(sims[i]), int(emb.counts[i])) for i in rows], nearest)


class TagSuggester:
    """Autocomplete: the most used tags starting with a prefix (normalised like tags); and "did you
    mean" for unknown tags (prefix over every tag, edit distance over the ``edit_vocabulary`` most
    used: benchmarks/bench_suggest.py measured ~40 ms a lookup over 100,000 tags, ~2.6 s over 1M)."""

    def __init__(self, emb: Embeddings, edit_vocabulary: int = 100_000, max_tag_length: int = DEFAULT_MAX_LENGTH):
        self._emb = emb
        self._edit_vocabulary = edit_vocabulary
        self.max_tag_length = max_tag_length  # the model's: prefixes and unknown tags normalised as its tags were

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
        norm = normalize_tag(text, self.max_tag_length)
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

    # did you mean ----------------------------------------------------------------------------
    @cached_property
    def _by_length(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """The ``edit_vocabulary`` most used tags grouped by length: ``length -> (code points (n x length)
        int32, tag rows)``."""
        groups: dict[int, list[int]] = {}
        rows = np.arange(len(self._emb))
        if len(rows) > self._edit_vocabulary:
            rows = np.sort(np.argsort(-self._emb.counts, kind="stable")[:self._edit_vocabulary])
        for i in rows.tolist():
            groups.setdefault(len(self._emb.tags[i]), []).append(i)
        out = {}
        for length, rows in groups.items():
            text = "".join(str(self._emb.tags[i]) for i in rows)
            codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int32)
            out[length] = (codes.reshape(len(rows), length), np.asarray(rows, dtype=np.int64))
        return out

    def near(self, word: str, max_distance: int) -> list[tuple[int, int]]:
        """``(distance, tag row)`` of every tag within ``max_distance`` edits of ``word`` (insertions,
        deletions, substitutions and swaps of neighbours: optimal string alignment distance).

        One dynamic programme per tag length, vectorised over all tags of that length (a few numpy
        operations per character pair), so a 1M-tag vocabulary is searched without a Python loop per tag."""
        query = np.frombuffer(word.encode("utf-32-le"), dtype=np.uint32).astype(np.int32)
        n = len(query)
        out: list[tuple[int, int]] = []
        for length in range(max(1, n - max_distance), n + max_distance + 1):
            group = self._by_length.get(length)
            if group is None:
                continue
            codes, rows = group
            # previous[:, j] = distance between query[:i] and tag[:j], for every tag of this length.
            previous = np.broadcast_to(np.arange(length + 1, dtype=np.int32), (len(rows), length + 1)).copy()
            before = previous
            for i in range(1, n + 1):
                current = np.empty_like(previous)
                current[:, 0] = i
                cost = (codes != query[i - 1]).astype(np.int32)
                for j in range(1, length + 1):
                    current[:, j] = np.minimum(np.minimum(previous[:, j] + 1, current[:, j - 1] + 1),
                                               previous[:, j - 1] + cost[:, j - 1])
                    if i > 1 and j > 1:  # a swap of two neighbours (bwm -> bmw) is one edit
                        swap = (codes[:, j - 1] == query[i - 2]) & (codes[:, j - 2] == query[i - 1])
                        current[:, j] = np.where(swap, np.minimum(current[:, j], before[:, j - 2] + 1), current[:, j])
                before, previous = previous, current
            distance = previous[:, length]
            for k in np.flatnonzero(distance <= max_distance):
                out.append((int(distance[k]), int(rows[k])))
        return out

    def did_you_mean(self, raw: str, limit: int = 5) -> list[str]:
        """Known tags the user may have meant by ``raw``: tags starting with it (most used first), then
        tags within 1 edit (words of up to 4 characters) or 2 edits (longer), nearest and most used first."""
        norm = normalize_tag(str(raw).replace(" ", ""), self.max_tag_length)
        if norm is None or norm in self._emb.index:
            return []
        picked: list[str] = []
        for hit in self.suggest(norm, limit):
            picked.append(hit.tag)
        if len(picked) < limit:
            near = self.near(norm, 1 if len(norm) <= 4 else 2)
            near.sort(key=lambda item: (item[0], -int(self._emb.counts[item[1]]), str(self._emb.tags[item[1]])))
            for _, row in near:
                tag = str(self._emb.tags[row])
                if tag not in picked:
                    picked.append(tag)
                if len(picked) >= limit:
                    break
        return picked
