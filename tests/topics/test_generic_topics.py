"""Topics made of generic tags: the filter review's detector marks the tags, the clusters stage flags
the topic, keeps it out of the tree, and /topics lists it only when asked."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from topictensor.artifacts import Artifact, StageResult, run_stage
from topictensor.config import FilterConfig, load_config
from topictensor.stages.clusters import clusters
from topictensor.stages.filter import GenericDetection
from topictensor.topics.build import build_topics
from topictensor.topics.label import GENERIC
from topictensor.topics.params import TopicsConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers.prep import filter_posts  # noqa: E402

SECTION = TopicsConfig(reducer="pca", min_cluster_size=5)
GENERIC_TOPIC = 1  # planted topic whose tags are used like #love: on posts of every other topic


def planted_posts(tags: list[str], truth: dict[str, int], seed: int = 0) -> pa.Table:
    """Posts of 3 tags of one thematic topic, and in 40% of them one tag of the generic topic."""
    rng = np.random.default_rng(seed)
    by_topic: dict[int, list[str]] = {}
    for t in tags:
        by_topic.setdefault(truth[t], []).append(t)
    generic = by_topic.pop(GENERIC_TOPIC)
    thematic = sorted(by_topic)
    rows = []
    for i in range(3000):
        topic = thematic[i % len(thematic)]
        post = list(rng.choice(by_topic[topic], 3, replace=False))
        if rng.random() < 0.4:
            post.append(str(rng.choice(generic)))
        rows.append(post)
    return pa.table({"post_id": [f"p{i}" for i in range(len(rows))],
                     "blogger_id": [f"b{i % 200}" for i in range(len(rows))],
                     "tags": pa.array(rows, type=pa.list_(pa.string()))})


@pytest.fixture
def planted_world(tmp_path, planted_embeddings):
    config = load_config(overrides={"store": {"uri": str(tmp_path / "store")}}, use_env=False)
    store = config.open_store()
    emb, truth = planted_embeddings(n_topics=4, per_topic=12, dim=16, seed=1)
    _, review, _ = filter_posts(planted_posts(list(emb.tags), truth), min_bloggers=2, blacklist=set(),
                                review_top_n=1000,
                                generic=GenericDetection("suggest", FilterConfig().generic_threshold))
    model = run_stage(store, "train", code="test", params={}, inputs={},
                      compute=lambda ws: (emb.save(ws.root), StageResult())[1])
    filtered = run_stage(store, "filter", code="test", params={"lang": "en"}, inputs={},
                         compute=lambda ws: (pq.write_table(review, ws.path("review.parquet")), StageResult())[1])
    return config, store, model, filtered, truth, review


def test_the_detector_marks_exactly_the_planted_generic_tags(planted_world):
    *_, truth, review = planted_world
    rows = review.to_pandas()
    assert set(rows.loc[rows["generic"], "tag"]) == {t for t, k in truth.items() if k == GENERIC_TOPIC}


def test_clusters_flag_the_generic_topic_and_keep_it_out_of_the_tree(planted_world):
    config, store, model, filtered, truth, _ = planted_world
    ref = clusters(model, config, SECTION, filtered=[filtered])
    art = Artifact(store, ref)
    assert art.manifest["inputs"]["filtered"] == [f"filter/{filtered.key}"]
    topics = art.read_table("topics.parquet").to_pandas()
    assert len(topics) == 4 and ref.counts["generic_topics"] == 1
    flagged = topics[[GENERIC in f for f in topics["flags"]]]
    assert {truth[t] for t in flagged.iloc[0]["top_tags"]} == {GENERIC_TOPIC}
    assert flagged.iloc[0]["parent_group"] == -1 and (topics.drop(flagged.index)["parent_group"] >= 0).all()
    in_tree = {t["topic_id"] for g in art.read_json("tree.json")["groups"] for t in g["topics"]}
    assert in_tree == set(topics["topic_id"]) - {int(flagged.iloc[0]["topic_id"])}
    unflagged = clusters(model, config, SECTION)  # without the reviews nothing is flagged generic
    assert unflagged.counts["generic_topics"] == 0 and unflagged.key != ref.key


def test_generic_share_decides(planted):
    tags, counts, vectors, truth = planted(n_topics=3, per_topic=12, dim=8, spread=0.05)
    half = {t for t, k in truth.items() if k == 0}
    half = set(sorted(half)[:5])  # 5 of 12 members
    loose = build_topics(tags, counts, vectors, TopicsConfig(reducer="none", min_cluster_size=5, min_count=1,
                                                             generic_share=0.4), generic_tags=half)
    strict = build_topics(tags, counts, vectors, TopicsConfig(reducer="none", min_cluster_size=5, min_count=1,
                                                              generic_share=0.5), generic_tags=half)
    assert loose.summary["generic_topics"] == 1 and strict.summary["generic_topics"] == 0


def test_api_lists_generic_topics_only_when_asked(planted_world):
    from fastapi.testclient import TestClient

    from topictensor.registry import Registry
    from topictensor.service.app import create_app

    config, store, model, filtered, truth, _ = planted_world
    ref = clusters(model, config, SECTION, filtered=[filtered])
    registry = Registry(store)
    registry.write_version({"version": "v1", "created_at": "v1", "metrics": {}, "stages": {
        "train": [{"stage": "train", "key": model.key}], "clusters": [{"stage": "clusters", "key": ref.key}]}})
    registry.promote("v1", by="test")
    with TestClient(create_app(config)) as client:
        default = client.get("/topics").json()["topics"]
        everything = client.get("/topics", params={"include_generic": "true"}).json()["topics"]
        bad = client.get("/topics", params={"include_generic": "maybe"})
    assert len(default) == 3 and not any(GENERIC in t["flags"] for t in default)
    assert len(everything) == 4 and sum(GENERIC in t["flags"] for t in everything) == 1
    assert bad.status_code == 422
