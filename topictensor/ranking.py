"""The ranking of a theme's tags: by cosine, or by cosine + a per-tag number, the popularity penalty
``-c * ln(count)`` (README, "A theme's tags: the popularity penalty"). One definition for the search
side (``search.themes.nearest_tags``, hence ``SearchModel.topic``) and the benchmarks' measure of
it (``quality.theme_top_tags``); numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


def popularity_penalty(counts: np.ndarray, weight: float) -> np.ndarray | None:
    """What a theme's tag ranking adds to each tag's cosine: ``-weight * ln(max(count, 1))`` per row
    (``count``: the tag's training count, ``Embeddings.counts``; a count of 0 takes the largest
    count's penalty, so a vanished tag is never favoured); ``None`` at weight 0 (plain
    cosine). Frequent topic-free tags (``love``, ``instagood``) sit near every sum of tags; this
    pushes them down a theme's list."""
    if not math.isfinite(weight) or weight < 0:
        raise ValueError(f"popularity penalty weight must be a finite number >= 0, got {weight!r}")
    if weight == 0:
        return None
    counts = np.asarray(counts, dtype=np.float64)
    logs = np.log(np.maximum(counts, 1.0))
    if len(logs):  # a tag kept with count 0 (a vanished one, train.keep_vanished_tags): the most penalised
        logs[counts <= 0] = logs.max()
    return (-weight * logs).astype(np.float32)


def rank_rows(sims: np.ndarray, k: int, skip: Iterable[int] = (), bonus: np.ndarray | None = None) -> np.ndarray:
    """The ``k`` rows of highest ``sims + bonus`` (``bonus`` optional, one number per row), best
    first, ties by row (as ``Embeddings.neighbours``); rows in ``skip`` are never returned."""
    score = np.array(sims, dtype=np.float32)
    if bonus is not None:
        bonus = np.asarray(bonus, dtype=np.float32)
        if bonus.shape != score.shape:
            raise ValueError(f"bonus has shape {bonus.shape}, expected {score.shape} (one number per row)")
        score += bonus
    skip = sorted(set(skip))
    if skip:
        score[skip] = -np.inf
    k = max(0, min(k, len(score) - len(skip)))
    if k == 0:
        return np.empty(0, dtype=np.int64)
    top = np.argpartition(-score, k - 1)[:k] if k < len(score) else np.arange(len(score))
    return top[np.lexsort((top, -score[top]))][:k]
