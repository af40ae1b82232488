"""The quality metric on a hand-computed example.

Vectors (2-D): a=(1,0) b=(1,.1) c=(0,1) d=(.1,1) e=(-1,0). Nearest other tags by cosine:
a: b, d, c ...   b: a, d ...   c: d, b ...   d: c, b ...
Posts: [a,b] -> a finds b, b finds a: 2/2. [a,c] -> a finds b, c finds d: 0/2.
[a,c,d] -> a: {b,d} 1 hit; c: {d,b} 1 hit; d: {c,b} 1 hit: 3/6.
[a, unknown] and [a, a] keep fewer than 2 known distinct tags: skipped.
quality = 5 / 10.
"""

from __future__ import annotations

import numpy as np
import pytest

import topictensor.quality as quality_module
from topictensor.embeddings import Embeddings
from topictensor.quality import nearest_ids, quality

TAGS = ["a", "b", "c", "d", "e"]
VECTORS = np.array([[1, 0], [1, 0.1], [0, 1], [0.1, 1], [-1, 0]], dtype=np.float32)
HELDOUT = [["a", "b"], ["a", "c"], ["a", "c", "d"], ["a", "unknown"], ["a", "a"]]


def test_hand_computed_example():
    res = quality((VECTORS, {t: i for i, t in enumerate(TAGS)}), HELDOUT)
    assert (res.hits, res.total, res.posts, res.posts_skipped) == (5, 10, 3, 2)
    assert res.quality == pytest.approx(0.5)


def test_embeddings_object_and_scale_give_the_same_answer():
    emb = Embeddings(TAGS, [1] * 5, VECTORS * np.array([[3], [0.5], [7], [2], [1]], dtype=np.float32))
    assert quality(emb, HELDOUT).hits == 5


def test_no_scorable_post():
    res = quality((VECTORS, {t: i for i, t in enumerate(TAGS)}), [["a"], ["zz", "yy"]])
    assert (res.quality, res.total, res.posts, res.posts_skipped) == (0.0, 0, 0, 2)


def test_batching_does_not_change_neighbours(monkeypatch):
    rng = np.random.default_rng(0)
    v = rng.normal(size=(50, 8)).astype(np.float32)
    unit = v / np.linalg.norm(v, axis=1, keepdims=True)
    queries = np.arange(50)
    whole = nearest_ids(unit, queries, 4)
    monkeypatch.setattr(quality_module, "_BLOCK_BYTES", 4 * 50 * 3)  # 3 queries per block
    assert np.array_equal(nearest_ids(unit, queries, 4), whole)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    assert np.array_equal(whole, np.argsort(-sims, axis=1)[:, :4])
