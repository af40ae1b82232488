"""Generic-tag detection in the filter stage's review, on planted spam (synth's topic-free tags)."""

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from topictensor import synth
from topictensor.generic_tags import cooccurrence, generic_scores
from topictensor.stages.filter import GenericDetection
from topictensor.tags import normalize_tags

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers.prep import filter_posts  # noqa: E402

PLANTED = {t for words in synth.SPAM_TAGS.values() for t in words} | set(synth.JUNK_TAGS)


@pytest.fixture(scope="module")
def posts():
    corpus = synth.generate(synth.SynthConfig(seed=5, n_bloggers=400, posts_per_blogger_mean=20, languages=["en"],
                                            n_spammers=3))  # the default corpus's share of spammers
    tags = [normalize_tags(list(t)) for t in synth.corpus_tag_lists(corpus.posts)]
    keep = [i for i, t in enumerate(tags) if t]
    return pa.table({"post_id": [corpus.posts["post_id"].iloc[i] for i in keep],
                     "blogger_id": [corpus.posts["blogger_id"].iloc[i] for i in keep],
                     "tags": pa.array([tags[i] for i in keep], type=pa.list_(pa.string()))})


def test_planted_spam_tags_score_as_generic_and_theme_tags_do_not(posts):
    _, review, counts = filter_posts(posts, min_bloggers=3, blacklist=set(), review_top_n=1000,
                                     generic=GenericDetection("suggest", 0.8))
    rows = review.to_pandas()
    flagged = set(rows.loc[rows["generic"], "tag"])
    planted = set(rows["tag"]) & PLANTED
    assert len(flagged & PLANTED) / len(flagged) >= 0.9, flagged - PLANTED
    assert len(flagged & PLANTED) / len(planted) >= 0.6, planted - flagged
    theme = set(rows["tag"]) & {t for theme in synth.THEMES for t in synth.theme_tags(theme, "en")}
    assert not flagged & theme
    assert counts["tags_generic"] == len(flagged) and counts["tags_auto_blacklisted"] == 0  # suggest drops nothing
    assert rows.loc[rows["tag"].isin(planted), "cotag_entropy"].median() > rows.loc[rows["tag"].isin(theme), "cotag_entropy"].quantile(0.95)


def test_apply_drops_generic_tags_but_the_curated_lists_win(posts):
    generic = GenericDetection("apply", 0.8, keep=("instagood",))
    out, review, counts = filter_posts(posts, min_bloggers=3, blacklist={"bmw"}, review_top_n=1000, generic=generic)
    rows = review.to_pandas().set_index("tag")
    kept = {t for ts in out.column("tags").to_pylist() for t in ts}
    auto = set(rows.index[rows["auto_blacklisted"]])
    assert auto and not auto & kept and counts["tags_auto_blacklisted"] == len(auto)
    assert rows.at["instagood", "generic"] and "instagood" in kept  # the keep list protects it
    assert "bmw" not in kept and not rows.at["bmw", "generic"]  # the blacklist drops it anyway


def test_off_mode_writes_no_scores(posts):
    _, review, _ = filter_posts(posts, min_bloggers=3, blacklist=set(), review_top_n=50)
    assert "cotag_entropy" not in review.column_names


def test_scores_on_a_hand_made_cooccurrence():
    # tags 0..3: 0 and 1 always together, 2 with 3; tag 4 with everybody once
    pairs = [(np.array([0, 0, 0, 1, 1, 1, 2, 2, 3, 3]), np.array([0, 1, 4, 0, 1, 4, 2, 3, 2, 4]))]
    c = cooccurrence(pairs, 5)
    assert c[0, 1] == 2 and c[4, 0] == 2 and c[4, 2] == 1 and c[0, 0] == 0
    s = generic_scores(c, np.array([2, 2, 2, 2, 3]))
    assert s["cotag_entropy"][4] == s["cotag_entropy"].max()
