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


def _clusters_variant(config, name, edit):
    """A copy of production's clusters artifact with ``edit(files)`` applied (file name -> bytes),
    published as version ``name`` (the same train, blogger vectors and index); not promoted."""
    from topictensor.artifacts import StageResult, run_stage
    from topictensor.registry import Registry

    store = config.open_store()
    registry = Registry(store)
    manifest = registry.get_version(registry.production())
    clusters = registry.artifact(manifest["version"], "clusters")
    files = {n: clusters.path(n).read_bytes() for n in clusters.names()}
    edit(files)

    def compute(ws):
        for n, data in files.items():
            ws.path(n).write_bytes(data)
        return StageResult()

    ref = run_stage(store, "clusters", code=f"variant-{name}", params={}, inputs={}, compute=compute)
    registry.write_version({**manifest, "version": name,
                            "stages": {**manifest["stages"], "clusters": [{"stage": ref.stage, "key": ref.key}]}})
    return registry, manifest["version"]


def _renamed(files):
    """Every topic label, tree group label and map position changed, so each endpoint shows which
    version it answers from."""
    import io
    import json

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    def rewrite(name, change):
        table = pq.read_table(io.BytesIO(files[name]))
        out = io.BytesIO()
        pq.write_table(change(table), out)
        files[name] = out.getvalue()

    rewrite("topics.parquet", lambda t: t.set_column(t.column_names.index("label"), "label",
                                                    pc.binary_join_element_wise("swapped ", t.column("label"), "")))
    rewrite("map.parquet", lambda t: t.set_column(t.column_names.index("x"), "x",
                                                 pa.array([0.5] * t.num_rows, type=t.schema.field("x").type))
            .replace_schema_metadata(t.schema.metadata))
    tree = json.loads(files["tree.json"])
    for group in tree["groups"]:
        group["label"] = "swapped " + str(group["label"])
    files["tree.json"] = json.dumps(tree).encode()


def _topics_view(client):
    topics = client.get("/topics").json()
    tree = client.get("/topics/tree").json()
    topic_map = client.get("/topics/map", params={"limit": 50}).json()
    return {"versions": {topics["version"], tree["version"], topic_map["version"], client.get("/version").json()["version"]},
            "labels": {t["label"].startswith("swapped ") for t in topics["topics"]},
            "groups": {str(g["label"]).startswith("swapped ") for g in tree["groups"]},
            "map": {x == 0.5 for x in topic_map["x"]}}


def test_a_swap_changes_topics_tree_and_map_with_the_model_and_no_request_reads_a_file(config, monkeypatch):
    from topictensor.artifacts import Artifact

    registry, production = _clusters_variant(config, "swapped", _renamed)
    try:
        with TestClient(create_app(config, reload_seconds=0)) as c:
            assert _topics_view(c) == {"versions": {production}, "labels": {False}, "groups": {False}, "map": {False}}
            registry.promote("swapped")
            assert _topics_view(c) == {"versions": {"swapped"}, "labels": {True}, "groups": {True}, "map": {True}}
            reads = []
            for method in ("path", "read_json", "read_table"):
                real = getattr(Artifact, method)
                monkeypatch.setattr(Artifact, method, lambda self, *a, _real=real, _m=method, **k:
                                    reads.append((_m, a)) or _real(self, *a, **k))
            registry.promote(production)  # the spy sees a load's reads ...
            assert _topics_view(c)["versions"] == {production} and reads
            registry.promote("swapped")
            assert _topics_view(c)["versions"] == {"swapped"}
            reads.clear()
            for _ in range(3):  # the loaded version answers: no artifact file is opened per request
                assert c.get("/topics/tree").status_code == 200
                assert c.get("/topics").status_code == 200 and c.get("/topics/map").status_code == 200
            assert reads == []
            monkeypatch.undo()
            registry.promote(production)
            assert _topics_view(c) == {"versions": {production}, "labels": {False}, "groups": {False}, "map": {False}}
    finally:
        registry.promote(production)


def test_a_version_whose_topics_cannot_be_read_is_refused_whole(config):
    """Topics load with the version: a clusters artifact whose tree is unreadable (its manifest
    matching) keeps the previous version serving everything, rankings and topics alike."""
    def broken(files):
        files["tree.json"] = b"{not json"

    registry, production = _clusters_variant(config, "broken-tree", broken)
    try:
        with TestClient(create_app(config, reload_seconds=0), raise_server_exceptions=False) as c:
            assert c.get("/topics/tree").json()["version"] == production
            registry.promote("broken-tree")
            health = c.get("/health").json()
            assert health["version"] == production and health["refused"]["version"] == "broken-tree"
            assert _topics_view(c)["versions"] == {production}
            assert c.get("/topics/tree").status_code == 200
    finally:
        registry.promote(production)
