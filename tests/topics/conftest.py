"""Planted topics: tag vectors drawn around known, well separated directions."""

from __future__ import annotations

import numpy as np
import pytest

from topictensor.embeddings import Embeddings


def planted_vectors(n_topics: int = 4, per_topic: int = 20, dim: int = 16, spread: float = 0.15,
                    seed: int = 0, prefix: str = "t") -> tuple[list[str], np.ndarray, np.ndarray, dict[str, int]]:
    """(tags, counts, vectors, truth tag -> planted topic). Topic centres are orthogonal axes, so
    any two planted topics are far apart (cosine ~0) and members of one are close (cosine ~0.9)."""
    rng = np.random.default_rng(seed)
    tags, rows, truth = [], [], {}
    for k in range(n_topics):
        centre = np.zeros(dim)
        centre[k] = 1.0
        for i in range(per_topic):
            tag = f"{prefix}{k}_{i}"
            tags.append(tag)
            rows.append(centre + spread * rng.standard_normal(dim))
            truth[tag] = k
    counts = rng.integers(5, 500, size=len(tags))
    return tags, counts, np.array(rows, dtype=np.float32), truth


@pytest.fixture
def planted():
    return planted_vectors


@pytest.fixture
def planted_embeddings():
    def make(**kwargs) -> tuple[Embeddings, dict[str, int]]:
        tags, counts, vectors, truth = planted_vectors(**kwargs)
        return Embeddings(tags, counts, vectors), truth
    return make
