"""clusters.max_fit_tags: the reduction and clustering see at most the cap's most used tags, the
others are placed by their nearest fitted tags; planted topics are still recovered and every tag
gets its row; a clusters stage killed mid-way leaves no manifest and the rerun completes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from topictensor.topics import place
from topictensor.topics.build import build_topics
from topictensor.topics.params import TopicsConfig
from topictensor.topics.reduce import PcaReducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers.kill import kill_when_marked  # noqa: E402


class CountingReducer(PcaReducer):
    """PCA that records how many rows it was fitted on."""

    def __init__(self):
        super().__init__(5, 0)
        self.rows: list[int] = []

    def fit_transform(self, vectors):
        self.rows.append(len(vectors))
        return super().fit_transform(vectors)


def test_a_cap_below_the_vocabulary_recovers_the_planted_topics_and_assigns_every_tag(planted):
    tags, counts, vectors, truth = planted(n_topics=6, per_topic=40, dim=16, seed=4)
    reducer = CountingReducer()
    cfg = TopicsConfig(reducer="pca", min_cluster_size=5, max_fit_tags=90, min_count=1)
    result = build_topics(tags, counts, vectors, cfg, reducer=reducer)
    assert reducer.rows == [90]  # fitted on the cap, not on the 240 tags
    assert result.summary["fitted_tags"] == 90 and result.summary["placed_tags"] == 150
    assert sorted(result.members["tag"]) == sorted(tags)
    ids = result.members.set_index("tag").loc[tags, "topic_id"]
    assert (ids >= 0).all()
    assert adjusted_rand_score([truth[t] for t in tags], ids) == pytest.approx(1.0)
    assert len(result.topics) == 6
    placed = result.members.set_index("tag").loc[tags]
    assert not placed["soft"].any()  # placed tags are members like the fitted ones, not soft ones
    # the fitted ones are the most used
    order = np.lexsort((np.arange(len(tags)), -np.asarray(counts)))
    assert len(result.mapped) == 90 and set(result.mapped.tolist()) == set(order[:90].tolist())


def test_the_cap_above_the_vocabulary_changes_nothing(planted):
    tags, counts, vectors, _ = planted(n_topics=4, per_topic=20, dim=16, seed=5)
    cfg = dict(reducer="pca", min_cluster_size=5, min_count=1)  # every one of the 80 tags is clustered
    capped = build_topics(tags, counts, vectors, TopicsConfig(**cfg, max_fit_tags=80))
    free = build_topics(tags, counts, vectors, TopicsConfig(**cfg, max_fit_tags=None))
    assert capped.summary["clustered_tags"] == 80
    assert capped.members.equals(free.members)
    assert capped.summary["placed_tags"] == 0
    below = build_topics(tags, counts, vectors, TopicsConfig(**cfg, max_fit_tags=79))  # the cap does bite one below
    assert below.summary["fitted_tags"] == 79 and below.summary["placed_tags"] == 1


def test_umap_fitted_on_a_cap_recovers_the_planted_topics(planted):
    tags, counts, vectors, truth = planted(n_topics=4, per_topic=40, dim=16, spread=0.2, seed=3)
    cfg = TopicsConfig(reducer="umap", n_neighbors=10, min_cluster_size=8, seed=7, max_fit_tags=70, min_count=1)
    result = build_topics(tags, counts, vectors, cfg)
    assert result.summary["fitted_tags"] == 70 and len(result.topics) == 4
    ids = result.members.set_index("tag").loc[tags, "topic_id"]
    assert adjusted_rand_score([truth[t] for t in tags], ids) == 1.0


def test_placement_in_small_blocks_equals_one_block(monkeypatch):
    rng = np.random.default_rng(0)
    space = rng.standard_normal((500, 8)).astype(np.float32)
    space /= np.linalg.norm(space, axis=1, keepdims=True)
    fitted = np.arange(0, 500, 3)
    labels = rng.integers(-1, 6, len(fitted))
    placed = np.setdiff1d(np.arange(500), fitted)
    whole = place.place_by_neighbours(space, fitted, labels, placed, 7)
    monkeypatch.setattr(place, "BLOCK_CELLS", len(fitted) * 5)  # blocks of 5 rows
    blocks = place.place_by_neighbours(space, fitted, labels, placed, 7)
    assert np.array_equal(whole[0], blocks[0]) and np.array_equal(whole[1], blocks[1])
    assert (whole[0] >= -1).all() and (whole[0] < 6).all()
    # a tag placed on top of a fitted one takes its topic
    lone = place.place_by_neighbours(space, fitted, labels, fitted[:20], 1)
    assert np.array_equal(lone[0], labels[:20])


KILLED_STAGE = r"""
import sys, time
from topictensor.artifacts import ArtifactRef
from topictensor.config import load_config
from topictensor.stages.clusters import clusters
import topictensor.topics.map as topic_map

real = topic_map.map_table
def slow_map(*args, **kwargs):
    out = real(*args, **kwargs)
    open(sys.argv[2], "w").write("mapping")  # the topics are written, the map not: kill me
    time.sleep(120)
    return out
topic_map.map_table = slow_map
config = load_config(overrides={"store": {"uri": sys.argv[1]},
                                "clusters": {"reducer": "pca", "min_cluster_size": 5, "max_fit_tags": 50, "min_count": 1}},
                     use_env=False)
clusters(ArtifactRef.from_dict({"stage": "train", "key": sys.argv[3]}), config)
"""


def test_a_clusters_stage_killed_mid_way_leaves_no_manifest_and_the_rerun_completes(tmp_path, planted_embeddings):
    from topictensor.artifacts import Artifact, StageResult, run_stage
    from topictensor.config import load_config
    from topictensor.stages.clusters import clusters

    config = load_config(overrides={"store": {"uri": str(tmp_path / "store")},
                                    "clusters": {"reducer": "pca", "min_cluster_size": 5, "max_fit_tags": 50, "min_count": 1}},
                         use_env=False)
    store = config.open_store()
    emb, _ = planted_embeddings(n_topics=4, per_topic=30, dim=16, seed=2)
    model = run_stage(store, "train", code="test", params={}, inputs={},
                      compute=lambda ws: (emb.save(ws.root), StageResult())[1])
    marker = tmp_path / "mapping"
    kill_when_marked([sys.executable, "-c", KILLED_STAGE, str(tmp_path / "store"), str(marker), model.key], marker,
                     timeout=180, what="its map")
    assert not [k for k in store.list("artifacts/clusters") if k.endswith("_MANIFEST.json")]
    ref = clusters(model, config)
    assert not ref.reused
    art = Artifact(store, ref)
    assert art.manifest["counts"]["fitted_tags"] == 50 and art.manifest["counts"]["placed_tags"] == 70
    assert art.read_table("members.parquet").num_rows == len(emb)
