"""The one test that runs real UMAP (numba JIT: ~15-25 s in a fresh process on this machine,
~2 s when the kernels were compiled earlier in the same process)."""

from __future__ import annotations

from sklearn.metrics import adjusted_rand_score

from topictensor.topics.build import build_topics
from topictensor.topics.params import TopicsConfig


def test_umap_then_hdbscan_recovers_planted_topics_and_is_seeded(planted):
    tags, counts, vectors, truth = planted(n_topics=4, per_topic=25, dim=16, spread=0.2, seed=3)
    cfg = TopicsConfig(reducer="umap", n_neighbors=10, min_cluster_size=8, seed=7)
    first = build_topics(tags, counts, vectors, cfg)
    assert first.summary["reducer"] == "umap" and len(first.topics) == 4
    ids = first.members.set_index("tag").loc[tags, "topic_id"]
    assert adjusted_rand_score([truth[t] for t in tags], ids) == 1.0
    again = build_topics(tags, counts, vectors, cfg)
    assert again.members.equals(first.members)  # same seed, same input: the same topics
