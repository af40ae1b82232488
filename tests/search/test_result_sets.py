"""Selection on the demo-like model, through the real blogger_vectors stage (with stored profiles) and
the HNSW index: sorted pages, the relevance cut-off, exclusions, engagement bounds and @username
lookup against a brute-force numpy ranking of every blogger; explanations that add up; negative-only
queries; "did you mean"."""

from __future__ import annotations

import math

import numpy as np
import pytest

from topictensor.search import Cutoff, Exclusions, SearchModel, View
from topictensor.search.bloggers import Filters, Popularity
from topictensor.search.params import SearchConfig
from topictensor.search.themes import QueryError


@pytest.fixture(scope="module")
def models(publish_demo):
    """(through the index, exact) models of one published version of the demo-like corpus."""
    _, registry = publish_demo("selection", "s1")
    via_index = SearchModel.load(registry, "s1", SearchConfig(exact_max_bloggers=0))
    exact = SearchModel(via_index.embeddings, via_index.bloggers, None, via_index.config, "s1")
    return via_index, exact


# ---- brute force: every blogger scored with numpy ------------------------------------------------

SORT_KEY = {"score": "score", "relevance": "sim", "followers": "followers", "engagement": "engagement"}


def brute_force(model, vector, top, *, pop=Popularity(), filters=Filters(), cutoff=Cutoff(), excluded=(),
                sort="score", order="desc", offset=0, limit=None):
    t = model.bloggers
    q = np.asarray(vector, dtype=np.float32)
    q = q / np.linalg.norm(q)
    sims = t.vectors @ q
    scores = sims.astype(np.float64) / pop.denominator(t.likes, t.followers, t.tags)
    allowed = filters.mask(t)
    allowed[list(excluded)] = False
    if cutoff.active:
        allowed &= sims >= cutoff.threshold(float(sims[allowed].max()))
    rows = np.flatnonzero(allowed)
    rows = rows[np.lexsort((rows, -scores[rows]))][:top]  # best score first, ties by row
    values = {"score": scores, "sim": sims, "followers": t.followers, "engagement": t.engagement}[SORT_KEY[sort]]
    rank = {int(r): i for i, r in enumerate(rows)}
    sign = -1 if order == "desc" else 1

    def key(r):
        v = values[r]
        missing = isinstance(v, float) and math.isnan(v)
        return (missing, 0 if missing else sign * v, rank[int(r)])

    ordered = sorted(rows.tolist(), key=key)
    end = None if limit is None else offset + limit
    return [str(t.ids[r]) for r in ordered[offset:end]], len(rows)


QUERIES = ["bmw, audi", "apple, iphone:-1", "cat", "sushi, ramen", "travel, beach", "makeup"]


@pytest.mark.parametrize("sort", ["score", "relevance", "followers", "engagement"])
@pytest.mark.parametrize("order", ["desc", "asc"])
def test_sorted_pages_equal_brute_force_through_the_index_and_exactly(models, sort, order):
    via_index, exact = models
    for query in QUERIES:
        theme = exact.theme(query)
        expected_all, total = brute_force(exact, theme.vector, 60, sort=sort, order=order)
        for model in (via_index, exact):
            pages = []
            for offset in range(0, 60, 25):
                result = model.bloggers_for(query, 60, view=View(sort=sort, order=order, offset=offset, limit=25))
                assert result.total == total == 60
                pages += [h.blogger_id for h in result.hits]
            assert pages == expected_all, (query, sort, order, model.index)


def test_sort_by_followers_reorders_the_result_set_and_never_reaches_outside_it(models):
    _, exact = models
    by_score = exact.bloggers_for("bmw, audi", 30)
    by_followers = exact.bloggers_for("bmw, audi", 30, view=View(sort="followers"))
    assert {h.blogger_id for h in by_followers.hits} == {h.blogger_id for h in by_score.hits}
    followers = [h.followers for h in by_followers.hits]
    assert followers == sorted(followers, reverse=True)
    # The most followed blogger of the whole table is not in the set unless relevant enough:
    biggest = str(exact.bloggers.ids[int(np.argmax(exact.bloggers.followers))])
    deep = {h.blogger_id for h in exact.bloggers_for("bmw, audi", 1000).hits}
    assert (biggest in {h.blogger_id for h in by_followers.hits}) == (biggest in {h.blogger_id for h in by_score.hits})
    assert biggest in deep  # ... and it is there once the set is deep enough


@pytest.mark.parametrize("cutoff", [Cutoff(min_relevance=0.6), Cutoff(relative=0.9), Cutoff(min_relevance=0.3, relative=0.8)])
@pytest.mark.parametrize("filters", [Filters(), Filters(lang="en"), Filters(min_followers=2000)])
def test_cutoff_results_equal_brute_force_and_hold_the_threshold(models, cutoff, filters):
    via_index, exact = models
    for query in QUERIES:
        theme = exact.theme(query)
        expected, total = brute_force(exact, theme.vector, 20, filters=filters, cutoff=cutoff)
        for model in (via_index, exact):
            result = model.bloggers_for(query, 20, filters, cutoff=cutoff)
            assert [h.blogger_id for h in result.hits] == expected, (query, cutoff, filters, model.index)
            assert result.total == total
            assert all(h.similarity >= result.threshold - 1e-6 for h in result.hits)
            if cutoff.min_relevance is not None:
                assert result.threshold >= cutoff.min_relevance


def test_a_strict_relative_cutoff_ends_the_set_before_top(models):
    via_index, exact = models
    for model in (via_index, exact):
        result = model.bloggers_for("bmw, audi", 200, cutoff=Cutoff(relative=0.97))
        assert 0 < result.total < 200
        best = max(h.similarity for h in result.hits)
        assert all(h.similarity >= 0.97 * best - 1e-6 for h in result.hits)


def test_tags_below_the_cutoff_are_not_returned(models):
    _, exact = models
    everything = exact.topic("bmw", 100, cutoff=Cutoff())
    cut = exact.topic("bmw", 100, cutoff=Cutoff(relative=0.8))
    best = everything.tags[0].relevance
    assert [h.tag for h in cut.tags] == [h.tag for h in everything.tags if h.relevance >= 0.8 * best]
    assert 0 < len(cut.tags) < len(everything.tags)
    absolute = exact.topic("bmw", 100, cutoff=Cutoff(min_relevance=0.5))
    assert all(h.relevance >= 0.5 for h in absolute.tags)
    assert exact.topic("bmw", 100, exclude_tags=("audi",)).tags and "audi" not in [
        h.tag for h in exact.topic("bmw", 100, exclude_tags=("audi",)).tags]


@pytest.mark.parametrize("query", ["iphone:-1", "apple:-1, iphone:-0.5", "zzzunknown, iphone:-1"])
def test_a_query_of_only_negative_weights_is_refused(models, query):
    _, exact = models
    with pytest.raises(QueryError, match="only negative weights"):
        exact.bloggers_for(query)
    with pytest.raises(QueryError, match="only negative weights"):
        exact.topic(query)


@pytest.mark.parametrize("bad", [Cutoff(min_relevance=None, relative=0)])
def test_no_cutoff_returns_the_full_top(models, bad):
    _, exact = models
    assert exact.bloggers_for("cat", 40, cutoff=bad).total == 40


@pytest.mark.parametrize("kwargs", [{"min_relevance": 1.5}, {"min_relevance": float("nan")}, {"relative": -0.1},
                                    {"relative": 2}])
def test_cutoff_bad_values_are_query_errors(kwargs):
    with pytest.raises(QueryError):
        Cutoff(**kwargs)


# ---- exclusions, engagement, @username --------------------------------------------------------------

def test_excluded_bloggers_and_tag_users_are_left_out_and_the_rest_is_brute_force(models):
    via_index, exact = models
    table = exact.bloggers
    base = exact.bloggers_for("bmw, audi", 20)
    first, second = base.hits[0], base.hits[1]
    competitor_rows = set(table.profiles.rows_with(["mercedes"]).tolist())
    assert competitor_rows  # somebody's profile holds #mercedes
    excl = Exclusions.parse(f"{first.blogger_id}, @{second.username}, nobody_at_all", "mercedes")
    rows = {table.row[first.blogger_id], table.row[second.blogger_id]} | competitor_rows
    expected, _ = brute_force(exact, exact.theme("bmw, audi").vector, 20, excluded=sorted(rows))
    for model in (via_index, exact):
        result = model.bloggers_for("bmw, audi", 20, exclusions=excl)
        ids = [h.blogger_id for h in result.hits]
        assert ids == expected
        assert first.blogger_id not in ids and second.blogger_id not in ids
        assert not {table.row[i] for i in ids} & competitor_rows
        assert result.unknown_excluded == ["nobody_at_all"]
        assert result.excluded == len(rows)


def test_engagement_bounds_equal_brute_force(models):
    via_index, exact = models
    t = exact.bloggers
    rates = t.engagement[~np.isnan(t.engagement)]
    low, high = float(np.quantile(rates, 0.25)), float(np.quantile(rates, 0.9))
    filters = Filters(min_engagement=low, max_engagement=high)
    expected, _ = brute_force(exact, exact.theme("cat").vector, 25, filters=filters)
    for model in (via_index, exact):
        hits = model.bloggers_for("cat", 25, filters).hits
        assert [h.blogger_id for h in hits] == expected
        assert all(low <= h.engagement <= high for h in hits)
        assert all(h.engagement == pytest.approx(h.likes / h.followers, rel=1e-3) for h in hits)


def test_lookalikes_by_username_equal_lookalikes_by_id(models):
    via_index, _ = models
    t = via_index.bloggers
    for row in (0, 17, 400):
        by_id = via_index.lookalikes(str(t.ids[row]), 10)
        by_name = via_index.lookalikes("@" + str(t.usernames[row]).upper(), 10)
        assert [h.blogger_id for h in by_id.hits] == [h.blogger_id for h in by_name.hits]
        assert str(t.ids[row]) not in [h.blogger_id for h in by_name.hits]
    with pytest.raises(QueryError, match="no blogger '@no_such_person'"):
        via_index.lookalikes("@no_such_person")


# ---- explanations on the real model -----------------------------------------------------------------

def test_explanations_add_up_to_each_hits_relevance(models):
    via_index, _ = models
    for query in QUERIES:
        result = via_index.bloggers_for(query, 20, explain_tags=5)
        assert result.hits and all(h.why for h in result.hits)
        for h in result.hits:
            tags, _ = via_index.bloggers.profiles.of(via_index.bloggers.row[h.blogger_id])
            listed = h.why["tags"]
            assert 1 <= len(listed) <= 5 and {t["tag"] for t in listed} <= set(tags)
            contributions = [t["contribution"] for t in listed]
            assert contributions == sorted(contributions, reverse=True)
            assert sum(contributions) + h.why["other"] == pytest.approx(h.similarity, abs=1e-4)
            assert sum(t["share"] for t in listed) + h.why["other_share"] == pytest.approx(1, abs=1e-3)
    # a car theme is explained by car tags
    top = via_index.bloggers_for("bmw, audi", 5, explain_tags=3).hits[0]
    assert {"bmw", "audi"} & {t["tag"] for t in top.why["tags"]}, top.why


# ---- did you mean -------------------------------------------------------------------------------------

def test_unknown_tags_get_suggestions_and_space_separated_tags_a_hint(models):
    _, exact = models
    theme = exact.theme("bwm, porsch, cat")
    assert theme.unknown == ["bwm", "porsch"]
    assert "bmw" in theme.suggestions["bwm"]  # a swap of neighbours is one edit
    assert theme.suggestions["porsch"][0] == "porsche"  # a prefix
    with pytest.raises(QueryError, match=r"did you mean .*bmw"):
        exact.theme("bwm")
    with pytest.raises(QueryError, match="separate tags with commas, e.g. 'bmw, audi'"):
        exact.theme("bmw audi")
    mixed = exact.theme("bmw audi, cat")
    assert mixed.hints and "bmw, audi" in mixed.hints[0]


def test_edit_distance_search_matches_a_python_levenshtein(models):
    _, exact = models

    def levenshtein(a, b):  # optimal string alignment: Levenshtein plus swaps of neighbours
        d = [[max(i, j) if min(i, j) == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
        for i in range(1, len(a) + 1):
            for j in range(1, len(b) + 1):
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
                if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
        return d[-1][-1]

    vocab = exact.embeddings.tags.tolist()
    for word in ["bmw", "bwm", "porshe", "sushii", "travle", "кот"]:
        got = {exact.embeddings.tags[r] for _, r in exact.suggester.near(word, 2)}
        assert got == {t for t in vocab if levenshtein(word, t) <= 2}, word
