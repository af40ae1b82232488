"""The merge rule: clusters whose centroids are at least merge_cosine apart become one topic."""

from __future__ import annotations

import numpy as np

from topictensor.topics.build import build_topics
from topictensor.topics.merge import merge_close_clusters
from topictensor.topics.params import TopicsConfig


def _unit(*rows):
    a = np.array(rows, dtype=np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_close_clusters_merge_and_keep_their_lineage():
    # clusters 0 and 2 point almost the same way (cosine ~0.995); cluster 1 is orthogonal
    unit = _unit([1, 0, 0], [1, 0.02, 0], [0, 1, 0], [0, 1, 0.01], [1, 0.1, 0], [1, 0.12, 0])
    labels = np.array([0, 0, 1, 1, 2, 2])
    merged, lineage = merge_close_clusters(labels, unit, threshold=0.95)
    assert lineage == [[0, 2], [1]]
    assert merged.tolist() == [0, 0, 1, 1, 0, 0]


def test_threshold_decides_and_none_never_merges():
    unit = _unit([1, 0], [1, 0], [1, 1], [1, 1])  # two clusters at cosine 0.707
    labels = np.array([0, 0, 1, 1])
    assert merge_close_clusters(labels, unit, threshold=0.8)[1] == [[0], [1]]
    assert merge_close_clusters(labels, unit, threshold=0.7)[1] == [[0, 1]]
    assert merge_close_clusters(labels, unit, threshold=None)[1] == [[0], [1]]


def test_noise_is_left_alone_and_chains_merge_closest_first():
    # a-b at cosine 0.98, b-c at 0.98, a-c at ~0.92: with 0.95 all three end up together (greedy,
    # recomputed centroids), noise rows stay -1
    angles = np.radians([0, 11.5, 23])
    unit = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    unit = np.vstack([unit, [[0, 1]]]).astype(np.float32)
    merged, lineage = merge_close_clusters(np.array([0, 1, 2, -1]), unit, threshold=0.95)
    assert lineage == [[0, 1, 2]]
    assert merged.tolist() == [0, 0, 0, -1]


def test_engine_merges_near_duplicate_topics(planted):
    # two planted topics 15 degrees apart: separate clusters for HDBSCAN, duplicates for a person
    tags, counts, vectors, truth = planted(n_topics=3, per_topic=15, dim=8, spread=0.02)
    twin = np.zeros(8, dtype=np.float32)
    twin[0], twin[3] = np.cos(np.radians(15)), np.sin(np.radians(15))
    rng = np.random.default_rng(5)
    vectors = np.vstack([vectors, twin + 0.02 * rng.standard_normal((15, 8)).astype(np.float32)])
    tags = tags + [f"twin{i}" for i in range(15)]
    counts = np.append(counts, np.full(15, 50))
    base = dict(reducer="none", min_cluster_size=5, cluster_selection_method="leaf")
    apart = build_topics(tags, counts, vectors, TopicsConfig(**base, merge_cosine=None))
    together = build_topics(tags, counts, vectors, TopicsConfig(**base, merge_cosine=0.9))
    assert len(apart.topics) == 4 and len(together.topics) == 3
    m = together.members.set_index("tag")
    assert m.loc["twin0", "topic_id"] == m.loc["t0_0", "topic_id"]
    merged_row = together.topics.set_index("topic_id").loc[m.loc["twin0", "topic_id"]]
    assert len(merged_row["merged_from"]) == 2
