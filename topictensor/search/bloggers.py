"""Bloggers: one vector per blogger, and their ranking for a theme by relevance and popularity.

Blogger vector: the sum, over every tag use in every post of the blogger, of the tag's unit vector
times the use's weight, then unit-normalised. The weights are the reweight stage's habit weights
(``search.vector_weights = "reweight"``, the default): a tag the blogger puts in every post counts
like ~sqrt(uses), so a habitual ``#mycity`` does not drown what their posts are about. Tags the
model does not know are skipped; a blogger with no known tag gets no vector (and is not ranked).
Rows are sorted by language, then id, so each language is one contiguous block (fast exact
filtering, see :func:`rank_bloggers`).

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
from topictensor.search.explain import PROFILE_COLUMNS, Profiles
from topictensor.search.params import SearchConfig
from topictensor.search.themes import QueryError

FILENAME = "bloggers.parquet"
COLUMNS = ("blogger_id", "username", "lang", "followers", "likes", "likes_total", "posts", "tags", "vector")


def guarded_log(x) -> np.ndarray:
    """``ln(max(x, e))``: >= 1 for every count, so it can be raised to a power and divided by."""
    return np.log(np.maximum(np.asarray(x, dtype=np.float64), math.e))


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
    engagement: float | None = None  # mean likes per post / followers (None: no followers)
    why: dict | None = None  # the explanation (topictensor.search.explain), when asked for

    @property
    def profile_url(self) -> str:
        """The blogger's Instagram profile."""
        from urllib.parse import quote

        return f"https://www.instagram.com/{quote(self.username, safe='._')}/"

    def to_dict(self) -> dict:
        out = asdict(self)
        if self.why is None:
            out.pop("why")
        out["profile_url"] = self.profile_url
        return out


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
        with np.errstate(divide="ignore", invalid="ignore"):
            self.engagement = np.where(self.followers > 0, self.likes / np.maximum(self.followers, 1), np.nan)
        self.vectors = _vectors(table.column("vector"))
        self.row = {bid: i for i, bid in enumerate(self.ids.tolist())}
        # @username lookup (case-insensitive, as Instagram's handles are); the first row wins a clash.
        self.by_username: dict[str, int] = {}
        for i, name in enumerate(self.usernames.tolist()):
            self.by_username.setdefault(str(name).lower(), i)
        # Each blogger's stored top tags with their weights (explanations, tag exclusions); absent
        # in artifacts written before they existed.
        self.profiles = Profiles(table) if set(PROFILE_COLUMNS) <= set(table.column_names) else None
        # ln(L(x)) of each count: the score's denominator is exp(lambda_ ln L(likes) + phi ln L(followers)
        # + tau ln L(tags)), one exp instead of three powers per blogger.
        self._loglog = np.stack([np.log(guarded_log(x)) for x in (self.likes, self.followers, self.tags)])
        self._group_by_language(table.column("lang"))

    def _group_by_language(self, column: pa.ChunkedArray) -> None:
        """Each language's bloggers as one contiguous block, so a language filter is a slice.

        The blogger_vectors stage writes rows sorted by language, so the blocks are slices of the
        table itself (no copy). A table grouped otherwise gets one grouped copy of its vectors and
        counts, made here once (it doubles the vectors' memory).
        """
        encoded = pc.dictionary_encode(pc.fill_null(column, "")).combine_chunks()
        names = [str(x).lower() for x in encoded.dictionary.to_pylist()]
        vocabulary = sorted(set(names))
        remap = np.asarray([vocabulary.index(x) for x in names], dtype=np.int32)
        codes = remap[encoded.indices.to_numpy(zero_copy_only=False)] if len(names) else np.zeros(0, np.int32)
        self.lang_codes = codes.astype(np.int32)
        self._lang_code = {name: i for i, name in enumerate(vocabulary)}
        counts = np.bincount(codes, minlength=len(vocabulary))
        runs = 1 + int(np.count_nonzero(codes[1:] != codes[:-1])) if len(codes) else 0
        if runs <= len(vocabulary):  # every language in one run: slices of the table itself
            starts = np.zeros(len(vocabulary), dtype=np.int64)
            if len(codes):
                first = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
                starts[codes[first]] = first
            self._blocks = {name: slice(int(starts[i]), int(starts[i] + counts[i]))
                            for i, name in enumerate(vocabulary)}
            self.grouped_rows = None
            self._g_vectors, self._g_followers, self._g_posts, self._g_loglog = (
                self.vectors, self.followers, self.posts, self._loglog)
            self._g_engagement = self.engagement
        else:
            order = np.argsort(codes, kind="stable")
            ends = np.cumsum(counts)
            self._blocks = {name: slice(int(ends[i] - counts[i]), int(ends[i])) for i, name in enumerate(vocabulary)}
            self.grouped_rows = order
            self._grouped_positions = np.empty_like(order)
            self._grouped_positions[order] = np.arange(len(order))
            self._g_vectors = np.ascontiguousarray(self.vectors[order])
            self._g_followers, self._g_posts = self.followers[order], self.posts[order]
            self._g_engagement = self.engagement[order]
            self._g_loglog = np.ascontiguousarray(self._loglog[:, order])

    @property
    def grouped(self) -> bool:
        """True when the table's own rows are grouped by language (no grouped copy needed)."""
        return self.grouped_rows is None

    def lang_counts(self) -> dict[str, int]:
        return {name: sl.stop - sl.start for name, sl in self._blocks.items()}

    def lang_blocks(self, languages: Sequence[str]) -> list[slice]:
        """Positions (in grouped order) of the bloggers of ``languages``; unknown codes have none."""
        return [self._blocks[x] for x in dict.fromkeys(languages) if x in self._blocks]

    def lang_mask(self, languages: Sequence[str]) -> np.ndarray:
        wanted = [self._lang_code[x] for x in languages if x in self._lang_code]
        if len(wanted) == 1:
            return self.lang_codes == wanted[0]
        return np.isin(self.lang_codes, np.asarray(wanted, dtype=np.int32))

    def grouped_positions(self, rows: np.ndarray) -> np.ndarray:
        """Positions in grouped order of table ``rows``."""
        return rows if self.grouped_rows is None else self._grouped_positions[rows]

    def original_rows(self, positions: np.ndarray) -> np.ndarray:
        """Table rows of positions in grouped order."""
        return positions if self.grouped_rows is None else self.grouped_rows[positions]

    def denominators(self, popularity: Popularity, rows: np.ndarray | slice | None = None, *,
                     grouped: bool = False) -> np.ndarray:
        """The score's denominator of ``rows`` (table rows, or positions in grouped order)."""
        loglog = self._g_loglog if grouped else self._loglog
        part = loglog if rows is None else loglog[:, rows]
        return np.exp(popularity.lambda_ * part[0] + popularity.phi * part[1] + popularity.tau * part[2])

    @classmethod
    def read(cls, path: str | Path) -> "BloggerTable":
        return cls(pq.read_table(path))

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def scores(self, rows: np.ndarray, sims: np.ndarray, popularity: Popularity) -> np.ndarray:
        """Score of table ``rows`` with cosines ``sims`` (same numbers as :func:`score`)."""
        return np.asarray(sims, dtype=np.float64) / self.denominators(popularity, rows)

    def hit(self, row: int, sim: float, value: float) -> BloggerHit:
        rate = self.engagement[row]
        return BloggerHit(
            blogger_id=str(self.ids[row]), username=str(self.usernames[row]), lang=str(self.langs[row]),
            followers=int(self.followers[row]), likes=round(float(self.likes[row]), 3),
            posts=int(self.posts[row]), tags=int(self.tags[row]), similarity=float(sim), score=float(value),
            engagement=None if np.isnan(rate) else round(float(rate), 6))

    def find(self, ref: str) -> int | None:
        """The row of a blogger named by id or by ``@username`` (a bare name that is no id is tried
        as a username too); None when there is no such blogger."""
        text = str(ref).strip()
        if text.startswith("@"):
            return self.by_username.get(text[1:].strip().lower())
        row = self.row.get(text)
        return row if row is not None else self.by_username.get(text.lower())


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
    The same as :class:`BloggerVectorSums` fed the table's batches.
    """
    sums = BloggerVectorSums(emb, weighting)
    for batch in posts.to_batches(max_chunksize=100_000):
        sums.add(pa.Table.from_batches([batch], schema=posts.schema))
    return sums.table(bloggers)


class BloggerVectorSums:
    """The blogger vectors over posts streamed batch by batch: per blogger, the running sum of its
    tag uses' weighted unit vectors, tag uses, posts, likes and posts per language, and the summed
    weight of each (blogger, tag) pair (:meth:`weight_matrix`: the one definition of the weights the
    vectors and the explanations' profiles are built from). Memory is bloggers x dim (float64 sums)
    plus the distinct (blogger, tag) pairs, whatever the number of posts; each batch multiplies only
    the rows of the bloggers it holds."""

    def __init__(self, emb: Embeddings, weighting: str = "reweight"):
        from topictensor.stages.streaming import Vocabulary

        if weighting not in ("reweight", "uniform"):
            raise ValueError(f"unknown weighting {weighting!r}: use 'reweight' or 'uniform'")
        self.emb, self.weighting = emb, weighting
        self.unit = emb.normalized().astype(np.float64)
        self.tags = Vocabulary(pa.array(emb.tags.tolist(), type=pa.string()))
        self.ids, self.langs = Vocabulary(), Vocabulary()
        self.summed = np.zeros((0, emb.dim), dtype=np.float64)
        self.tag_uses = np.zeros(0, dtype=np.int64)
        self.post_counts = np.zeros(0, dtype=np.int64)
        self.likes_sum = np.zeros(0, dtype=np.float64)
        self.lang_counts = np.zeros((0, 0), dtype=np.int64)
        self.posts = 0
        self._weights = None  # compacted (blogger, tag) weight sums: scipy CSR
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._pending_nnz = 0

    def _grow(self) -> None:
        n, have = len(self.ids), len(self.tag_uses)
        if n > have:
            size = max(n, 2 * have, 1024)
            self.summed = np.concatenate([self.summed, np.zeros((size - have, self.emb.dim))])
            self.tag_uses, self.post_counts = np.pad(self.tag_uses, (0, size - have)), np.pad(self.post_counts, (0, size - have))
            self.likes_sum = np.pad(self.likes_sum, (0, size - have))
            self.lang_counts = np.pad(self.lang_counts, ((0, size - have), (0, 0)))
        if len(self.langs) > self.lang_counts.shape[1]:
            self.lang_counts = np.pad(self.lang_counts, ((0, 0), (0, len(self.langs) - self.lang_counts.shape[1])))

    def add(self, posts: pa.Table) -> None:
        from scipy import sparse

        from topictensor.stages import streaming

        for column in ("blogger_id", "tags", "likes") + (("weights",) if self.weighting == "reweight" else ()):
            if column not in posts.column_names:
                raise ValueError(f"posts table lacks column {column!r} (has {posts.column_names})")
        if not posts.num_rows:
            return
        post_blogger = self.ids.codes(posts.column("blogger_id"))
        flat, parent = streaming.list_parts(posts.column("tags"))
        tag_rows = self.tags.codes(flat) if len(flat) else np.zeros(0, dtype=np.int64)
        if self.weighting == "reweight":
            weights = pc.list_flatten(posts.column("weights").combine_chunks()).to_numpy(zero_copy_only=False)
            if len(weights) != len(tag_rows):
                raise ValueError(f"posts: {len(weights)} weights for {len(tag_rows)} tags (must be aligned)")
        else:
            weights = np.ones(len(tag_rows), dtype=np.float32)
        lang_code = None
        if "lang" in posts.column_names:
            lang = posts.column("lang")
            stated = np.asarray(pc.and_(pc.is_valid(lang), pc.not_equal(pc.fill_null(lang, ""), ""))
                                .to_numpy(zero_copy_only=False), dtype=bool)
            if stated.any():
                lang_code = (np.flatnonzero(stated), self.langs.codes(pc.filter(lang, pa.array(stated))))
        self._grow()
        known = tag_rows < len(self.emb)
        use_blogger = post_blogger[parent[known]]
        rows, local = np.unique(use_blogger, return_inverse=True)  # only this batch's bloggers
        uses = sparse.csr_matrix((weights[known].astype(np.float64), (local, tag_rows[known])),
                                 shape=(len(rows), len(self.emb)))
        self.summed[rows] += np.asarray(uses @ self.unit)
        uses = uses.tocoo()
        self._pending.append((rows[uses.row], uses.col.astype(np.int64), uses.data))
        self._pending_nnz += uses.nnz
        if self._pending_nnz > max(1 << 20, 2 * (self._weights.nnz if self._weights is not None else 0)):
            self.weight_matrix()  # compact: memory stays ~2x the distinct pairs
        self.tag_uses[: len(self.ids)] += np.bincount(use_blogger, minlength=len(self.ids))
        self.post_counts[: len(self.ids)] += np.bincount(post_blogger, minlength=len(self.ids))
        likes = posts.column("likes").to_numpy().astype(np.float64)
        self.likes_sum[: len(self.ids)] += np.bincount(post_blogger, weights=likes, minlength=len(self.ids))
        if lang_code is not None:
            np.add.at(self.lang_counts, (post_blogger[lang_code[0]], lang_code[1]), 1)
        self.posts += posts.num_rows

    def weight_matrix(self):
        """scipy CSR (bloggers x tags; rows in ``self.ids`` order): the summed weight of each
        blogger's uses of each tag, the weights its vector is the normalised sum of."""
        from scipy import sparse

        shape = (len(self.ids), len(self.emb))
        parts = [self._weights.tocoo()] if self._weights is not None else []
        parts += [sparse.coo_matrix((w, (r, c)), shape=shape) for r, c, w in self._pending]
        if not parts:
            return sparse.csr_matrix(shape, dtype=np.float64)
        merged = parts[0].copy()
        merged.resize(shape)
        for part in parts[1:]:
            part.resize(shape)
            merged = merged + part
        self._weights, self._pending, self._pending_nnz = sparse.csr_matrix(merged), [], 0
        self._weights.sum_duplicates()
        return self._weights

    def table(self, bloggers: pa.Table | None) -> pa.Table:
        n = len(self.ids)
        ids = self.ids.values().to_pylist()
        summed, tag_uses = self.summed[:n], self.tag_uses[:n]
        norms = np.linalg.norm(summed, axis=1)
        keep = np.flatnonzero(norms > 1e-12)
        keep = keep[np.argsort(np.asarray(ids, dtype=object)[keep].astype(str), kind="stable")]
        vectors = (summed[keep] / norms[keep, None]).astype(np.float32)
        lang_values = self.langs.values().to_pylist()
        counts = self.lang_counts[:n]
        post_lang = [lang_values[int(np.argmax(c))] if c.any() else "und" for c in counts] if counts.shape[1] \
            else ["und"] * n
        meta = _metadata(bloggers)
        rows = {"blogger_id": [], "username": [], "lang": [], "followers": [], "likes": [], "likes_total": [],
                "posts": []}
        for i in keep.tolist():
            bid = ids[i]
            m = meta.get(bid)
            n_posts = int(m["posts"]) if m and m["posts"] else int(self.post_counts[i])
            total = int(m["likes_total"]) if m and m["likes_total"] is not None else int(self.likes_sum[i])
            rows["blogger_id"].append(bid)
            rows["username"].append(m["username"] if m and m["username"] else bid)
            rows["lang"].append(m["lang"] if m and m["lang"] else post_lang[i])
            rows["followers"].append(int(m["followers"] or 0) if m else 0)
            rows["likes"].append(total / n_posts if n_posts else 0.0)
            rows["likes_total"].append(total)
            rows["posts"].append(n_posts)
        # Rows grouped by language (then by id): a language filter is then a slice of the table and of
        # the index's rows, one contiguous matrix-vector product (BloggerTable._group_by_language).
        order = sorted(range(len(keep)), key=lambda i: (str(rows["lang"][i] or "").lower(), rows["blogger_id"][i]))
        rows = {name: [values[i] for i in order] for name, values in rows.items()}
        vectors, keep = vectors[order], keep[order]
        flat_vectors = pa.array(vectors.reshape(-1), type=pa.float32())
        offsets = pa.array(np.arange(len(keep) + 1, dtype=np.int32) * self.emb.dim)
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


# ------------------------------------------------------------------------------------------
# Ranking
# ------------------------------------------------------------------------------------------


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
        codes = [table._lang_code[x] for x in filters.languages if x in table._lang_code]
        keep &= np.isin(table.lang_codes[rows], np.asarray(codes, dtype=np.int32))
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
                mask = np.asarray(filters.count_mask(table._g_followers[block], table._g_posts[block],
                                                     table._g_engagement[block]), dtype=bool)
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
                sims.append(t._g_vectors[block] @ q)
            elif GATHER_COST * int(np.count_nonzero(mask)) < size:
                picked = block.start + np.flatnonzero(mask)
                positions.append(picked)
                sims.append(t._g_vectors[picked] @ q)
            else:
                positions.append(block.start + np.flatnonzero(mask))
                sims.append((t._g_vectors[block] @ q)[mask])
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
