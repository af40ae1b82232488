"""The source project's quality metric: do a post's tags find each other among their nearest neighbours?

For each held-out post, keep its tags known to the vocabulary (deduplicated); with n >= 2 of
them, each tag's n-1 nearest other tags of the whole vocabulary (cosine) are compared with the
post's n-1 other tags. quality = hits / sum over tags of (n-1). A tag's neighbour list is
computed once however many posts it appears in.

Also here: the count table (:class:`CooccurrenceCounts`), the memorising reference that ranks a
tag's neighbours by how often they co-occurred with it in training, scored by the same metric
(:func:`count_ranking_quality`); and two metrics against a planted truth: topical purity of the
nearest tags (:func:`topic_precision`) and the share of planted spam among a theme's best tags
(:func:`theme_top_tags`, :func:`spam_share`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

import numpy as np

from topictensor.ranking import rank_rows
from topictensor.vectors import unit_rows

if TYPE_CHECKING:
    from scipy import sparse

    from topictensor.embeddings import Embeddings

# Similarity block (queries x vocabulary, float32) kept under this size.
_BLOCK_BYTES = 256 * 1024**2


@dataclass(frozen=True)
class QualityResult:
    quality: float
    hits: int
    total: int
    posts: int  # posts scored (n >= 2 known tags)
    posts_skipped: int  # posts with fewer than 2 known tags


EmbeddingsLike = Union["Embeddings", tuple[np.ndarray, Mapping[str, int]]]


def _unpack(emb: EmbeddingsLike) -> tuple[np.ndarray, Mapping[str, int]]:
    if isinstance(emb, tuple):
        vectors, index = emb
        return unit_rows(vectors), index
    return emb.normalized(), emb.index


def nearest_ids(unit: np.ndarray, queries: np.ndarray, k: int, bonus: np.ndarray | None = None) -> np.ndarray:
    """Ids of the k nearest other rows (cosine, best first) for each query row id; [len(queries), k].

    ``bonus`` (one number per row, optional) is added to every query's cosine with that row: a
    ranking by cosine(a, b) + bonus[b], e.g. a popularity bonus gamma * ln posts(b)."""
    v = unit.shape[0]
    if bonus is not None:
        bonus = np.asarray(bonus, dtype=np.float32)
        if bonus.shape != (v,):
            raise ValueError(f"nearest_ids: bonus has shape {bonus.shape}, expected ({v},) (one number per row)")
    k = min(k, v - 1)
    out = np.empty((len(queries), max(k, 0)), dtype=np.int64)
    if k <= 0 or len(queries) == 0:
        return out
    batch = max(1, _BLOCK_BYTES // (4 * v))
    for start in range(0, len(queries), batch):
        q = queries[start : start + batch]
        sims = unit[q] @ unit.T
        if bonus is not None:
            sims += bonus[None, :]
        sims[np.arange(len(q)), q] = -np.inf  # never its own neighbour
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < v else np.argsort(-sims, axis=1)[:, :k]
        top_sims = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_sims, axis=1, kind="stable")
        out[start : start + len(q)] = np.take_along_axis(top, order, axis=1)
    return out


def quality(emb: EmbeddingsLike, heldout_tag_lists: Iterable[Sequence[str]],
            bonus: np.ndarray | None = None) -> QualityResult:
    """Score embeddings on held-out posts; ``emb`` is an Embeddings or (vectors, index tag->row);
    ``bonus``: neighbours ranked by cosine + bonus[row] (see :func:`nearest_ids`)."""
    unit, index = _unpack(emb)
    return _score(index, heldout_tag_lists, lambda queries, k: nearest_ids(unit, queries, k, bonus))


def _score(index: Mapping[str, int], heldout_tag_lists: Iterable[Sequence[str]], neighbours) -> QualityResult:
    """The metric for any neighbour ranking: ``neighbours(query ids, k)`` -> [len(queries), k] ids."""
    posts: list[list[int]] = []
    skipped = 0
    for tags in heldout_tag_lists:
        seen: dict[int, None] = {}
        for t in tags if tags is not None else ():
            i = index.get(t)
            if i is not None:
                seen[i] = None
        if len(seen) >= 2:
            posts.append(list(seen))
        else:
            skipped += 1
    if not posts:
        return QualityResult(quality=0.0, hits=0, total=0, posts=0, posts_skipped=skipped)

    queries = np.unique(np.fromiter((i for p in posts for i in p), dtype=np.int64))
    k = max(len(p) for p in posts) - 1
    neigh = neighbours(queries, k)
    row_of = {int(q): r for r, q in enumerate(queries)}
    hits = 0
    total = 0
    for p in posts:
        n = len(p)
        members = set(p)
        for t in p:
            near = neigh[row_of[t], : n - 1]
            hits += sum(1 for j in near.tolist() if j in members)
            total += n - 1
    return QualityResult(
        quality=hits / total if total else 0.0, hits=hits, total=total, posts=len(posts), posts_skipped=skipped
    )


# --- the count table: the memorising reference ------------------------------------------------

@dataclass(frozen=True, eq=False)
class CooccurrenceCounts:
    """In how many training posts each pair of distinct tags appeared together (a post's
    duplicate tags count once), and each tag's number of posts; rows follow ``index``."""

    counts: "sparse.csr_matrix"  # int64 [V, V], symmetric, zero diagonal
    posts_with: np.ndarray  # int64 [V]
    index: Mapping[str, int]

    @classmethod
    def from_posts(cls, tag_lists: Iterable[Sequence[str]]) -> "CooccurrenceCounts":
        from scipy import sparse

        index: dict[str, int] = {}
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        singles: list[int] = []
        for tags in tag_lists:
            ids = [index.setdefault(t, len(index)) for t in dict.fromkeys(tags if tags is not None else ())]
            singles.extend(ids)
            if len(ids) < 2:
                continue
            a = np.asarray(ids, dtype=np.int64)
            pairs_a = np.repeat(a, len(a))
            pairs_b = np.tile(a, len(a))
            off = pairs_a != pairs_b
            rows.append(pairs_a[off])
            cols.append(pairs_b[off])
        n = len(index)
        r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        c = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
        counts = sparse.coo_matrix((np.ones(len(r), dtype=np.int64), (r, c)), shape=(n, n)).tocsr()
        counts.sum_duplicates()
        posts_with = np.bincount(np.asarray(singles, dtype=np.int64), minlength=n)
        return cls(counts=counts, posts_with=posts_with, index=index)

    def rank(self, scores: np.ndarray, exclude: np.ndarray, k: int) -> np.ndarray:
        """The k best tags by ``scores`` (float [V]); ties go to the tag in more posts, then the
        lower row; tags in ``exclude`` and tags never co-occurring (score 0) are never ranked, so
        fewer than k may come back."""
        cand = np.flatnonzero(scores > 0)
        cand = cand[~np.isin(cand, exclude)]
        order = np.lexsort((cand, -self.posts_with[cand], -scores[cand]))
        return cand[order[:k]]

    def nearest(self, queries: np.ndarray, k: int) -> np.ndarray:
        """For each query row, its k most co-occurring other tags (-1 pads rows with fewer)."""
        out = np.full((len(queries), max(k, 0)), -1, dtype=np.int64)
        csr = self.counts
        for r, q in enumerate(np.asarray(queries, dtype=np.int64)):
            lo, hi = csr.indptr[q], csr.indptr[q + 1]
            cols, vals = csr.indices[lo:hi].astype(np.int64), csr.data[lo:hi]
            order = np.lexsort((cols, -self.posts_with[cols], -vals))[:k]
            out[r, : len(order)] = cols[order]
        return out

    def theme_scores(self, weighted_tags: Mapping[str, float]) -> np.ndarray:
        """A theme's score of every tag: the weighted sum of its tags' count rows."""
        total = np.zeros(self.counts.shape[0], dtype=np.float64)
        for tag, w in weighted_tags.items():
            i = self.index.get(tag)
            if i is not None:
                total += w * self.counts.getrow(i).toarray().ravel()
        return total


def count_ranking_quality(counts: CooccurrenceCounts, heldout_tag_lists: Iterable[Sequence[str]]) -> QualityResult:
    """The metric with each tag's neighbours ranked by raw co-occurrence count in training (no
    embedding): the memorising reference a vector model is measured against."""
    return _score(counts.index, heldout_tag_lists, counts.nearest)


# --- planted-truth metrics: topical purity and spam --------------------------------------------

def topic_precision(emb: EmbeddingsLike, topic_of: Mapping[str, str], k: int = 10,
                    bonus: np.ndarray | None = None) -> float:
    """Mean over the tags with a known single topic (``topic_of``: tag -> topic) of the share of
    their k nearest tags (cosine, whole vocabulary; ``bonus`` as in :func:`nearest_ids`) that have
    the same topic."""
    unit, index = _unpack(emb)
    return _topic_precision(index, topic_of, k, lambda queries, kk: nearest_ids(unit, queries, kk, bonus))


def count_topic_precision(counts: CooccurrenceCounts, topic_of: Mapping[str, str], k: int = 10) -> float:
    """:func:`topic_precision` of the count table (a tag with fewer than k co-tags scores its
    missing places as misses)."""
    return _topic_precision(counts.index, topic_of, k, counts.nearest)


def _topic_precision(index: Mapping[str, int], topic_of: Mapping[str, str], k: int, neighbours) -> float:
    queries = np.array(sorted(index[t] for t in topic_of if t in index), dtype=np.int64)
    if len(queries) == 0:
        raise ValueError("topic_precision: no tag of topic_of is in the vocabulary")
    tag_of_row = {i: t for t, i in index.items()}
    neigh = neighbours(queries, k)
    hits = 0
    for q, row in zip(queries.tolist(), neigh.tolist()):
        mine = topic_of[tag_of_row[q]]
        hits += sum(1 for j in row if j >= 0 and topic_of.get(tag_of_row[j]) == mine)
    return hits / (len(queries) * k)


def theme_top_tags(emb: EmbeddingsLike, weighted_tags: Mapping[str, float], k: int = 20,
                   bonus: np.ndarray | None = None) -> list[str]:
    """A theme's k best tags by cosine to the weighted sum of its tags' unit vectors (the theme's
    own tags excluded): the search side's ranking with ``search.theme_popularity_penalty`` 0. With
    ``bonus`` (one number per row) added to each tag's cosine, ``ranking.popularity_penalty(counts,
    c)`` gives the search side's ranking at penalty c (the same ``ranking.rank_rows``, which refuses
    a bonus of the wrong shape)."""
    unit, index = _unpack(emb)
    q = np.zeros(unit.shape[1], dtype=np.float32)
    own = []
    for tag, w in weighted_tags.items():
        i = index.get(tag)
        if i is not None:
            q += np.float32(w) * unit[i]
            own.append(i)
    if not own:
        raise ValueError(f"theme_top_tags: none of the theme's tags {sorted(weighted_tags)} is in the vocabulary")
    sims = unit @ (q / max(float(np.linalg.norm(q)), 1e-12))  # a cosine: the bonus is on one scale for every theme
    tag_of_row = {i: t for t, i in index.items()}
    return [tag_of_row[int(j)] for j in rank_rows(sims, k, own, bonus)]


def count_theme_top_tags(counts: CooccurrenceCounts, weighted_tags: Mapping[str, float], k: int = 20) -> list[str]:
    """:func:`theme_top_tags` of the count table: tags ranked by the weighted sum of the theme's
    tags' co-occurrence counts."""
    own = np.array([counts.index[t] for t in weighted_tags if t in counts.index], dtype=np.int64)
    if len(own) == 0:
        raise ValueError(f"count_theme_top_tags: none of the theme's tags {sorted(weighted_tags)} is in the counts")
    tag_of_row = {i: t for t, i in counts.index.items()}
    return [tag_of_row[int(j)] for j in counts.rank(counts.theme_scores(weighted_tags), own, k)]


def spam_share(top_lists: Iterable[Sequence[str]], spam: Set[str]) -> float:
    """Mean share of planted spam tags in each theme's top list."""
    shares = [sum(1 for t in top if t in spam) / len(top) for top in top_lists if len(top)]
    if not shares:
        raise ValueError("spam_share: no non-empty top list")
    return float(np.mean(shares))


# --- champion and challenger on the same posts ------------------------------------------------

def quality_on_universe(emb: EmbeddingsLike, heldout_tag_lists: Iterable[Sequence[str]],
                        universe: Set[str]) -> QualityResult:
    """The metric with the posts' tags taken from ``universe`` (the tags any compared model knows),
    not from this model's vocabulary, so two models scored on the same posts share one denominator.

    A post keeps its distinct tags in ``universe``; with n >= 2 of them each tag has n-1 slots. A tag
    this model does not know scores 0 on its slots, and can never be found among another tag's
    neighbours: knowing fewer tags costs hits instead of skipping the hard posts."""
    hits, slots, skipped = universe_post_scores(emb, heldout_tag_lists, universe)
    total = int(slots.sum())
    return QualityResult(quality=int(hits.sum()) / total if total else 0.0, hits=int(hits.sum()), total=total,
                         posts=len(slots), posts_skipped=skipped)


def universe_post_scores(emb: EmbeddingsLike, heldout_tag_lists: Iterable[Sequence[str]],
                         universe: Set[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`quality_on_universe` per post: (hits, slots) of every post it scores, in order, and
    how many posts it skipped (fewer than 2 tags in ``universe``); for paired comparisons."""
    unit, index = _unpack(emb)
    posts: list[list[str]] = []
    skipped = 0
    for tags in heldout_tag_lists:
        kept = list(dict.fromkeys(t for t in (tags if tags is not None else ()) if t in universe))
        if len(kept) >= 2:
            posts.append(kept)
        else:
            skipped += 1
    hits, slots = np.zeros(len(posts), dtype=np.int64), np.zeros(len(posts), dtype=np.int64)
    if not posts:
        return hits, slots, skipped
    known = sorted({index[t] for p in posts for t in p if t in index})
    queries = np.asarray(known, dtype=np.int64)
    k = max(len(p) for p in posts) - 1
    neigh = nearest_ids(unit, queries, k) if len(queries) else np.zeros((0, 0), dtype=np.int64)
    row_of = {int(q): r for r, q in enumerate(queries.tolist())}
    for n_post, p in enumerate(posts):
        n = len(p)
        slots[n_post] = n * (n - 1)
        members = {index[t] for t in p if t in index}
        hits[n_post] = sum(sum(1 for j in neigh[row_of[i], : n - 1].tolist() if j in members) for i in members)
    return hits, slots, skipped


def neighbour_overlap(a: EmbeddingsLike, b: EmbeddingsLike, shared: Sequence[str],
                      queries: Sequence[str] | None = None, k: int = 10) -> float:
    """Mean share of a tag's k nearest tags that two models agree on, over ``queries`` (default:
    every shared tag). Both neighbour lists are taken among ``shared`` (tags both models know), so
    a new or vanished tag (counted apart, as vocabulary churn) is not a change of the shared tags'
    meaning."""
    shared = list(dict.fromkeys(shared))
    if len(shared) < 2:
        return 1.0
    pos = {t: i for i, t in enumerate(shared)}
    q = np.asarray([pos[t] for t in (shared if queries is None else queries)], dtype=np.int64)
    kk = min(k, len(shared) - 1)
    lists = []
    for emb in (a, b):
        unit, index = _unpack(emb)
        sub = np.ascontiguousarray(unit[np.asarray([index[t] for t in shared], dtype=np.int64)])
        lists.append(nearest_ids(sub, q, kk))
    same = sum(len(set(x.tolist()) & set(y.tolist())) for x, y in zip(*lists))
    return same / (len(q) * kk) if len(q) else 1.0
