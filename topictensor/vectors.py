"""Unit vectors: the one definition of row normalisation (cosine similarity = dot product of unit rows).

Used by the trainer, the warm start, the embeddings, the quality metric, the ANN index and the
topics, so that every part of the project means the same thing by "unit": each row divided by its
Euclidean length, a zero row left at zero (it has no direction; it matches nothing).
"""

from __future__ import annotations

import numpy as np


def unit_rows(vectors: np.ndarray, dtype: np.dtype | type = np.float32) -> np.ndarray:
    """``vectors`` (2-D) with every row scaled to length 1, zero rows staying zero; a new
    C-contiguous array of ``dtype`` (float32 by default; float64 where sums must stay exact)."""
    x = np.asarray(vectors, dtype=dtype)
    if x.ndim != 2:
        raise ValueError(f"vectors must be 2-D (one row per vector), got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.where(norms > 0, norms, 1.0).astype(x.dtype, copy=False))
