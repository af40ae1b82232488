"""The benchmark corpus shapes (benchmarks/corpora.py) have the shape they claim, and their truth
matches the posts."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "corpora.py"
_spec = importlib.util.spec_from_file_location("bench_corpora", _PATH)
corpora = importlib.util.module_from_spec(_spec)
sys.modules["bench_corpora"] = corpora  # dataclasses look their module up there
_spec.loader.exec_module(corpora)


def _small(name: str):
    posts, _, truth = corpora.generate(replace(corpora.SHAPES[name], n_bloggers=1200), seed=5)
    train, heldout = corpora.split(posts, 0.05, seed=5)
    return train, heldout, truth


def test_short_posts_have_about_two_tags_and_a_long_tail():
    train, heldout, _ = _small("short")
    lengths = np.array([len(p) for p in train])
    assert 1.95 < lengths.mean() < 2.3 and lengths.min() >= 2
    counts = np.array(list(Counter(t for p in train for t in p).values()))
    assert (counts < 10).mean() > 0.6  # most tags are rare


def test_generic_shape_has_a_few_very_frequent_topic_free_tags():
    train, _, truth = _small("generic")
    share = Counter(t for p in train for t in set(p))
    generic = [t for t in truth["spam"] if t.startswith("generic")]
    assert len(generic) == 6
    assert max(share[t] for t in generic) / len(train) > 0.3
    assert all(t not in truth["topic_of"] for t in generic)


def test_zipf_shape_has_heavy_tails():
    train, _, truth = _small("zipf")
    lengths = np.array([len(p) for p in train])
    assert lengths.max() >= 20 and np.median(lengths) <= 5
    topic_sizes = Counter(truth["topic_of"].values())
    assert max(topic_sizes.values()) > 5 * min(topic_sizes.values())


def test_truth_and_split_are_consistent():
    posts, _, truth = corpora.generate(replace(corpora.SHAPES["generic"], n_bloggers=1200), seed=5)
    used = {t for p in posts for t in p}
    assert set(truth["topic_of"]) <= used and set(truth["spam"]) <= used  # the truth is of the filtered posts
    train, heldout = corpora.split(posts, 0.05, seed=5)
    vocab = {t for p in train for t in p}
    assert all(t in vocab for p in heldout for t in p) and all(len(p) >= 2 for p in heldout)
    themes = corpora.themes_of(train, truth["topic_of"])
    for topic, seeds in themes.items():
        assert 1 <= len(seeds) <= 3 and all(truth["topic_of"][s] == topic for s in seeds)
    assert not set(truth["spam"]) & set(truth["topic_of"])


def test_bench_truth_comes_from_tag_names(tmp_path):
    train = [["t1w0", "t1w3_es", "spam2"], ["amb4", "s1g0", "t2w1"], ["t2w1", "spam10"]]
    truth = corpora.truth_for(tmp_path, train)
    assert truth["topic_of"] == {"t1w0": "t1", "t1w3_es": "t1", "t2w1": "t2"}
    assert truth["spam"] == ["spam10", "spam2"]
    assert corpora.truth_for(tmp_path, [["car", "bmw"]]) is None


@pytest.mark.parametrize("name", sorted(corpora.SHAPES))
def test_write_shape_round_trips(tmp_path, name):
    import pyarrow.parquet as pq

    info = corpora.write_shape(name, tmp_path, seed=1)
    d = tmp_path / name
    assert pq.read_table(d / "train.parquet").num_rows == info["posts"]
    assert corpora.truth_for(d)["info"]["shape"] == name


def test_synth_shape_truth_is_the_planted_one():
    posts, _, truth = corpora.generate_synth(seed=3, n_bloggers=200)
    used = {t for p in posts for t in p}
    assert truth["topic_of"]["bmw"] == "cars" and "apple" not in truth["topic_of"]  # apple is in two themes
    assert "instagood" in truth["spam"] and set(truth["spam"]) <= used
    assert not set(truth["spam"]) & set(truth["topic_of"])
