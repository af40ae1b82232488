"""Placing tags the reduction and clustering were not fitted on (``clusters.max_fit_tags``).

UMAP and HDBSCAN grow faster than linearly with the tags they see (``benchmarks/bench_topics.py
scale``), so above the cap they are fitted on the most used tags only; every other clusterable tag
then takes the topic its nearest fitted tags vote for: cosine in the same (centred) space every other
topic decision uses, the ``n_neighbors`` nearest (the neighbourhood UMAP was fitted with), each
neighbour's vote weighted by its similarity, noise being a label like any other. The similarities
are computed in blocks of at most ``BLOCK_CELLS`` (placed x fitted) cells, so memory is the
fitted tags plus one block (~32 MB), whatever the number of tags placed.
"""

from __future__ import annotations

import numpy as np

NOISE = -1
# Cells (placed x fitted) per block: the similarities (float32), their negation and argpartition's
# int64 positions make ~16 bytes a cell, so 2M cells keep a block's temporaries near 32 MB (2^24
# cells, 270 MB of them, raised the bench's clusters peak above the uncapped one).
BLOCK_CELLS = 1 << 21


def place_by_neighbours(space: np.ndarray, fitted: np.ndarray, fitted_labels: np.ndarray,
                        placed: np.ndarray, neighbours: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and strengths for the rows ``placed`` of ``space`` (unit rows), from the rows
    ``fitted`` and their labels (-1 = noise). Strength: the winning label's share of the
    neighbours' positive similarity (0 for noise)."""
    labels = np.full(len(placed), NOISE, dtype=np.int64)
    strengths = np.zeros(len(placed), dtype=np.float32)
    if not len(placed) or not len(fitted):
        return labels, strengths
    k = max(1, min(int(neighbours), len(fitted)))
    basis = np.ascontiguousarray(space[fitted], dtype=np.float32)
    codes = np.where(fitted_labels >= 0, fitted_labels, fitted_labels.max(initial=-1) + 1)  # noise: last code
    n_codes = int(codes.max()) + 1
    noise_code = n_codes - 1 if (fitted_labels < 0).any() else -1
    step = max(1, BLOCK_CELLS // len(fitted))
    for lo in range(0, len(placed), step):
        rows = placed[lo:lo + step]
        sims = np.asarray(space[rows], dtype=np.float32) @ basis.T
        near = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < len(fitted) else \
            np.broadcast_to(np.arange(len(fitted)), (len(rows), len(fitted)))
        weight = np.clip(np.take_along_axis(sims, near, axis=1), 0.0, None).astype(np.float64)
        votes = np.zeros((len(rows), n_codes), dtype=np.float64)
        np.add.at(votes, (np.repeat(np.arange(len(rows)), k), codes[near].reshape(-1)), weight.reshape(-1))
        # Ties go to the lower code: the larger topic (local ids are numbered by size later, so any
        # fixed rule keeps a rerun's result the same).
        best = np.argmax(votes, axis=1)
        total = votes.sum(axis=1)
        share = np.divide(votes[np.arange(len(rows)), best], total, out=np.zeros(len(rows)), where=total > 0)
        chosen = (best != noise_code) & (total > 0)
        labels[lo:lo + len(rows)] = np.where(chosen, best, NOISE)
        strengths[lo:lo + len(rows)] = np.where(chosen, share, 0.0).astype(np.float32)
    return labels, strengths
