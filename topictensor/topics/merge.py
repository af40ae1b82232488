"""Merge near-duplicate topics: the complaint users of BERTopic-like tools make most after noise.

Two clusters whose centroids (in the original embedding space, not the reduced one) are at least
``threshold`` cosine-similar describe the same thing; they are merged greedily, closest pair
first, and the merged topic remembers which clusters it came from.
"""

from __future__ import annotations

import numpy as np

from topictensor.vectors import unit_rows


def merge_close_clusters(labels: np.ndarray, unit: np.ndarray, threshold: float | None
                         ) -> tuple[np.ndarray, list[list[int]]]:
    """Return (labels renumbered 0..m-1 after merging, lineage[m] = the input labels merged into m).

    ``unit`` are the rows' unit vectors in the original space; -1 (noise) is left alone.
    """
    labels = np.asarray(labels, dtype=np.int64)
    clusters = sorted(int(c) for c in np.unique(labels) if c >= 0)
    dim = unit.shape[1]
    sums = np.zeros((len(clusters), dim), dtype=np.float64)
    inside = labels >= 0
    # clusters are numbered 0..k-1 by HDBSCAN; searchsorted also copes with gaps
    np.add.at(sums, np.searchsorted(clusters, labels[inside]), unit[inside].astype(np.float64))
    lineage: list[list[int]] = [[c] for c in clusters]
    alive = np.ones(len(clusters), dtype=bool)

    if threshold is not None and len(clusters) > 1:
        cent = unit_rows(sums, np.float64)
        sims = cent @ cent.T
        np.fill_diagonal(sims, -np.inf)
        while True:
            flat = int(np.argmax(sims))
            a, b = divmod(flat, len(clusters))
            if sims[a, b] < threshold:
                break
            a, b = min(a, b), max(a, b)  # the older (lower) cluster absorbs the other
            sums[a] += sums[b]
            lineage[a] = sorted(lineage[a] + lineage[b])
            lineage[b] = []
            alive[b] = False
            sims[b, :] = sims[:, b] = -np.inf
            cent[a] = unit_rows(sums[a:a + 1], np.float64)[0]
            row = cent @ cent[a]
            row[~alive] = -np.inf
            row[a] = -np.inf
            sims[a, :] = sims[:, a] = row

    survivors = [i for i in range(len(clusters)) if alive[i]]
    old_to_new = {}
    for new, i in enumerate(survivors):
        for c in lineage[i]:
            old_to_new[c] = new
    out = np.array([old_to_new.get(int(c), -1) for c in labels], dtype=np.int64)
    return out, [lineage[i] for i in survivors]


