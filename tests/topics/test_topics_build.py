"""The engine on planted topics (no UMAP: PCA or the identity, which cost nothing)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from topictensor.topics.build import build_topics
from topictensor.topics.label import FREQUENT_GENERIC, LOW_COHERENCE, STOPLIST, coherence
from topictensor.vectors import unit_rows
from topictensor.topics.params import TopicsConfig
from topictensor.topics.reduce import IdentityReducer

FAST = dict(reducer="pca", min_cluster_size=5)


def test_planted_topics_are_recovered(planted):
    tags, counts, vectors, truth = planted(n_topics=5, per_topic=20, dim=16)
    result = build_topics(tags, counts, vectors, TopicsConfig(**FAST))
    assert result.reason is None
    assert len(result.topics) == 5
    members = result.members.set_index("tag")
    assert adjusted_rand_score([truth[t] for t in tags], members.loc[tags, "topic_id"]) == pytest.approx(1.0)
    assert result.summary["noise_share"] == 0.0
    # every topic's label is made of its own planted tags, and its members are coherent
    for row in result.topics.itertuples():
        planted_ids = {truth[t] for t in row.top_tags}
        assert len(planted_ids) == 1
        assert row.coherence > 0.6
        assert row.flags == []


def test_tables_have_one_row_per_tag_and_per_topic(planted):
    tags, counts, vectors, _ = planted(n_topics=3, per_topic=12)
    result = build_topics(tags, counts, vectors, TopicsConfig(**FAST))
    assert sorted(result.members["tag"]) == sorted(tags)
    assert list(result.topics["topic_id"]) == list(range(len(result.topics)))
    sizes = result.members[result.members.topic_id >= 0].groupby("topic_id").size()
    assert sizes.to_dict() == dict(zip(result.topics.topic_id, result.topics["size"]))
    assert list(result.topics["size"]) == sorted(result.topics["size"], reverse=True)  # local ids by size
    centroid = np.array(result.topics["centroid"].iloc[0])
    assert np.linalg.norm(centroid) == pytest.approx(1.0, abs=1e-5)


def test_label_is_the_most_central_tags_not_the_most_frequent(planted):
    tags, counts, vectors, truth = planted(n_topics=2, per_topic=15, dim=8, spread=0.05)
    # An edge tag of topic 0 that is by far the most frequent: sits between topic 0 and topic 1.
    edge = np.zeros(8, dtype=np.float32)
    edge[0], edge[1] = 1.0, 0.55
    tags = tags + ["popular"]
    counts = np.append(counts, 10**6)
    vectors = np.vstack([vectors, edge])
    cfg = TopicsConfig(reducer="none", min_cluster_size=5, label_size=3, soft_threshold=0.5, merge_cosine=None)
    result = build_topics(tags, counts, vectors, cfg)
    members = result.members.set_index("tag")
    assert members.loc["popular", "topic_id"] >= 0  # it belongs (hard or soft) ...
    assert all("popular" not in row.top_tags for row in result.topics.itertuples())  # ... but does not name it


def _close_topics_and_outliers():
    """3 topics whose centres share a common direction (pairwise cosine ~0.69, so they part at a
    short distance) and 2 outliers farther from every tag than the topics are from each other:
    ``near`` (cosine ~0.39 to topic 0's centre, 0 to the others) and ``far`` (0 to all)."""
    rng = np.random.default_rng(0)
    dim, common = 16, 15
    tags, rows = [], []
    for k in range(3):
        centre = np.zeros(dim)
        centre[k], centre[common] = 1.0, 1.5
        centre /= np.linalg.norm(centre)
        for i in range(15):
            tags.append(f"t{k}_{i}")
            rows.append(centre + 0.03 * rng.standard_normal(dim))
    near, far = np.zeros(dim), np.zeros(dim)
    near[0], near[10] = 1.0, 1.0
    far[12] = 1.0
    rows += [near, far]
    tags += ["near", "far"]
    return tags, np.full(len(tags), 10), np.array(rows, dtype=np.float32)


def test_noise_tags_join_the_nearest_topic_as_soft_members():
    tags, counts, vectors = _close_topics_and_outliers()
    base = dict(reducer="none", min_cluster_size=5, merge_cosine=None, min_count=1)

    kept_as_noise = build_topics(tags, counts, vectors, TopicsConfig(**base, soft_threshold=None))
    assert len(kept_as_noise.topics) == 3
    m = kept_as_noise.members.set_index("tag")
    assert m.loc["near", "topic_id"] == -1 and m.loc["far", "topic_id"] == -1
    assert kept_as_noise.summary["noise_share"] == pytest.approx(2 / len(tags))

    too_strict = build_topics(tags, counts, vectors, TopicsConfig(**base, soft_threshold=0.5))
    assert (too_strict.members.set_index("tag").loc[["near", "far"], "topic_id"] == -1).all()

    softened = build_topics(tags, counts, vectors, TopicsConfig(**base, soft_threshold=0.35))
    m = softened.members.set_index("tag")
    topic_of_axis0 = m.loc["t0_0", "topic_id"]
    assert m.loc["near", "topic_id"] == topic_of_axis0 and bool(m.loc["near", "soft"])
    assert m.loc["near", "strength"] == pytest.approx(0.39, abs=0.03)
    assert m.loc["far", "topic_id"] == -1 and not bool(m.loc["far", "soft"])
    assert softened.summary["noise_share"] == pytest.approx(1 / len(tags))
    assert softened.summary["noise_share_hard"] == pytest.approx(2 / len(tags))
    row = softened.topics.set_index("topic_id").loc[topic_of_axis0]
    assert row["soft_size"] == 1 and row["size"] == 16 and "near" not in row["top_tags"]


def test_rare_tags_are_not_clustered_but_can_join_softly(planted):
    tags, counts, vectors, truth = planted(n_topics=3, per_topic=15, dim=8, spread=0.05)
    counts = np.full(len(tags), 100)
    counts[:3] = 1  # three rare tags of topic 0
    result = build_topics(tags, counts, vectors, TopicsConfig(reducer="none", min_cluster_size=5, min_count=2))
    assert result.summary["clustered_tags"] == len(tags) - 3
    m = result.members.set_index("tag")
    for tag in tags[:3]:
        assert bool(m.loc[tag, "soft"]) and m.loc[tag, "topic_id"] == m.loc[tags[5], "topic_id"]


def test_flags_low_coherence_frequent_and_stoplist(planted):
    tags, counts, vectors, truth = planted(n_topics=3, per_topic=12, dim=8, spread=0.05)
    counts = np.full(len(tags), 10)
    counts[[i for i, t in enumerate(tags) if truth[t] == 1]] = 10_000  # topic 1: only very frequent tags
    cfg = TopicsConfig(reducer="none", min_cluster_size=5, min_count=1, frequent_quantile=0.6, stoplist=tags[24:30],
                       stoplist_share=0.4, low_coherence=0.99)
    result = build_topics(tags, counts, vectors, cfg)
    by_planted = {truth[row.top_tags[0]]: row.flags for row in result.topics.itertuples()}
    assert FREQUENT_GENERIC in by_planted[1] and FREQUENT_GENERIC not in by_planted[0]
    assert STOPLIST in by_planted[2] and STOPLIST not in by_planted[0]
    assert all(LOW_COHERENCE in flags for flags in by_planted.values())  # 0.99 is stricter than any topic


def test_coherence_is_the_mean_pairwise_cosine():
    rng = np.random.default_rng(1)
    unit = unit_rows(rng.standard_normal((7, 5)))
    sims = unit @ unit.T
    expected = (sims.sum() - np.trace(sims)) / (7 * 6)
    assert coherence(unit) == pytest.approx(expected, abs=1e-6)


def test_same_input_same_topics(planted):
    tags, counts, vectors, _ = planted(n_topics=4, per_topic=15)
    a = build_topics(tags, counts, vectors, TopicsConfig(**FAST))
    b = build_topics(tags, counts, vectors, TopicsConfig(**FAST))
    assert a.members.equals(b.members)
    assert a.topics.drop(columns=["centroid"]).equals(b.topics.drop(columns=["centroid"]))


# ---- degenerate input: a clear result, never a crash ---------------------------------------------

def _assert_empty(result, n_tags, phrase):
    assert result.topics.empty and list(result.topics.columns)
    assert len(result.members) == n_tags and (result.members["topic_id"] == -1).all()
    assert result.summary["topics"] == 0
    assert phrase in result.reason


def test_fewer_tags_than_min_cluster_size(planted):
    tags, counts, vectors, _ = planted(n_topics=1, per_topic=4)
    result = build_topics(tags, counts, vectors, TopicsConfig(reducer="umap", min_cluster_size=10))
    _assert_empty(result, 4, "fewer than min_cluster_size=10")


def test_all_tags_identical():
    vectors = np.tile(np.array([[0.3, -1.0, 2.0, 0.5]], dtype=np.float32), (40, 1))
    result = build_topics([f"x{i}" for i in range(40)], np.ones(40), vectors,
                          TopicsConfig(reducer="umap", min_cluster_size=5, min_count=1))
    _assert_empty(result, 40, "point the same way")


def test_no_tags_at_all():
    result = build_topics([], np.zeros(0), np.zeros((0, 8), dtype=np.float32), TopicsConfig(**FAST))
    _assert_empty(result, 0, "only 0 tags")


def test_zero_vectors_are_noise_not_a_crash(planted):
    tags, counts, vectors, _ = planted(n_topics=2, per_topic=10, dim=8, spread=0.05)
    vectors[:3] = 0.0
    result = build_topics(tags, counts, vectors, TopicsConfig(reducer="none", min_cluster_size=5))
    assert result.reason is None and len(result.topics) == 2
    assert (result.members.set_index("tag").loc[tags[:3], "topic_id"] == -1).all()


def test_no_dense_region_gives_all_noise_with_a_reason():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((30, 30)).astype(np.float32)  # 30 random directions: no cluster
    result = build_topics([f"r{i}" for i in range(30)], np.ones(30), vectors,
                          TopicsConfig(reducer="none", min_cluster_size=15, min_samples=15, soft_threshold=None,
                                       min_count=1))
    _assert_empty(result, 30, "HDBSCAN found no cluster of at least 15 tags")


def test_mismatched_inputs_are_a_clear_error():
    with pytest.raises(ValueError, match="one count and one vector row per tag"):
        build_topics(["a", "b"], [1], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="unique"):
        build_topics(["a", "a"], [1, 1], np.eye(2))


def test_identity_reducer_is_the_input():
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    assert np.array_equal(IdentityReducer().fit_transform(x), x)


def test_min_cluster_size_moves_the_number_of_topics():
    """4 broad themes, each made of 2 sub-themes of 12 tags: small topics find the 8 sub-themes,
    topics larger than a sub-theme can only be the 4 themes."""
    rng = np.random.default_rng(0)
    dim, rows, tags = 16, [], []
    for theme in range(4):
        for sub in range(2):
            centre = np.zeros(dim)
            centre[theme] = 1.0
            centre[8 + 2 * theme + sub] = 0.6  # sub-themes of a theme: cosine ~0.74
            for i in range(12):
                tags.append(f"th{theme}s{sub}_{i}")
                rows.append(centre + 0.03 * rng.standard_normal(dim))
    vectors, counts = np.array(rows, dtype=np.float32), np.full(len(tags), 100)
    base = dict(reducer="none", cluster_selection_method="leaf", merge_cosine=None)
    fine = build_topics(tags, counts, vectors, TopicsConfig(**base, min_cluster_size=5))
    broad = build_topics(tags, counts, vectors, TopicsConfig(**base, min_cluster_size=15))
    assert len(fine.topics) == 8 and len(broad.topics) == 4
    by_tag = broad.members.set_index("tag")["topic_id"]
    assert by_tag["th0s0_0"] == by_tag["th0s1_0"] != by_tag["th1s0_0"]
