"""Ranking bloggers for a theme by relevance and popularity (the query side's blogger search).

Score (the source project's formula)::

    score = cos(theme, blogger) / (L(likes) ** lambda_ * L(followers) ** phi * L(tags) ** tau)
    L(x)  = ln(max(x, e))

* ``likes`` = the blogger's MEAN likes per post (engagement per post; the total would mostly repeat
  the post count), ``followers`` = followers, ``tags`` = the blogger's tag uses known to the model
  (a spammer's 30 tags a post spread their vector thin: tau pushes them down).
* The guard: ``ln(x)`` is negative below 1, zero at 1 and below 1 until e; raising those to a power
  and dividing by them would blow small accounts up to the top. ``max(x, e)`` makes every factor
  >= 1, equal to 1 for all counts up to e (0, 1 and 2 alike), and continuous above.
* Exponents 0 switch a factor off; all three 0 rank by cosine alone. Each exponent is in -1..1: a
  positive one discounts popularity (the seed's design, against accounts that show up for every
  theme), a negative one favours it. Popular accounts post on more themes, so their cosine to any
  one theme is lower than a niche account's; the defaults (``SearchConfig``) were chosen by
  ``benchmarks/bench_selection.py`` (README, "Choosing bloggers").

The table ranked is :class:`topictensor.search.table.BloggerTable` (its rows grouped by language);
the vectors are built by :mod:`topictensor.search.vectors`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from topictensor.search.params import SearchConfig
from topictensor.search.table import FILENAME, BloggerHit, BloggerTable, guarded_log  # noqa: F401 (re-exported)
from topictensor.search.themes import QueryError


@dataclass(frozen=True)
class Popularity:
    """The exponents of the score's denominator (each in -1..1; negative: popularity counts for)."""

    lambda_: float = SearchConfig.model_fields["lambda_"].default  # one definition of the defaults
    phi: float = SearchConfig.model_fields["phi"].default
    tau: float = SearchConfig.model_fields["tau"].default

    def __post_init__(self) -> None:
        for name in ("lambda_", "phi", "tau"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and -1 <= value <= 1):
                raise QueryError(f"{name} must be a number in -1..1, got {value!r}")

    @classmethod
    def from_config(cls, config: SearchConfig, lambda_: float | None = None, phi: float | None = None,
                    tau: float | None = None) -> "Popularity":
        return cls(config.lambda_ if lambda_ is None else lambda_, config.phi if phi is None else phi,
                   config.tau if tau is None else tau)

    def denominator(self, likes, followers, tags) -> np.ndarray:
        return (guarded_log(likes) ** self.lambda_ * guarded_log(followers) ** self.phi
                * guarded_log(tags) ** self.tau)


def score(sims, likes, followers, tags, popularity: Popularity) -> np.ndarray:
    """The ranking score of bloggers with cosine ``sims`` to the theme (module docstring)."""
    return np.asarray(sims, dtype=np.float64) / popularity.denominator(likes, followers, tags)


@dataclass(frozen=True)
class Filters:
    """Who may appear in the results. ``lang`` may hold several codes separated by commas."""

    lang: str | None = None
    min_followers: int | None = None
    max_followers: int | None = None
    min_posts: int | None = None
    # Engagement rate = mean likes per post / followers (a blogger with 0 followers has none and
    # fails either bound).
    min_engagement: float | None = None
    max_engagement: float | None = None

    def __post_init__(self) -> None:
        for name in ("min_followers", "max_followers", "min_posts", "min_engagement", "max_engagement"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise QueryError(f"{name} must be >= 0, got {value}")
        if (self.min_followers is not None and self.max_followers is not None
                and self.min_followers > self.max_followers):
            raise QueryError(f"min_followers ({self.min_followers}) is above max_followers ({self.max_followers})")
        if (self.min_engagement is not None and self.max_engagement is not None
                and self.min_engagement > self.max_engagement):
            raise QueryError(f"min_engagement ({self.min_engagement}) is above max_engagement ({self.max_engagement})")

    @property
    def languages(self) -> list[str]:
        return [part.strip().lower() for part in (self.lang or "").split(",") if part.strip()]

    @property
    def active(self) -> bool:
        return bool(self.languages) or self.by_counts

    @property
    def by_counts(self) -> bool:
        """Whether a follower, post or engagement bound applies (language aside)."""
        return any(v is not None for v in (self.min_followers, self.max_followers, self.min_posts,
                                           self.min_engagement, self.max_engagement))

    def mask(self, table: "BloggerTable") -> np.ndarray:
        """Who passes, one bool per table row (in the table's order)."""
        keep = table.lang_mask(self.languages) if self.languages else np.ones(len(table), dtype=bool)
        return keep & self.count_mask(table.followers, table.posts, table.engagement) if self.by_counts else keep

    def count_mask(self, followers: np.ndarray, posts: np.ndarray,
                   engagement: np.ndarray | None = None) -> np.ndarray | bool:
        """The follower, post and engagement bounds over aligned arrays (True: no bound)."""
        keep: np.ndarray | bool = True
        if self.min_engagement is not None or self.max_engagement is not None:
            if engagement is None:
                raise ValueError("an engagement bound needs the engagement rates")
            with np.errstate(invalid="ignore"):
                if self.min_engagement is not None:
                    keep = keep & (engagement >= self.min_engagement)
                if self.max_engagement is not None:
                    keep = keep & (engagement <= self.max_engagement)
        if self.min_followers is not None:
            keep = keep & (followers >= self.min_followers)
        if self.max_followers is not None:
            keep = keep & (followers <= self.max_followers)
        if self.min_posts is not None:
            keep = keep & (posts >= self.min_posts)
        return keep



@dataclass(frozen=True)
class Cutoff:
    """The relevance cut-off: bloggers (and tags) with a cosine to the theme below ``min_relevance``,
    or below ``relative`` x the best cosine among those allowed, are not returned. ``None`` / 0: off."""

    min_relevance: float | None = None
    relative: float = 0.0

    def __post_init__(self) -> None:
        m = self.min_relevance
        if m is not None and not (isinstance(m, (int, float)) and math.isfinite(m) and -1 <= m <= 1):
            raise QueryError(f"min_relevance must be a cosine in -1..1, got {m!r}")
        r = self.relative
        if not (isinstance(r, (int, float)) and math.isfinite(r) and 0 <= r <= 1):
            raise QueryError(f"relative_relevance must be a share of the best hit in 0..1, got {r!r}")

    @classmethod
    def from_config(cls, config: SearchConfig, min_relevance: float | None = None,
                    relative: float | None = None) -> "Cutoff":
        return cls(config.min_relevance if min_relevance is None else min_relevance,
                   config.relative_relevance if relative is None else relative)

    @property
    def active(self) -> bool:
        return self.min_relevance is not None or self.relative > 0

    def threshold(self, best: float) -> float:
        """The lowest cosine kept when the best allowed one is ``best`` (-inf: no cut-off). A relative
        cut-off with no positive best keeps nothing: nobody is related to the theme."""
        out = -math.inf if self.min_relevance is None else float(self.min_relevance)
        if self.relative > 0:
            out = max(out, self.relative * best if best > 0 else math.inf)
        return out



class VectorIndex(Protocol):
    """Nearest vectors by cosine: ``search(query, k) -> (rows, cosines)``, best first."""

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...



@dataclass
class Ranking:
    hits: list[BloggerHit]
    method: str  # "exact" or "index"
    candidates: int  # bloggers scored
    threshold: float = -math.inf  # the relevance cut-off applied (-inf: none)


# A gathered row (fancy-indexed out of the vector matrix, then multiplied and scored) costs about
# as much as this many rows of a contiguous matrix-vector product: at 1M x 100 float32
# (benchmarks/bench_index.py) ranking 47,562 gathered rows took 12.9 ms, all 1M rows 40 ms. A filter
# keeping fewer than 1 in GATHER_COST rows of its block gathers them; a looser one multiplies the
# whole block and drops the rest.
GATHER_COST = 4


def rank_bloggers(table: BloggerTable, query: np.ndarray, top: int, *, popularity: Popularity,
                  filters: Filters = Filters(), config: SearchConfig = SearchConfig(),
                  index: VectorIndex | None = None, exclude: Sequence[str] = (),
                  exclude_rows: Sequence[int] | np.ndarray = (), cutoff: Cutoff = Cutoff()) -> Ranking:
    """The ``top`` bloggers by score among those passing ``filters`` and the relevance ``cutoff``
    (``exclude``: ids left out; ``exclude_rows``: table rows left out).

    Two paths, both giving the exact ranking of what they score:

    * exact: every allowed blogger is scored. A language filter scans only that language's block
      of rows (the table is grouped by language: a slice, one contiguous matrix-vector product);
      follower/post/engagement bounds are applied to the block's counts; a bound keeping under
      1/``GATHER_COST`` of the block gathers just those rows instead.
    * index: the index gives ``config.candidates(top, n_allowed, n_allowed / n_bloggers)`` nearest
      bloggers by cosine; those passing the filters are re-scored exactly (cosine recomputed from the
      stored vectors, then the score). If fewer than ``top`` pass, the count doubles; past
      ``config.max_candidates`` the search goes exact.

    The cut-off is a filter on the cosine: its threshold is ``cutoff.threshold(best)``, ``best`` being
    the highest cosine among the allowed bloggers (exact path: all of them; index path: the allowed
    candidates, which hold the nearest allowed blogger). Because the index returns bloggers by
    falling cosine, once its deepest candidate is below the threshold every blogger it did not
    return is too: the candidates then hold the whole set passing the cut-off and no doubling is
    needed.

    The switch: exact when there is no index, or when the exact path would touch at most
    ``config.exact_max_bloggers`` rows (the language blocks, or ``GATHER_COST`` x the rows it
    gathers, whichever is less), or when the candidate count exceeds ``config.max_candidates``.
    With the defaults at 1M bloggers: a language filter of up to 250k bloggers (25%) and any
    follower/post filter keeping at most ~62k (6%) rank exactly; unfiltered queries, larger
    languages and looser bounds go through the index with 5,000 candidates (0.5% of all bloggers,
    see ``SearchConfig.candidates``). Measured (benchmarks/bench_index.py, M=32, efSearch 1600):
    exact over a 340k-row language block 16 ms vs 9 ms through the index, 80k rows 4 ms vs 8 ms.
    """
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    if len(table) == 0:
        return Ranking([], "exact", 0)
    if q.shape[0] != table.dim:
        raise QueryError(f"query vector has {q.shape[0]} dimensions, the bloggers {table.dim}")
    norm = float(np.linalg.norm(q))
    q = q / norm if norm > 0 else q
    excluded = np.union1d(np.asarray([table.row[b] for b in exclude if b in table.row], dtype=np.int64),
                          np.asarray(exclude_rows, dtype=np.int64))
    plan = _ExactPlan(table, filters, excluded)
    if plan.n_allowed == 0:
        return Ranking([], "exact", 0)
    if index is None or plan.cost <= config.exact_max_bloggers:
        return plan.run(q, top, popularity, cutoff)
    # The selectivity counts the exclusions (n_allowed is what is left after them).
    wanted = config.candidates(top, plan.n_allowed, plan.n_allowed / len(table))
    if wanted > config.max_candidates:  # so selective (or so deep) that the index would not pay
        return plan.run(q, top, popularity, cutoff)
    while True:
        rows, index_sims = index.search(q, min(wanted, len(table)))
        rows = np.asarray(rows, dtype=np.int64)
        if filters.active or len(excluded):
            rows = rows[_allows(table, filters, excluded, rows)]
        sims = table.vectors[rows] @ q
        threshold, complete = -math.inf, False
        if cutoff.active and len(rows):
            threshold = cutoff.threshold(float(sims.max()))
            keep = sims >= threshold
            rows, sims = rows[keep], sims[keep]
            complete = len(index_sims) > 0 and float(np.min(index_sims)) < threshold
        if len(rows) >= top or wanted >= len(table) or complete:
            return _best(table, rows, sims, table.scores(rows, sims, popularity), top, "index", threshold)
        if wanted >= config.max_candidates:
            return plan.run(q, top, popularity, cutoff)
        wanted = min(wanted * 2, config.max_candidates)


def _allows(table: BloggerTable, filters: Filters, excluded: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Which table ``rows`` pass ``filters`` and are not excluded (cost: the rows, not the table)."""
    keep = np.ones(len(rows), dtype=bool)
    if filters.languages:
        keep &= table.lang_mask(filters.languages, rows)
    if filters.by_counts:
        keep &= filters.count_mask(table.followers[rows], table.posts[rows], table.engagement[rows])
    if len(excluded):
        keep &= ~np.isin(rows, excluded)
    return keep


class _ExactPlan:
    """Who the exact path scores, in grouped (by language) positions: per block, all of it or a mask."""

    def __init__(self, table: BloggerTable, filters: Filters, excluded: np.ndarray):
        self.table = table
        blocks = table.lang_blocks(filters.languages) if filters.languages else [slice(0, len(table))]
        excluded_pos = table.grouped_positions(excluded)
        self.parts: list[tuple[slice, np.ndarray | None]] = []  # (block, bool mask over it or None = all)
        self.n_allowed = self.cost = 0
        for block in blocks:
            if block.stop <= block.start:
                continue
            mask = None
            if filters.by_counts:
                mask = np.asarray(filters.count_mask(*table.grouped_counts(block)), dtype=bool)
            inside = excluded_pos[(excluded_pos >= block.start) & (excluded_pos < block.stop)] - block.start
            if len(inside):
                mask = np.ones(block.stop - block.start, dtype=bool) if mask is None else mask
                mask[inside] = False
            count = block.stop - block.start if mask is None else int(np.count_nonzero(mask))
            if count:
                self.parts.append((block, mask))
                self.n_allowed += count
                self.cost += min(block.stop - block.start, GATHER_COST * count)

    def run(self, q: np.ndarray, top: int, popularity: Popularity, cutoff: Cutoff = Cutoff()) -> Ranking:
        t = self.table
        positions, sims = [], []
        for block, mask in self.parts:
            size = block.stop - block.start
            if mask is None:
                positions.append(np.arange(block.start, block.stop))
                sims.append(t.grouped_vectors(block) @ q)
            elif GATHER_COST * int(np.count_nonzero(mask)) < size:
                picked = block.start + np.flatnonzero(mask)
                positions.append(picked)
                sims.append(t.grouped_vectors(picked) @ q)
            else:
                positions.append(block.start + np.flatnonzero(mask))
                sims.append((t.grouped_vectors(block) @ q)[mask])
        if not positions:
            return Ranking([], "exact", 0)
        pos = np.concatenate(positions) if len(positions) > 1 else positions[0]
        sim = np.concatenate(sims) if len(sims) > 1 else sims[0]
        whole = len(self.parts) == 1 and self.parts[0][1] is None and self.parts[0][0] == slice(0, len(t))
        threshold = -math.inf
        if cutoff.active and len(sim):
            threshold = cutoff.threshold(float(sim.max()))
            keep = sim >= threshold
            pos, sim, whole = pos[keep], sim[keep], False
        denominators = t.denominators(popularity, None if whole else pos, grouped=True)
        values = sim.astype(np.float64) / denominators
        return _best(t, t.original_rows(pos), sim, values, top, "exact", threshold)


def _best(table: BloggerTable, rows: np.ndarray, sims: np.ndarray, values: np.ndarray, top: int,
          method: str, threshold: float = -math.inf) -> Ranking:
    """The ``top`` highest ``values``, best first; equal scores in table order (deterministic)."""
    if len(rows) == 0 or top <= 0:
        return Ranking([], method, len(rows), threshold)
    k = min(top, len(rows))
    best = np.argpartition(-values, k - 1)[:k] if k < len(rows) else np.arange(len(rows))
    best = best[np.lexsort((rows[best], -values[best]))]
    return Ranking([table.hit(int(rows[i]), float(sims[i]), float(values[i])) for i in best], method, len(rows),
                   threshold)
