"""The source project's quality metric: do a post's tags find each other among their nearest neighbours?

For each held-out post, keep its tags known to the vocabulary (deduplicated); with n >= 2 of
them, each tag's n-1 nearest other tags of the whole vocabulary (cosine) are compared with the
post's n-1 other tags. quality = hits / sum over tags of (n-1). A tag's neighbour list is
computed once however many posts it appears in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

import numpy as np

if TYPE_CHECKING:
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
        vectors = np.asarray(vectors, dtype=np.float32)
        n = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(n > 0, n, 1.0), index
    return emb.normalized(), emb.index


def nearest_ids(unit: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Ids of the k nearest other rows (cosine, best first) for each query row id; [len(queries), k]."""
    v = unit.shape[0]
    k = min(k, v - 1)
    out = np.empty((len(queries), max(k, 0)), dtype=np.int64)
    if k <= 0 or len(queries) == 0:
        return out
    batch = max(1, _BLOCK_BYTES // (4 * v))
    for start in range(0, len(queries), batch):
        q = queries[start : start + batch]
        sims = unit[q] @ unit.T
        sims[np.arange(len(q)), q] = -np.inf  # never its own neighbour
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < v else np.argsort(-sims, axis=1)[:, :k]
        top_sims = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_sims, axis=1, kind="stable")
        out[start : start + len(q)] = np.take_along_axis(top, order, axis=1)
    return out


def quality(emb: EmbeddingsLike, heldout_tag_lists: Iterable[Sequence[str]]) -> QualityResult:
    """Score embeddings on held-out posts; ``emb`` is an Embeddings or (vectors, index tag->row)."""
    unit, index = _unpack(emb)
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
    neigh = nearest_ids(unit, queries, k)
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
