"""Themes: query parsing, weighted tag sums, nearest tags, autocomplete; and the seed's examples
on a demo-like corpus (synth posts, trained once for this module in ~8 s)."""

import numpy as np
import pytest

from topictensor import synth
from topictensor.embeddings import Embeddings
from topictensor.search.themes import QueryError, TagSuggester, build_theme, nearest_tags, parse_query


@pytest.fixture(scope="module")
def demo(demo_model):
    return demo_model[2]


def tiny() -> Embeddings:
    """Planted 3-d vectors: x = cars, y = fruit, z = tech; apple halfway between fruit and tech."""
    tags = ["bmw", "audi", "orchard", "iphone", "apple", "macbook", "зеркало"]
    vectors = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0, 1], [0, 1, 1], [0, 0.1, 1], [0.5, 0.5, 0]],
                       dtype=np.float32)
    return Embeddings(tags, [50, 40, 30, 100, 80, 20, 5], vectors)


# ---- parsing ---------------------------------------------------------------------------------

def test_parse_weights_default_whitespace_and_hash():
    terms = parse_query("  apple ,#iphone : -1,  macbook:-0.05 , ,")
    assert [(t.raw, t.tag, t.weight) for t in terms] == [
        ("apple", "apple", 1.0), ("#iphone", "iphone", -1.0), ("macbook", "macbook", -0.05)]


def test_parse_normalises_like_training():
    assert [t.tag for t in parse_query("#BMW, Müller, Зеркало:2")] == ["bmw", "muller", "зеркало"]


@pytest.mark.parametrize("query, message", [
    ("", "empty query"), ("   ", "empty query"), (" , ,", "only separators"),
    ("apple:abc", "malformed weight 'abc'"), ("apple:", "malformed weight ''"), ("apple:nan", "finite"),
    ("apple:inf", "finite"), (":2", "has a weight but no tag"), ("apple:1e308", "between -1e\\+06 and 1e\\+06"),
])
def test_bad_queries_raise_query_error_naming_the_problem(query, message):
    with pytest.raises(QueryError, match=message):
        parse_query(query)


def test_too_many_terms_is_refused():
    with pytest.raises(QueryError, match="at most 3"):
        parse_query("a,b,c,d", max_terms=3)


# ---- theme vectors -----------------------------------------------------------------------------

def test_theme_is_the_unit_weighted_sum_of_unit_tag_vectors():
    emb = tiny()
    theme = build_theme("apple, iphone:-1", emb)
    expected = np.array([0, 1, 1]) / np.sqrt(2) - np.array([0, 0, 1])
    np.testing.assert_allclose(theme.vector, expected / np.linalg.norm(expected), atol=1e-6)
    assert theme.tags == ["apple", "iphone"] and theme.unknown == []


def test_repeated_tag_weights_add_up():
    emb = tiny()
    np.testing.assert_allclose(build_theme("bmw, bmw:2", emb).vector, build_theme("bmw:3", emb).vector, atol=1e-6)


def test_unknown_tags_are_reported_not_dropped_silently():
    theme = build_theme("bmw, tesla, summer!", tiny())
    assert theme.unknown == ["tesla", "summer!"] and theme.tags == ["bmw"]


def test_only_unknown_tags_is_an_error():
    with pytest.raises(QueryError, match="none of the query's tags is known.*'tesla'"):
        build_theme("tesla, rivian", tiny())


def test_weights_that_cancel_out_are_an_error():
    with pytest.raises(QueryError, match="cancel out"):
        build_theme("bmw, bmw:-1", tiny())


def test_nearest_tags_leave_the_query_out_and_carry_counts():
    emb = tiny()
    hits = nearest_tags(emb, build_theme("apple, iphone:-1", emb), top=2)
    assert [h.tag for h in hits] == ["orchard", "зеркало"]
    theme = np.array([0, 1, 1]) / np.sqrt(2) - np.array([0, 0, 1])
    assert hits[0].count == 30 and hits[0].relevance == pytest.approx(theme[1] / np.linalg.norm(theme), abs=1e-6)
    with_query = nearest_tags(emb, build_theme("bmw", emb), top=1, include_query_tags=True)
    assert with_query[0].tag == "bmw"


def test_suggest_by_prefix_most_used_first():
    suggester = TagSuggester(Embeddings(["car", "cars", "carporn", "cat", "bmw"], [10, 30, 20, 99, 5],
                                        np.eye(5, dtype=np.float32)))
    assert [h.tag for h in suggester.suggest("#CAR", 2)] == ["cars", "carporn"]
    assert [h.tag for h in suggester.suggest("ca", 10)] == ["cat", "cars", "carporn", "car"]
    assert suggester.suggest("zz") == [] and suggester.suggest("ca!") == []
    assert [h.tag for h in suggester.suggest("", 1)] == ["cat"]


# ---- the seed's examples on a demo-like corpus -------------------------------------------------

def top_tags(emb, query, k):
    return [h.tag for h in nearest_tags(emb, build_theme(query, emb), top=k)]


def test_bmw_gives_cars_first(demo):
    cars = synth.theme_tags("cars")
    top = top_tags(demo, "bmw", 10)
    assert sum(t in cars for t in top) >= 8, top
    assert top[0] in cars and top[1] in cars


def test_four_german_brands_bring_in_their_kin(demo):
    top = top_tags(demo, "bmw,audi,mercedes,vw", 20)
    assert {"porsche", "mercedesbenz", "benz", "volkswagen", "car"} <= set(top), top
    assert all(t in synth.theme_tags("cars") for t in top[:10]), top


def test_apple_mixes_brand_and_fruit(demo):
    top = top_tags(demo, "apple", 10)
    assert sum(t in synth.theme_tags("tech") for t in top) >= 2, top
    assert sum(t in synth.theme_tags("fruit") for t in top) >= 2, top


@pytest.mark.parametrize("query", ["apple, iphone:-1", "apple, iphone:-1, macbook:-0.05"])
def test_apple_minus_iphone_leaves_fruit_only(demo, query):
    top = top_tags(demo, query, 20)
    tech = synth.theme_tags("tech") - synth.theme_tags("fruit")
    assert not [t for t in top if t in tech], top  # the brand sense is gone...
    fruit = synth.theme_tags("fruit")
    assert top[0] in fruit and sum(t in fruit for t in top[:10]) >= 7, top  # ...the fruit sense leads


def test_mirror_brings_its_translations(demo):
    top = top_tags(demo, "mirror", 15)
    translations = {w for lang, words in synth.MIRROR_WORDS.items() if lang != "en" for w in words}
    assert len(set(top) & translations) >= 3, top
    assert all(t in synth.theme_tags("mirror") for t in top), top
