"""Explanations: a blogger's relevance decomposed over their tags, checked on hand-computed vectors,
and the stored (bounded) profile's residual and bound."""

import math

import numpy as np
import pyarrow as pa
import pytest

from topictensor.embeddings import Embeddings
from topictensor.search.table import BloggerTable
from topictensor.search.vectors import compute_blogger_vectors
from topictensor.search.explain import Profiles, explain, profile_columns

# Three tags in 3-D: a = x, b = y, c = (0.6, 0.8, 0); d = z (used by nobody).
EMB = Embeddings(["a", "b", "c", "d"], [10, 10, 10, 10],
                 np.array([[2, 0, 0], [0, 5, 0], [0.6, 0.8, 0], [0, 0, 1]], dtype=np.float32))


def posts_table():
    """Blogger u1 uses a three times and b once (uniform weights: 3 and 1); u2 uses c twice and a once."""
    return pa.table({
        "blogger_id": ["u1", "u1", "u1", "u2", "u2"],
        "tags": [["a", "b"], ["a"], ["a", "zzz"], ["c"], ["c", "a"]],
        "likes": [10, 20, 30, 5, 5],
        "weights": [[1.0, 1.0], [1.0], [1.0, 1.0], [1.0], [1.0, 1.0]],
    })


def build(keep: int):
    posts = posts_table()
    table = compute_blogger_vectors(posts, None, EMB, "uniform")
    ids = table.column("blogger_id").to_pylist()
    vectors = np.array(table.column("vector").to_pylist(), dtype=np.float32)
    columns, gap = profile_columns(posts, EMB, ids, vectors, "uniform", keep)
    for name, column in columns.items():
        table = table.append_column(name, column)
    return BloggerTable(table), gap


def test_profile_weights_are_the_hand_computed_ones():
    table, gap = build(keep=10)
    assert gap < 1e-6  # the weights rebuild the stored vectors
    tags, weights = table.profiles.of(table.row["u1"])
    # u1: 3 a + 1 b = (3, 1, 0), norm sqrt(10): weights 3/sqrt(10), 1/sqrt(10)
    assert tags == ["a", "b"]
    np.testing.assert_allclose(weights, [3 / math.sqrt(10), 1 / math.sqrt(10)], rtol=1e-6)
    assert table.profiles.rest[table.row["u1"]] == 0  # everything stored


def test_contributions_sum_to_the_relevance_on_hand_computed_vectors():
    table, _ = build(keep=10)
    q = np.array([0.6, 0.8, 0.0])  # = c
    row = table.row["u1"]
    relevance = float(table.vectors[row] @ q)
    assert relevance == pytest.approx(2.6 / math.sqrt(10), rel=1e-6)  # (3*0.6 + 1*0.8) / sqrt(10)
    why = explain(table.profiles, row, q, relevance, EMB, top=5)
    assert [c.tag for c in why.tags] == ["a", "b"]
    assert why.tags[0].contribution == pytest.approx(1.8 / math.sqrt(10), rel=1e-6)
    assert why.tags[1].contribution == pytest.approx(0.8 / math.sqrt(10), rel=1e-6)
    assert why.tags[0].share == pytest.approx(1.8 / 2.6, rel=1e-6)
    assert why.tags[1].share == pytest.approx(0.8 / 2.6, rel=1e-6)
    assert why.other == pytest.approx(0, abs=1e-6)
    # u2: 2 c + 1 a = (1.2 + 1, 1.6, 0) = (2.2, 1.6, 0); against a = x: cos = 2.2 / |(2.2, 1.6)|
    row2 = table.row["u2"]
    qa = np.array([1.0, 0.0, 0.0])
    norm = math.hypot(2.2, 1.6)
    why2 = explain(table.profiles, row2, qa, float(table.vectors[row2] @ qa), EMB, top=5)
    assert {c.tag: round(c.contribution, 6) for c in why2.tags} == {"c": round(1.2 / norm, 6), "a": round(1 / norm, 6)}
    assert sum(c.contribution for c in why2.tags) == pytest.approx(2.2 / norm, rel=1e-6)


def test_a_bounded_profile_reports_the_rest_exactly_and_bounds_any_unstored_tag():
    table, _ = build(keep=1)
    row = table.row["u1"]
    q = np.array([0.6, 0.8, 0.0])
    why = explain(table.profiles, row, q, float(table.vectors[row] @ q), EMB, top=5)
    assert [c.tag for c in why.tags] == ["a"]  # b was not stored
    assert why.other == pytest.approx(0.8 / math.sqrt(10), rel=1e-5)  # b's exact contribution, as "other"
    assert why.bound == pytest.approx(1 / math.sqrt(10), rel=1e-6)  # b's weight: the most it could add
    assert abs(why.other) <= why.bound + 1e-9
    d = why.to_dict()
    assert d["other_share"] == pytest.approx(0.8 / 2.6, abs=1e-4)


def test_negative_contributions_rank_last_and_shares_still_sum_to_one():
    table, _ = build(keep=10)
    row = table.row["u1"]
    q = np.array([1.0, -1.0, 0.0]) / math.sqrt(2)  # a helps, b hurts
    relevance = float(table.vectors[row] @ q)
    why = explain(table.profiles, row, q, relevance, EMB, top=5)
    assert [c.tag for c in why.tags] == ["a", "b"] and why.tags[1].contribution < 0
    assert sum(c.share for c in why.tags) + why.other / relevance == pytest.approx(1.0, abs=1e-6)


def test_profiles_find_the_bloggers_using_a_tag():
    table, _ = build(keep=10)
    assert sorted(table.ids[table.profiles.rows_with(["a"])]) == ["u1", "u2"]
    assert list(table.ids[table.profiles.rows_with(["b"])]) == ["u1"]
    assert len(table.profiles.rows_with(["d", "nope"])) == 0


def test_a_profile_built_with_other_weights_than_the_vectors_is_caught():
    posts = posts_table()
    table = compute_blogger_vectors(posts, None, EMB, "uniform")
    ids = table.column("blogger_id").to_pylist()
    skewed = posts.set_column(3, "weights", pa.array([[5.0, 1.0], [1.0], [1.0, 1.0], [1.0], [1.0, 1.0]]))
    _, gap = profile_columns(skewed, EMB, ids, np.array(table.column("vector").to_pylist()), "reweight", 10)
    assert gap > 1e-3


def test_profiles_reject_misaligned_columns():
    bad = pa.table({"profile_tags": [["a", "b"]], "profile_weights": [[0.5]], "profile_rest": [0.0]})
    with pytest.raises(ValueError, match="not aligned"):
        Profiles(bad)
