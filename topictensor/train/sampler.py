"""Negative sampling: an alias table over tags, drawn from in O(1) inside the kernels.

An alias table is exact for any distribution and costs 8 bytes per tag, where StarSpace's and
word2vec's unigram tables cost 4 bytes per slot and 10-100 M slots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AliasTable:
    """Draw i with probability weights[i] / sum: pick a bucket b uniformly, keep b if u < prob[b], else alias[b]."""

    prob: np.ndarray  # float32 [V]
    alias: np.ndarray  # int32 [V]

    def __len__(self) -> int:
        return len(self.prob)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Python-side draws (for tests and checks); the kernels draw with their own RNG."""
        b = rng.integers(0, len(self.prob), size=size)
        u = rng.random(size=size)
        return np.where(u < self.prob[b], b, self.alias[b]).astype(np.int32)


def sampling_weights(counts: np.ndarray, power: float, mix: float = 1.0) -> np.ndarray:
    """The negative distribution (unnormalised): ``mix`` of it ~ counts**power, the rest uniform
    over the tags with a positive count; zero counts stay zero (a tag never seen, or only with
    weight 0, is never drawn). mix 1 = counts**power alone."""
    if not 0.0 <= mix <= 1.0:
        raise ValueError(f"mix must be in [0, 1], got {mix}")
    c = np.asarray(counts, dtype=np.float64)
    w = np.where(c > 0, np.power(np.maximum(c, 1e-300), power), 0.0)
    if mix >= 1.0:
        return w
    seen = (c > 0).astype(np.float64)
    total_w, total_seen = w.sum(), seen.sum()
    if total_seen == 0:
        return w
    return mix * w / total_w + (1.0 - mix) * seen / total_seen


def build_alias_table(weights: np.ndarray) -> AliasTable:
    """Vose's alias method. All-zero weights are an error: there would be nothing to sample."""
    w = np.asarray(weights, dtype=np.float64)
    n = len(w)
    total = w.sum()
    if n == 0 or not np.isfinite(total) or total <= 0:
        raise ValueError("negative sampling needs at least one tag with positive weight")
    scaled = w * (n / total)
    prob = np.ones(n, dtype=np.float64)
    alias = np.arange(n, dtype=np.int32)
    small = [i for i in np.flatnonzero(scaled < 1.0)]
    large = [i for i in np.flatnonzero(scaled >= 1.0)]
    while small and large:
        s = small.pop()
        g = large[-1]
        prob[s] = scaled[s]
        alias[s] = g
        scaled[g] = scaled[g] + scaled[s] - 1.0
        if scaled[g] < 1.0:
            large.pop()
            small.append(g)
    # Leftovers are 1.0 up to rounding.
    for i in small + large:
        prob[i] = 1.0
        alias[i] = i
    # A zero-weight bucket must never return itself.
    zero = w == 0
    prob[zero] = 0.0
    alias[zero & (alias == np.arange(n))] = int(np.argmax(w))
    return AliasTable(prob=prob.astype(np.float32), alias=alias)
