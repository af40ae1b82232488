"""Generic (topic-free) tags: how much a tag's company looks like the whole corpus.

A thematic tag (``bmw``) keeps company with its theme (``audi``, ``cars``); a topic-free one (``love``,
``amor``, ``liebe``, ``giveaway``) is added to posts of every theme, so the tags it appears with are
distributed like the tags of the corpus as a whole. Over the per-language review candidates (the top-N
tags by posts, ``filter`` stage), with ``C[t, c]`` = posts carrying both ``t`` and ``c``:

* ``cotag_entropy`` (the one that decides, ``DECIDING_SCORE``): entropy of ``C[t, :] / sum`` over
  ln(number of other candidates): 1 = its company is spread evenly over every candidate, a theme's tag
  keeps to its theme's few dozen tags (~0.6 on the synthetic corpora).
* ``generic_score``: cosine between ``t``'s co-tag counts ``C[t, :]`` and the corpus's tag counts
  (posts per candidate tag), both without ``t``: closeness to the corpus's mean. Kept in the review as
  a second opinion; measured, it separates planted spam worse (recall 0.14 at precision 1.0, where the
  entropy gets 0.73).

Which separates planted spam best is measured by ``benchmarks/bench_selection.py --generic`` (README).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

DECIDING_SCORE = "cotag_entropy"


def cooccurrence(post_codes: list[tuple[np.ndarray, np.ndarray]], n: int) -> np.ndarray:
    """``C[i, j]`` = posts carrying candidate tags ``i`` and ``j`` (0 on the diagonal), from
    ``(post row, candidate code)`` pairs of each batch (a post's codes must be distinct)."""
    total = np.zeros((n, n), dtype=np.float64)
    for rows, codes in post_codes:
        if not len(codes):
            continue
        _, post = np.unique(rows, return_inverse=True)
        x = sparse.csr_matrix((np.ones(len(codes)), (post, codes)), shape=(int(post.max()) + 1, n))
        total += (x.T @ x).toarray()
    np.fill_diagonal(total, 0.0)
    return total


def generic_scores(cooc: np.ndarray, posts: np.ndarray) -> dict[str, np.ndarray]:
    """Per candidate tag: ``generic_score`` and ``cotag_entropy`` (module docstring)."""
    n = len(posts)
    c = np.asarray(cooc, dtype=np.float64)
    p = np.asarray(posts, dtype=np.float64)
    if n < 3:
        return {"generic_score": np.zeros(n), "cotag_entropy": np.zeros(n)}
    # cos(C[t, -t], p[-t]) = (C[t] @ p - 0) / (|C[t]| * sqrt(|p|^2 - p_t^2)); C's diagonal is 0
    dots = c @ p
    norms = np.linalg.norm(c, axis=1) * np.sqrt(np.maximum(p @ p - p**2, 1e-300))
    score = np.divide(dots, norms, out=np.zeros(n), where=norms > 0)
    sums = c.sum(axis=1, keepdims=True)
    q = np.divide(c, sums, out=np.zeros_like(c), where=sums > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.nansum(np.where(q > 0, q * np.log(q), 0.0), axis=1) / np.log(n - 1)
    return {"generic_score": score, "cotag_entropy": entropy}
