"""Blogger selection against planted truth: each failure mode of literal hashtag matching that the
generator plants (synonyms, accidental one-off use, hashtag spam, generic popular accounts) is beaten
by the default ranking on the demo-like model (trained in the session, tests/search/conftest.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from topictensor import synth
from topictensor.search.bloggers import BloggerTable, Popularity, rank_bloggers
from topictensor.search.vectors import compute_blogger_vectors
from topictensor.search.params import SearchConfig
from topictensor.search.themes import build_theme
from topictensor.selection import (
    LiteralIndex,
    SelectionTruth,
    case_sets,
    complete,
    evaluate_theme,
    list_metrics,
    reach,
)
from topictensor.tags import normalize_tags


@pytest.fixture(scope="module")
def selection(demo_model):
    posts, bloggers, emb = demo_model
    corpus = synth.generate(synth.SynthConfig(seed=3, n_bloggers=1000, posts_per_blogger_mean=25))
    table = BloggerTable(compute_blogger_vectors(posts, bloggers, emb))
    literal = LiteralIndex(corpus.posts["blogger_id"].tolist(),
                           [normalize_tags(list(t)) for t in synth.corpus_tag_lists(corpus.posts)])
    truth = SelectionTruth(corpus.interests, corpus.blogger_truth)
    followers = dict(zip(corpus.bloggers["blogger_id"], corpus.bloggers["followers"].astype(int)))
    defaults = SearchConfig()
    popularity = Popularity(defaults.lambda_, defaults.phi, defaults.tau)
    everyone = literal.posts_per_blogger.index.tolist()
    rows = []
    for theme, headline in synth.HEADLINE_TAGS.items():
        vector = build_theme(", ".join(headline), emb).vector
        ranked = [h.blogger_id for h in rank_bloggers(table, vector, len(table), popularity=popularity).hits]
        rankings = {"defaults": complete(ranked, everyone), "literal": literal.ranking(headline)}
        rows += evaluate_theme(rankings, truth, theme, headline, literal, followers)
    return pd.DataFrame(rows)


def mean_p20(frame: pd.DataFrame, case: str, method: str) -> float:
    part = frame[(frame["case"] == case) & (frame["method"] == method)]
    assert len(part) >= 8, f"case {case} scored on only {len(part)} themes"
    return float(part["p@20"].mean())


@pytest.mark.parametrize("case", ["synonyms", "one_off", "spam", "generic", "all"])
def test_defaults_beat_literal_matching_on_every_planted_case(selection, case):
    assert mean_p20(selection, case, "defaults") > mean_p20(selection, case, "literal")


def test_synonym_bloggers_are_found_though_they_never_write_the_query_tags(selection):
    """A car blogger who writes #auto, #bmw but never #car: invisible to literal matching."""
    assert mean_p20(selection, "synonyms", "literal") < 0.1
    assert mean_p20(selection, "synonyms", "defaults") > 0.6


def test_defaults_are_as_good_where_literal_matching_is_perfect(selection):
    part = selection[selection["case"] == "all"].pivot_table(index="theme", columns="method", values="p@20")
    perfect = part[part["literal"] >= 1.0]
    assert (perfect["defaults"] >= 1.0).all(), perfect


def test_default_top_20_reaches_as_many_followers_as_the_on_theme_bloggers(selection):
    part = selection[(selection["case"] == "all") & (selection["method"] == "defaults")]
    assert part["reach"].mean() >= 0.8, part[["theme", "reach"]]


# ---- the measures on hand-made lists --------------------------------------------------------------

def test_precision_and_ndcg_count_only_the_case_pool():
    ranking = ["x", "a", "n1", "b", "n2", "c"]  # "x" is in neither set: skipped
    positives, negatives = {"a": 1.0, "b": 0.5, "c": 0.25}, {"n1", "n2"}
    m = list_metrics(ranking, positives, negatives, ks=(2, 5), ndcg_k=5)
    assert m["p@2"] == 0.5 and m["p@5"] == 3 / 5
    dcg = 1.0 / np.log2(2) + 0.5 / np.log2(4) + 0.25 / np.log2(6)
    idcg = 1.0 / np.log2(2) + 0.5 / np.log2(3) + 0.25 / np.log2(4)
    assert m["ndcg@5"] == pytest.approx(dcg / idcg)


def test_literal_ranking_counts_posts_then_share_then_id():
    literal = LiteralIndex(["a", "a", "a", "b", "c", "c", "d"],
                           [["car"], ["car", "cars"], ["food"], ["car"], ["cars"], ["x"], ["food"]])
    assert literal.counts(["car", "cars"]).to_dict() == {"a": 2, "b": 1, "c": 1}
    assert literal.ranking(["car", "cars"]) == ["a", "b", "c", "d"]  # b: 1 of 1 posts, c: 1 of 2


def test_reach_is_the_ratio_of_medians():
    followers = {"a": 100, "b": 300, "c": 1000, "d": 2000}
    assert reach(["a", "b"], ["c", "d", "a"], followers, k=2) == pytest.approx(200 / 1000)


def test_case_sets_follow_the_planted_truth():
    interests = pd.DataFrame({"blogger_id": ["on1", "on2", "gen", "acc", "spm"], "theme": ["cars"] * 5,
                              "share": [1.0, 0.5, 0.08, 0.0, 0.0], "posts": [9, 4, 3, 0, 0]})
    bloggers = pd.DataFrame({"blogger_id": ["on1", "on2", "gen", "acc", "spm", "other"],
                             "kind": ["ordinary", "ordinary", "generic", "ordinary", "ordinary", "ordinary"],
                             "spammed_tags": [[], [], [], [], ["car", "cars"], []]})
    counts = pd.Series({"on1": 7, "gen": 3, "acc": 1, "spm": 20})
    sets = case_sets(SelectionTruth(interests, bloggers), "cars", ["car", "cars"], counts,
                     ["on1", "on2", "gen", "acc", "spm", "other"])
    assert sets["all"] == ({"on1": 1.0, "on2": 0.5}, {"gen", "acc", "spm", "other"})
    assert sets["synonyms"][0] == {"on2": 0.5}
    assert sets["one_off"] == ({"on2": 0.5}, {"acc"})
    assert sets["spam"][1] == {"spm"} and sets["generic"][1] == {"gen"}
