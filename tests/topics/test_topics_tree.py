"""The two-level tree: broad groups of topics, labelled, numbered by size."""

from __future__ import annotations

import numpy as np
import pandas as pd

from topictensor.topics.tree import build_tree


def _topics(directions: list[list[float]], sizes: list[int]) -> pd.DataFrame:
    cent = np.array(directions, dtype=np.float64).reshape(len(sizes), -1 if sizes else 3)
    if len(cent):
        cent /= np.linalg.norm(cent, axis=1, keepdims=True)
    return pd.DataFrame({"topic_id": range(len(sizes)), "label": [f"topic{i}" for i in range(len(sizes))],
                         "top_tags": [[f"tag{i}", "x"] for i in range(len(sizes))], "size": sizes,
                         "centroid": cent.tolist()})


def test_topics_near_each_other_share_a_group():
    # topics 0-2 around axis x, 3-4 around axis y
    topics = _topics([[1, 0.1, 0], [1, 0, 0.1], [1, 0.05, 0.05], [0.1, 1, 0], [0, 1, 0.1]], [5, 6, 7, 30, 2])
    parent, tree = build_tree(topics, n_groups=2)
    assert parent.tolist() == [1, 1, 1, 0, 0]  # group 0 is the larger one (32 tags vs 18)
    assert [g["size"] for g in tree["groups"]] == [32, 18]
    assert [t["topic_id"] for t in tree["groups"][1]["topics"]] == [2, 1, 0]  # by size
    assert tree["groups"][0]["label"].split(" / ")[0] in {"tag3", "tag4"}


def test_default_group_count_is_about_sqrt_of_topics():
    rng = np.random.default_rng(0)
    topics = _topics(rng.standard_normal((16, 8)).tolist(), [10] * 16)
    parent, tree = build_tree(topics)
    assert len(tree["groups"]) == 4 and parent.nunique() == 4
    assert sum(len(g["topics"]) for g in tree["groups"]) == 16


def test_empty_and_single_topic():
    assert build_tree(_topics([], []).astype({"topic_id": "int64"}))[1] == {"groups": []}
    parent, tree = build_tree(_topics([[1, 0]], [3]), n_groups=5)
    assert parent.tolist() == [0] and tree["groups"][0]["label"] == "tag0"
