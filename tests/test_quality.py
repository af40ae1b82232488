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


# --- the count table ---------------------------------------------------------------------------
# Training posts: a co-occurs with b 3 times, with c twice, with d once; c and d once; e alone.
COUNT_TRAIN = [["a", "b"], ["a", "b", "c"], ["b", "a"], ["a", "c", "d"], ["e"], ["a", "a", "b"]]


def test_count_table_counts_posts_not_repeats():
    from topictensor.quality import CooccurrenceCounts

    c = CooccurrenceCounts.from_posts(COUNT_TRAIN)
    i = c.index
    assert c.counts[i["a"], i["b"]] == 4 and c.counts[i["b"], i["a"]] == 4  # ["a","a","b"] counts once
    assert c.counts[i["a"], i["c"]] == 2 and c.counts[i["c"], i["d"]] == 1
    assert c.counts[i["a"], i["a"]] == 0
    assert c.posts_with[i["a"]] == 5 and c.posts_with[i["e"]] == 1


def test_count_ranking_quality_by_hand():
    from topictensor.quality import CooccurrenceCounts, count_ranking_quality

    c = CooccurrenceCounts.from_posts(COUNT_TRAIN)
    # a ranks b(4) c(2) d(1); b: a(4) c(1); c: a(2), then b and d (1 each; b is in more posts);
    # d: a, c (1 each; a in more posts).
    # [a, b]: a->b hit, b->a hit: 2/2. [c, d]: c->a miss, d->a miss: 0/2.
    # [a, c, d]: a->{b,c} 1; c->{a,b} 1; d->{a,c} 2: 4/6. [e, a]: e has no co-tag (miss), a->b miss: 0/2.
    res = count_ranking_quality(c, [["a", "b"], ["c", "d"], ["a", "c", "d"], ["e", "a"], ["zz", "a"]])
    assert (res.hits, res.total, res.posts, res.posts_skipped) == (6, 12, 4, 1)


def test_topic_precision_and_spam_share_by_hand():
    from topictensor.quality import (CooccurrenceCounts, count_theme_top_tags, count_topic_precision,
                                     spam_share, theme_top_tags, topic_precision)

    index = {t: i for i, t in enumerate(TAGS)}
    # a's nearest 2: b, d -> topic x = {a, b}: 1/2; b: a, d -> 1/2; c (topic y = {c, d}): d, b -> 1/2;
    # d: c, b -> 1/2. Without d's topic known, c's hit d no longer counts: 2/6.
    topic_of = {"a": "x", "b": "x", "c": "y", "d": "y"}
    assert topic_precision((VECTORS, index), topic_of, k=2) == pytest.approx(4 / 8)
    assert topic_precision((VECTORS, index), {"a": "x", "b": "x", "c": "y"}, k=2) == pytest.approx(2 / 6)
    # theme {a}: by cosine b, d, c, e
    assert theme_top_tags((VECTORS, index), {"a": 1.0}, k=3) == ["b", "d", "c"]
    assert spam_share([["b", "d", "c"], ["e", "c"]], {"d", "e"}) == pytest.approx((1 / 3 + 1 / 2) / 2)
    c = CooccurrenceCounts.from_posts(COUNT_TRAIN)
    assert count_theme_top_tags(c, {"a": 1.0}, k=5) == ["b", "c", "d"]  # e never met a
    assert count_theme_top_tags(c, {"c": 1.0, "d": 2.0}, k=2) == ["a", "b"]  # a: 2 + 2*1
    # count neighbours: a -> b, c (1 of 2 in x); b -> a, c (1/2); c -> a, b (0/2); d -> a, c (1/2)
    assert count_topic_precision(c, topic_of, k=2) == pytest.approx(3 / 8)
    with pytest.raises(ValueError, match="no tag of topic_of"):
        topic_precision((VECTORS, index), {"zz": "x"})
    with pytest.raises(ValueError, match="none of the theme's tags"):
        theme_top_tags((VECTORS, index), {"zz": 1.0})


def test_a_per_neighbour_bonus_reranks_by_hand():
    """cosine + bonus[b]: e (cosine -1 to a, 0 to c, -0.0995 to d) made popular by a bonus of 1.5."""
    from topictensor.quality import theme_top_tags, topic_precision

    index = {t: i for i, t in enumerate(TAGS)}
    bonus = np.array([0, 0, 0, 0, 1.5])
    unit = VECTORS / np.linalg.norm(VECTORS, axis=1, keepdims=True)
    # a: b .995, e .5, d .0995; c: e 1.5, d .995; d: e 1.40, c .995; e: c 0, d -.0995 (its own bonus never counts)
    assert nearest_ids(unit, np.array([0, 2, 3, 4]), 2, bonus).tolist() == [[1, 4], [4, 3], [4, 2], [2, 3]]
    assert nearest_ids(unit, np.array([0, 2]), 2, np.zeros(5)).tolist() == nearest_ids(unit, np.array([0, 2]), 2).tolist()
    # [a,b]: 2/2; [a,c]: a->b, c->e: 0/2; [a,c,d]: a->{b,e} 0, c->{e,d} 1, d->{e,c} 1: 2/6 -> 4/10 (5/10 without)
    res = quality((VECTORS, index), HELDOUT, bonus=bonus)
    assert (res.hits, res.total) == (4, 10)
    topic_of = {"a": "x", "b": "x", "c": "y", "d": "y"}
    assert topic_precision((VECTORS, index), topic_of, k=1) == pytest.approx(1.0)
    assert topic_precision((VECTORS, index), topic_of, k=1, bonus=bonus) == pytest.approx(2 / 4)  # c, d -> e
    # theme {a: 3}: the bonus is added to the cosine (0.5 for e beats d's 0.0995), not to the 3x dot
    # product (where e's -3 + 1.5 would stay behind d's 0.3)
    assert theme_top_tags((VECTORS, index), {"a": 3.0}, k=2) == ["b", "d"]
    assert theme_top_tags((VECTORS, index), {"a": 3.0}, k=2, bonus=bonus) == ["b", "e"]
    assert theme_top_tags((VECTORS, index), {"a": 3.0}, k=2, bonus=2 * bonus) == ["e", "b"]
    with pytest.raises(ValueError, match=r"bonus has shape \(4,\), expected \(5,\)"):
        nearest_ids(unit, np.array([0]), 2, bonus[:4])
    with pytest.raises(ValueError, match=r"bonus has shape \(4,\), expected \(5,\)"):
        theme_top_tags((VECTORS, index), {"a": 1.0}, bonus=bonus[:4])
