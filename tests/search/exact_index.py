"""A brute-force twin of the ANN backend (``topictensor.search.index``) for tests: the exact
answer an index's recall is measured against, and a stand-in index whose answers are known."""

from __future__ import annotations

import numpy as np

from topictensor.vectors import unit_rows


class ExactIndex:
    """Brute force over unit rows: ``search(query, k) -> (rows, cosines)``, best first, ties by row."""

    method = "exact"

    def __init__(self, vectors: np.ndarray):
        self.vectors = unit_rows(vectors)

    def __len__(self) -> int:
        return len(self.vectors)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(q))
        sims = self.vectors @ (q / norm if norm > 0 else q)
        k = max(0, min(k, len(sims)))
        if k == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        top = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
        top = top[np.lexsort((top, -sims[top]))]
        return top.astype(np.int64), sims[top]
