"""Bloggers: one vector per blogger, and their ranking for a theme by relevance and popularity.

Blogger vector: the sum, over every tag use in every post of the blogger, of the tag's unit vector
times the use's weight, then unit-normalised. The weights are the reweight stage's habit weights
(``search.vector_weights = "reweight"``, the default): a tag the blogger puts in every post counts
like ~sqrt(uses), so a habitual ``#mycity`` does not drown what their posts are about. Tags the
model does not know are skipped; a blogger with no known tag gets no vector (and is not ranked).

Score (the source project's formula)::

    score = cos(theme, blogger) / (L(likes) ** lambda_ * L(followers) ** phi * L(tags) ** tau)
    L(x)  = ln(max(x, e))

* ``likes`` = the blogger's MEAN likes per post (engagement per post; the total would mostly repeat
  the post count), ``followers`` = followers, ``tags`` = the blogger's tag uses known to the model
  (a spammer's 30 tags a post spread their vector thin: tau pushes them down).
* The guard: ``ln(x)`` is negative below 1, zero at 1 and below 1 until e; raising those to a power
  and dividing by them would blow small accounts up to the top. ``max(x, e)`` makes every factor
  >= 1, equal to 1 for all counts up to e (0, 1 and 2 alike), and continuous above.
* Exponents 0 switch a factor off; all three 0 rank by cosine alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from topictensor.embeddings import Embeddings
from topictensor.search.params import SearchConfig
from topictensor.search.themes import QueryError

FILENAME = "bloggers.parquet"
COLUMNS = ("blogger_id", "username", "lang", "followers", "likes", "likes_total", "posts", "tags", "vector")


def guarded_log(x) -> np.ndarray:
    """``ln(max(x, e))``: >= 1 for every count, so it can be raised to a power and divided by."""
    return np.log(np.maximum(np.asarray(x, dtype=np.float64), math.e))


@dataclass(frozen=True)
class Popularity:
    """The exponents of the score's denominator (each in 0..1)."""

    lambda_: float = 0.2
    phi: float = 0.2
    tau: float = 0.2

    def __post_init__(self) -> None:
        for name in ("lambda_", "phi", "tau"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= 1):
                raise QueryError(f"{name} must be a number in 0..1, got {value!r}")

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

    def __post_init__(self) -> None:
        for name in ("min_followers", "max_followers", "min_posts"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise QueryError(f"{name} must be >= 0, got {value}")
        if (self.min_followers is not None and self.max_followers is not None
                and self.min_followers > self.max_followers):
            raise QueryError(f"min_followers ({self.min_followers}) is above max_followers ({self.max_followers})")

    @property
    def languages(self) -> list[str]:
        return [part.strip().lower() for part in (self.lang or "").split(",") if part.strip()]

    @property
    def active(self) -> bool:
        return bool(self.languages) or any(
            v is not None for v in (self.min_followers, self.max_followers, self.min_posts))

    def mask(self, table: "BloggerTable") -> np.ndarray:
        keep = np.ones(len(table), dtype=bool)
        if self.languages:
            keep &= np.isin(table.langs, self.languages)
        if self.min_followers is not None:
            keep &= table.followers >= self.min_followers
        if self.max_followers is not None:
            keep &= table.followers <= self.max_followers
        if self.min_posts is not None:
            keep &= table.posts >= self.min_posts
        return keep


@dataclass(frozen=True)
class BloggerHit:
    blogger_id: str
    username: str
    lang: str
    followers: int
    likes: float
    posts: int
    tags: int
    similarity: float
    score: float

    def to_dict(self) -> dict:
        return asdict(self)


class BloggerTable:
    """The ``bloggers.parquet`` of a ``blogger_vectors`` artifact, as numpy columns."""

    def __init__(self, table: pa.Table):
        missing = set(COLUMNS) - set(table.column_names)
        if missing:
            raise ValueError(f"blogger table lacks column(s) {sorted(missing)} (has {table.column_names})")
        self.ids = np.asarray(table.column("blogger_id").to_pylist(), dtype=object)
        self.usernames = np.asarray(table.column("username").to_pylist(), dtype=object)
        self.langs = np.asarray(table.column("lang").to_pylist(), dtype=object)
        self.followers = table.column("followers").to_numpy().astype(np.int64)
        self.likes = table.column("likes").to_numpy().astype(np.float64)
        self.posts = table.column("posts").to_numpy().astype(np.int64)
        self.tags = table.column("tags").to_numpy().astype(np.int64)
        self.vectors = _vectors(table.column("vector"))
        self.row = {bid: i for i, bid in enumerate(self.ids.tolist())}
        self._log_likes = guarded_log(self.likes)
        self._log_followers = guarded_log(self.followers)
        self._log_tags = guarded_log(self.tags)

    @classmethod
    def read(cls, path: str | Path) -> "BloggerTable":
        return cls(pq.read_table(path))

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def scores(self, rows: np.ndarray, sims: np.ndarray, popularity: Popularity) -> np.ndarray:
        """Score of ``rows`` (precomputed guarded logs; same numbers as :func:`score`)."""
        denominator = (self._log_likes[rows] ** popularity.lambda_ * self._log_followers[rows] ** popularity.phi
                       * self._log_tags[rows] ** popularity.tau)
        return np.asarray(sims, dtype=np.float64) / denominator

    def hit(self, row: int, sim: float, value: float) -> BloggerHit:
        return BloggerHit(
            blogger_id=str(self.ids[row]), username=str(self.usernames[row]), lang=str(self.langs[row]),
            followers=int(self.followers[row]), likes=round(float(self.likes[row]), 3),
            posts=int(self.posts[row]), tags=int(self.tags[row]), similarity=float(sim), score=float(value))


def _vectors(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    col = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(col)
    values = pc.list_flatten(col).to_numpy(zero_copy_only=False).astype(np.float32)
    if n == 0:
        return np.zeros((0, 0), dtype=np.float32)
    if len(values) % n:
        raise ValueError("blogger vectors have different lengths")
    return np.ascontiguousarray(values.reshape(n, len(values) // n))


class VectorIndex(Protocol):
    """Nearest vectors by cosine: ``search(query, k) -> (rows, cosines)``, best first."""

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...


# ------------------------------------------------------------------------------------------
# Building the vectors
# ------------------------------------------------------------------------------------------


def compute_blogger_vectors(posts: pa.Table, bloggers: pa.Table | None, emb: Embeddings,
                            weighting: str = "reweight") -> pa.Table:
    """One row per blogger with at least one tag known to the model (columns: ``COLUMNS``).

    ``posts``: blogger_id, tags, likes and (for ``weighting="reweight"``) weights aligned with tags
    (the reweight stage's table). ``bloggers``: normalize's bloggers table (username, followers,
    lang, posts, likes_total); a blogger missing from it gets values computed from ``posts``.
    """
    from scipy import sparse

    for column in ("blogger_id", "tags", "likes") + (("weights",) if weighting == "reweight" else ()):
        if column not in posts.column_names:
            raise ValueError(f"posts table lacks column {column!r} (has {posts.column_names})")
    tags = posts.column("tags").combine_chunks()
    flat = pc.list_flatten(tags)
    parent = pc.list_parent_indices(tags).to_numpy(zero_copy_only=False)
    encoded = pc.dictionary_encode(posts.column("blogger_id")).combine_chunks()
    ids = encoded.dictionary.to_pylist()
    post_blogger = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    tag_rows = pc.index_in(flat, value_set=pa.array(emb.tags.tolist(), type=pa.string()))
    tag_rows = tag_rows.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    if weighting == "reweight":
        weights = pc.list_flatten(posts.column("weights").combine_chunks()).to_numpy(zero_copy_only=False)
        if len(weights) != len(tag_rows):
            raise ValueError(f"posts: {len(weights)} weights for {len(tag_rows)} tags (must be aligned)")
    elif weighting == "uniform":
        weights = np.ones(len(tag_rows), dtype=np.float32)
    else:
        raise ValueError(f"unknown weighting {weighting!r}: use 'reweight' or 'uniform'")
    known = tag_rows >= 0
    use_blogger = post_blogger[parent[known]]
    use_matrix = sparse.csr_matrix(
        (weights[known].astype(np.float64), (use_blogger, tag_rows[known])), shape=(len(ids), len(emb)))
    summed = np.asarray(use_matrix @ emb.normalized().astype(np.float64))
    norms = np.linalg.norm(summed, axis=1)
    tag_uses = np.bincount(use_blogger, minlength=len(ids))
    keep = np.flatnonzero(norms > 1e-12)
    keep = keep[np.argsort(np.asarray(ids, dtype=object)[keep].astype(str), kind="stable")]
    vectors = (summed[keep] / norms[keep, None]).astype(np.float32)

    post_counts = np.bincount(post_blogger, minlength=len(ids))
    likes_sum = np.bincount(post_blogger, weights=posts.column("likes").to_numpy(zero_copy_only=False)
                            .astype(np.float64), minlength=len(ids))
    meta = _metadata(bloggers)
    rows = {"blogger_id": [], "username": [], "lang": [], "followers": [], "likes": [], "likes_total": [],
            "posts": []}
    post_lang = _majority_lang(posts, post_blogger, len(ids))
    for i in keep.tolist():
        bid = ids[i]
        m = meta.get(bid)
        n_posts = int(m["posts"]) if m and m["posts"] else int(post_counts[i])
        total = int(m["likes_total"]) if m and m["likes_total"] is not None else int(likes_sum[i])
        rows["blogger_id"].append(bid)
        rows["username"].append(m["username"] if m and m["username"] else bid)
        rows["lang"].append(m["lang"] if m and m["lang"] else post_lang[i])
        rows["followers"].append(int(m["followers"] or 0) if m else 0)
        rows["likes"].append(total / n_posts if n_posts else 0.0)
        rows["likes_total"].append(total)
        rows["posts"].append(n_posts)
    flat_vectors = pa.array(vectors.reshape(-1), type=pa.float32())
    offsets = pa.array(np.arange(len(keep) + 1, dtype=np.int32) * emb.dim)
    return pa.table({
        "blogger_id": pa.array(rows["blogger_id"], type=pa.string()),
        "username": pa.array(rows["username"], type=pa.string()),
        "lang": pa.array(rows["lang"], type=pa.string()),
        "followers": pa.array(rows["followers"], type=pa.int64()),
        "likes": pa.array(rows["likes"], type=pa.float64()),
        "likes_total": pa.array(rows["likes_total"], type=pa.int64()),
        "posts": pa.array(rows["posts"], type=pa.int64()),
        "tags": pa.array(tag_uses[keep].astype(np.int64), type=pa.int64()),
        "vector": pa.ListArray.from_arrays(offsets, flat_vectors),
    })


def _metadata(bloggers: pa.Table | None) -> dict[str, dict]:
    if bloggers is None:
        return {}
    wanted = [c for c in ("blogger_id", "username", "followers", "lang", "posts", "likes_total")
              if c in bloggers.column_names]
    out = {}
    for row in bloggers.select(wanted).to_pylist():
        row.setdefault("posts", None)
        row.setdefault("likes_total", None)
        row.setdefault("username", None)
        row.setdefault("followers", 0)
        row.setdefault("lang", None)
        out[row["blogger_id"]] = row
    return out


def _majority_lang(posts: pa.Table, post_blogger: np.ndarray, n: int) -> list[str]:
    if "lang" not in posts.column_names:
        return ["und"] * n
    out: list[dict[str, int]] = [dict() for _ in range(n)]
    for b, lang in zip(post_blogger.tolist(), posts.column("lang").to_pylist()):
        if lang:
            out[b][lang] = out[b].get(lang, 0) + 1
    return [max(c, key=c.get) if c else "und" for c in out]


# ------------------------------------------------------------------------------------------
# Ranking
# ------------------------------------------------------------------------------------------


@dataclass
class Ranking:
    hits: list[BloggerHit]
    method: str  # "exact" or "index"
    candidates: int  # bloggers scored


def rank_bloggers(table: BloggerTable, query: np.ndarray, top: int, *, popularity: Popularity,
                  filters: Filters = Filters(), config: SearchConfig = SearchConfig(),
                  index: VectorIndex | None = None, exclude: Sequence[str] = ()) -> Ranking:
    """The ``top`` bloggers by score among those passing ``filters`` (``exclude``: ids left out).

    Exact when there is no index, or when at most ``config.exact_max_bloggers`` bloggers pass the
    filters, or when the candidate count below exceeds ``config.max_candidates``: every allowed
    blogger is scored. Otherwise the index gives ``config.candidates(top, n_bloggers, selectivity)``
    nearest bloggers by cosine, the allowed ones are re-scored exactly (cosine recomputed from the
    stored vectors, then the score); if fewer than ``top`` allowed candidates came back the count
    doubles, and past ``config.max_candidates`` the search falls back to exact.

    Why so many candidates: the score divides by popularity, so a blogger far down the cosine list
    with tiny counts can beat a popular one near the top; on synthetic 200k bloggers the exact top 10
    reached cosine rank ~300 (median) to ~600 (worst), roughly 0.3% of the corpus -- hence
    ``candidate_share``.
    """
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    if len(table) == 0:
        return Ranking([], "exact", 0)
    if q.shape[0] != table.dim:
        raise QueryError(f"query vector has {q.shape[0]} dimensions, the bloggers {table.dim}")
    norm = float(np.linalg.norm(q))
    q = q / norm if norm > 0 else q
    excluded = [table.row[b] for b in exclude if b in table.row]
    allowed = filters.mask(table) if filters.active else None
    if excluded:
        if allowed is None:
            allowed = np.ones(len(table), dtype=bool)
        allowed[excluded] = False
    n_allowed = len(table) if allowed is None else int(allowed.sum())
    if n_allowed == 0:
        return Ranking([], "exact", 0)

    if index is None or n_allowed <= config.exact_max_bloggers:
        return _exact(table, q, top, popularity, allowed)
    wanted = config.candidates(top + len(excluded), len(table), n_allowed / len(table))
    if wanted > config.max_candidates:  # so selective (or so deep) that the index would not pay
        return _exact(table, q, top, popularity, allowed)
    while True:
        rows, _ = index.search(q, min(wanted, len(table)))
        rows = np.asarray(rows, dtype=np.int64)
        if allowed is not None:
            rows = rows[allowed[rows]]
        if len(rows) >= top or wanted >= len(table):
            return _rerank(table, q, rows, top, popularity, "index")
        if wanted >= config.max_candidates:
            return _exact(table, q, top, popularity, allowed)
        wanted = min(wanted * 2, config.max_candidates)


def _exact(table: BloggerTable, q: np.ndarray, top: int, popularity: Popularity,
           allowed: np.ndarray | None) -> Ranking:
    if allowed is None:  # every blogger: one matrix-vector product, no gather
        return _rerank(table, q, np.arange(len(table)), top, popularity, "exact", table.vectors @ q)
    return _rerank(table, q, np.flatnonzero(allowed), top, popularity, "exact")


def _rerank(table: BloggerTable, q: np.ndarray, rows: np.ndarray, top: int, popularity: Popularity,
            method: str, sims: np.ndarray | None = None) -> Ranking:
    if len(rows) == 0:
        return Ranking([], method, 0)
    if sims is None:
        sims = table.vectors[rows] @ q
    values = table.scores(rows, sims, popularity)
    k = min(top, len(rows))
    best = np.argpartition(-values, k - 1)[:k] if k < len(rows) else np.arange(len(rows))
    best = best[np.lexsort((rows[best], -values[best]))]
    return Ranking([table.hit(int(rows[i]), float(sims[i]), float(values[i])) for i in best], method, len(rows))
