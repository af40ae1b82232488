"""Describe a topic: its most central tags, coherence, and flags for suspected useless topics.

A label made of the most *frequent* members is dominated by generic tags (#love, #photo) that sit
at a topic's edge; the tags closest to the centroid say what the topic is about.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LOW_COHERENCE = "low_coherence"
FREQUENT_GENERIC = "frequent_generic"
STOPLIST = "stoplist"
GENERIC = "generic"  # mostly topic-free tags (the filter stage's detector): kept out of the tree


def centroid(unit: np.ndarray) -> np.ndarray:
    """Unit mean direction of unit rows (zero when they cancel out)."""
    mean = unit.mean(axis=0) if len(unit) else np.zeros(unit.shape[1], dtype=np.float32)
    norm = float(np.linalg.norm(mean))
    return (mean / norm if norm > 0 else mean).astype(np.float32)


def coherence(unit: np.ndarray) -> float:
    """Mean pairwise cosine of unit rows, in O(n d): sum_i!=j <u_i,u_j> = |sum u|^2 - sum |u_i|^2."""
    n = len(unit)
    if n < 2:
        return 1.0
    total = unit.sum(axis=0, dtype=np.float64)
    self_sim = float(np.einsum("ij,ij->", unit, unit, dtype=np.float64))
    return float((total @ total - self_sim) / (n * (n - 1)))


def central_tags(tags: Sequence[str], unit: np.ndarray, center: np.ndarray, counts: np.ndarray,
                 k: int) -> list[str]:
    """The k tags closest to the centroid; ties broken by count (then by tag, for determinism)."""
    sims = unit @ center
    order = sorted(range(len(tags)), key=lambda i: (-round(float(sims[i]), 6), -int(counts[i]), tags[i]))
    return [tags[i] for i in order[:k]]


def topic_flags(coherence_value: float, member_tags: Sequence[str], frequent: set[str], stoplist: set[str],
                *, low_coherence: float, frequent_share: float, stoplist_share: float,
                generic: set[str] = frozenset(), generic_share: float = 0.5) -> list[str]:
    """Why a topic may be useless: it is loose, it is mostly very frequent (blacklist-like) tags, it
    is made of stop-listed tags (private names, emotions, common words), or of tags the filter stage's
    detector scored generic (``topictensor.generic_tags``)."""
    flags = []
    n = max(1, len(member_tags))
    if coherence_value < low_coherence:
        flags.append(LOW_COHERENCE)
    if sum(t in frequent for t in member_tags) / n >= frequent_share:
        flags.append(FREQUENT_GENERIC)
    if stoplist and sum(t in stoplist for t in member_tags) / n >= stoplist_share:
        flags.append(STOPLIST)
    if generic and sum(t in generic for t in member_tags) / n >= generic_share:
        flags.append(GENERIC)
    return flags
