"""/topics and /topics/{id} serve the production version's fixed topics."""

import pytest
from fastapi.testclient import TestClient

from topictensor import synth
from topictensor.config import load_config
from topictensor.pipeline import run_pipeline
from topictensor.service.app import create_app


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    root = tmp_path_factory.mktemp("svc")
    synth.write(synth.generate(synth.SynthConfig(seed=4, n_bloggers=400, posts_per_blogger_mean=20)), root / "raw")
    config = load_config(overrides={"store": {"uri": str(root / "store")}, "ingest": {"input_uri": str(root / "raw")},
                                    "filter": {"min_bloggers": 2}, "train": {"threads": 2}}, use_env=False)
    run_pipeline(config)
    return config


@pytest.fixture(scope="module")
def client(config):
    return TestClient(create_app(config))


@pytest.fixture
def tsne_calls(monkeypatch):
    """Every t-SNE layout run in this test (the number of tags of each)."""
    from sklearn.manifold import TSNE

    calls, real = [], TSNE.fit_transform

    def counted(self, X, *args, **kwargs):
        calls.append(len(X))
        return real(self, X, *args, **kwargs)

    monkeypatch.setattr(TSNE, "fit_transform", counted)
    return calls


LIMITS = (2000, 50, 51, 300, 10_000, 7)


def test_the_map_is_laid_out_in_the_clusters_stage_and_never_per_request(config, tsne_calls):
    """Issue 13.7: the service laid the map out again for every distinct ``limit``."""
    from topictensor.registry import Registry

    clusters = Registry(config.open_store()).artifact(None, "clusters")
    assert "map.parquet" in clusters.files
    with TestClient(create_app(config)) as c:
        maps = {limit: c.get("/topics/map", params={"limit": limit}).json() for limit in LIMITS}
    assert tsne_calls == []
    full = maps[10_000]
    assert full["source"] == "clusters artifact" and full["method"] == "tsne"
    assert len(full["tags"]) == clusters.manifest["extra"]["map_tags"] > 300
    position = {t: (x, y) for t, x, y in zip(full["tags"], full["x"], full["y"])}
    for limit, got in maps.items():
        assert len(got["tags"]) == min(limit, len(full["tags"]))
        assert all(position[t] == (x, y) for t, x, y in zip(got["tags"], got["x"], got["y"]))  # one layout


def test_a_version_made_before_the_stage_stored_a_map_is_laid_out_once(config, tsne_calls):
    from topictensor.artifacts import StageResult, run_stage
    from topictensor.registry import Registry

    store = config.open_store()
    registry = Registry(store)
    production = registry.production()
    manifest = registry.get_version(production)
    clusters = registry.artifact(production, "clusters")

    def without_map(ws):
        for name in clusters.names():
            if name != "map.parquet":
                ws.path(name).write_bytes(clusters.path(name).read_bytes())
        return StageResult()

    old = run_stage(store, "clusters", code="before-map", params={}, inputs={}, compute=without_map)
    stages = {**manifest["stages"], "clusters": [{"stage": old.stage, "key": old.key}]}
    registry.write_version({**manifest, "version": "oldmap", "stages": stages})
    registry.promote("oldmap")
    try:
        with TestClient(create_app(config)) as c:
            maps = {limit: c.get("/topics/map", params={"limit": limit}).json() for limit in LIMITS}
        assert len(tsne_calls) == 1  # once for the version, whatever the limits
        full = maps[10_000]
        assert full["version"] == "oldmap" and "laid out by the service" in full["source"]
        position = {t: (x, y) for t, x, y in zip(full["tags"], full["x"], full["y"])}
        assert all(position[t] == (x, y) for t, x, y in zip(maps[50]["tags"], maps[50]["x"], maps[50]["y"]))
    finally:
        registry.promote(production)


def test_topics_list_and_one_topic(client):
    listing = client.get("/topics")
    assert listing.status_code == 200
    topics = listing.json()["topics"]
    assert len(topics) >= 5 and all(t["label"] and t["size"] > 0 for t in topics)
    cars = [t for t in topics if "bmw" in t["label"] or "car" in t["label"].split(", ")]
    assert cars, [t["label"] for t in topics]
    detail = client.get(f"/topics/{cars[0]['topic_id']}", params={"top": 10}).json()
    assert len(detail["tags"]) == 10
    assert sum(t["tag"] in synth.theme_tags("cars") for t in detail["tags"]) >= 7


def test_unknown_topic_is_404(client):
    response = client.get("/topics/99999")
    assert response.status_code == 404 and "no topic 99999" in response.json()["detail"]
