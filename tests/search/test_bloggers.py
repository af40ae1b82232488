"""Blogger vectors, the score formula on hand-computed values, filters, exact ranking, lookalikes."""

import math

import numpy as np
import pyarrow as pa
import pytest

from topictensor.embeddings import Embeddings
from topictensor.search.bloggers import BloggerTable, Filters, Popularity, guarded_log, rank_bloggers, score
from topictensor.search.vectors import compute_blogger_vectors
from topictensor.search.themes import QueryError


# ---- the score -------------------------------------------------------------------------------

def test_guarded_log_is_one_up_to_e_and_ln_above():
    np.testing.assert_allclose(guarded_log([0, 1, 2, math.e, 10, 1000]),
                               [1, 1, 1, 1, math.log(10), math.log(1000)])


@pytest.mark.parametrize("sim, likes, followers, tags, pop, expected", [
    # 0.8 / (ln(100) ** 0.5 * ln(10000) ** 1 * ln(50) ** 0) = 0.8 / (2.145966 * 9.210340)
    (0.8, 100, 10_000, 50, Popularity(0.5, 1.0, 0.0), 0.04047542939),
    # small counts: ln(max(x, e)) = 1 for 1 and 2; ln(3) ** 0.3 = 1.028633
    (0.6, 1, 2, 3, Popularity(0.3, 0.3, 0.3), 0.58330797562),
    # defaults: (ln 1000 * ln 1e6 * ln 400) ** 0.2 = (6.907755 * 13.815511 * 5.991465) ** 0.2
    (0.5, 1000, 1_000_000, 400, Popularity(0.2, 0.2, 0.2), 0.14045028638),
    # all exponents 0: the cosine itself
    (0.37, 5, 5_000_000, 900, Popularity(0, 0, 0), 0.37),
])
def test_score_on_hand_computed_values(sim, likes, followers, tags, pop, expected):
    assert score([sim], [likes], [followers], [tags], pop)[0] == pytest.approx(expected, rel=1e-9)


def test_zero_and_tiny_counts_are_never_divided_by_less_than_one():
    values = score([0.5, 0.5, 0.5], [0, 1, 2], [0, 1, 2], [0, 1, 2], Popularity(1, 1, 1))
    np.testing.assert_allclose(values, [0.5, 0.5, 0.5])


@pytest.mark.parametrize("kwargs", [{"lambda_": -1.1}, {"phi": 1.5}, {"tau": float("nan")}])
def test_exponents_outside_0_1_are_query_errors(kwargs):
    with pytest.raises(QueryError, match="must be a number in -1..1"):
        Popularity(**kwargs)


# ---- a planted blogger table -----------------------------------------------------------------

def table(rows) -> BloggerTable:
    """rows: (id, lang, followers, likes, posts, tags, vector)."""
    vectors = np.array([r[6] for r in rows], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    return BloggerTable(pa.table({
        "blogger_id": [r[0] for r in rows], "username": [f"user_{r[0]}" for r in rows],
        "lang": [r[1] for r in rows], "followers": pa.array([r[2] for r in rows], pa.int64()),
        "likes": pa.array([float(r[3]) for r in rows]), "likes_total": pa.array([r[3] * r[4] for r in rows], pa.int64()),
        "posts": pa.array([r[4] for r in rows], pa.int64()), "tags": pa.array([r[5] for r in rows], pa.int64()),
        "vector": pa.ListArray.from_arrays(pa.array(np.arange(len(rows) + 1, dtype=np.int32) * vectors.shape[1]), flat),
    }))


BLOGGERS = table([
    ("star", "en", 5_000_000, 50_000, 300, 3000, [1.0, 0.10, 0]),   # most relevant, hugely popular
    ("niche", "en", 800, 40, 12, 60, [1.0, 0.25, 0]),              # nearly as relevant, small
    ("ru_car", "ru", 20_000, 900, 40, 200, [1.0, 0.40, 0]),
    ("tiny", "de", 0, 0, 1, 2, [1.0, 0.60, 0]),
    ("fruit", "en", 10_000, 300, 50, 150, [0.0, 1.0, 0]),
    ("off", "es", 3_000, 100, 30, 90, [0.0, 0.0, 1.0]),
])
CARS = np.array([1.0, 0.0, 0.0], dtype=np.float32)


def ids(ranking):
    return [h.blogger_id for h in ranking.hits]


def test_cosine_alone_ranks_by_relevance():
    ranking = rank_bloggers(BLOGGERS, CARS, 4, popularity=Popularity(0, 0, 0))
    assert ids(ranking) == ["star", "niche", "ru_car", "tiny"] and ranking.method == "exact"
    assert ranking.hits[0].similarity == pytest.approx(1 / math.hypot(1, 0.1), abs=1e-6)


def test_popularity_exponents_push_huge_accounts_down():
    ranking = rank_bloggers(BLOGGERS, CARS, 3, popularity=Popularity(0.5, 0.5, 0.5))
    assert ids(ranking) == ["tiny", "niche", "ru_car"]  # "star" (cosine 0.995) falls to 4th
    hit = ranking.hits[0]
    expected = score([hit.similarity], [0], [0], [2], Popularity(0.5, 0.5, 0.5))[0]
    assert hit.score == pytest.approx(expected)


@pytest.mark.parametrize("filters, expected", [
    (Filters(lang="en"), {"star", "niche", "fruit"}),
    (Filters(lang="ru, DE"), {"ru_car", "tiny"}),
    (Filters(min_followers=1_000), {"star", "ru_car", "fruit", "off"}),
    (Filters(max_followers=1_000), {"niche", "tiny"}),
    (Filters(min_followers=800, max_followers=20_000), {"niche", "ru_car", "fruit", "off"}),
    (Filters(min_posts=40), {"star", "ru_car", "fruit"}),
    (Filters(lang="en", min_posts=13), {"star", "fruit"}),
    (Filters(lang="fr"), set()),
])
def test_filters(filters, expected):
    ranking = rank_bloggers(BLOGGERS, CARS, 10, popularity=Popularity(), filters=filters)
    assert set(ids(ranking)) == expected
    assert filters.active


@pytest.mark.parametrize("kwargs, message", [
    ({"min_followers": 10, "max_followers": 5}, "above max_followers"),
    ({"min_followers": -1}, "min_followers must be >= 0"),
    ({"min_posts": -3}, "min_posts must be >= 0"),
])
def test_contradictory_or_negative_filters_are_query_errors(kwargs, message):
    with pytest.raises(QueryError, match=message):
        Filters(**kwargs)


def test_lookalike_search_excludes_the_blogger_itself():
    own = BLOGGERS.vectors[BLOGGERS.row["niche"]]
    ranking = rank_bloggers(BLOGGERS, own, 3, popularity=Popularity(0, 0, 0), exclude=["niche"])
    assert ids(ranking) == ["ru_car", "star", "tiny"]  # angles from niche: 7.8, 8.3, 16.9 degrees


def test_top_larger_than_the_table_returns_everyone_allowed():
    assert len(rank_bloggers(BLOGGERS, CARS, 100, popularity=Popularity()).hits) == len(BLOGGERS)


# ---- building blogger vectors ----------------------------------------------------------------

def test_blogger_vector_is_the_weighted_sum_of_unit_tag_vectors():
    emb = Embeddings(["car", "apple", "sea"], [5, 5, 5],
                     np.array([[2, 0, 0], [0, 3, 0], [0, 0, 1]], dtype=np.float32))  # not unit: must be normalised
    posts = pa.table({
        "blogger_id": ["a", "a", "b", "c", "d"],
        "tags": [["car", "apple"], ["car", "unknowntag"], ["sea"], ["unknowntag"], ["apple"]],
        "likes": pa.array([10, 30, 7, 1, 4], pa.int64()),
        "lang": ["en", "en", "ru", "de", "es"],
        "weights": pa.array([[1.0, 3.0], [1.0, 5.0], [2.0], [1.0], [1.0]], pa.list_(pa.float32())),
    })
    bloggers = pa.table({"blogger_id": ["a", "b", "c"], "username": ["ann", "bob", "cid"],
                         "followers": pa.array([100, 200, 300], pa.int64()), "lang": ["en", "ru", "de"],
                         "posts": pa.array([4, 1, 1], pa.int64()), "likes_total": pa.array([100, 7, 1], pa.int64())})
    out = compute_blogger_vectors(posts, bloggers, emb, "reweight").to_pylist()
    by_id = {r["blogger_id"]: r for r in out}
    assert set(by_id) == {"a", "b", "d"}  # c used only an unknown tag: no vector
    # a: car with weights 1 + 1, apple with weight 3 -> (2, 3, 0) / sqrt(13)
    np.testing.assert_allclose(by_id["a"]["vector"], np.array([2, 3, 0]) / math.sqrt(13), atol=1e-6)
    assert by_id["a"]["tags"] == 3  # known tag uses (the unknown one does not count)
    assert by_id["a"]["likes"] == 25.0 and by_id["a"]["likes_total"] == 100 and by_id["a"]["posts"] == 4
    assert by_id["a"]["username"] == "ann" and by_id["a"]["followers"] == 100
    # d is missing from the bloggers table: numbers from its posts, language from its posts
    assert by_id["d"]["username"] == "d" and by_id["d"]["followers"] == 0 and by_id["d"]["lang"] == "es"
    assert by_id["d"]["posts"] == 1 and by_id["d"]["likes"] == 4.0
    uniform = {r["blogger_id"]: r for r in compute_blogger_vectors(posts, bloggers, emb, "uniform").to_pylist()}
    np.testing.assert_allclose(uniform["a"]["vector"], np.array([2, 1, 0]) / math.sqrt(5), atol=1e-6)
    # grouped by language, then id: each language a contiguous block (a language filter is a slice)
    assert [(r["lang"], r["blogger_id"]) for r in out] == [("en", "a"), ("es", "d"), ("ru", "b")]


def test_blogger_vectors_need_aligned_weights():
    emb = Embeddings(["car"], [1], np.ones((1, 2), dtype=np.float32))
    posts = pa.table({"blogger_id": ["a"], "tags": [["car", "car2"]], "likes": [1],
                      "weights": pa.array([[1.0]], pa.list_(pa.float32()))})
    with pytest.raises(ValueError, match="1 weights for 2 tags"):
        compute_blogger_vectors(posts, None, emb)
