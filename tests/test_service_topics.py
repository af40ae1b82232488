"""/topics and /topics/{id} serve the production version's fixed topics."""

import pytest
from fastapi.testclient import TestClient

from topictensor import synth
from topictensor.config import load_config
from topictensor.pipeline import run_pipeline
from topictensor.service.app import create_app


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("svc")
    synth.write(synth.generate(synth.SynthConfig(seed=4, n_bloggers=400, posts_per_blogger_mean=20)), root / "raw")
    config = load_config(overrides={"store": {"uri": str(root / "store")}, "ingest": {"input_uri": str(root / "raw")},
                                    "filter": {"min_bloggers": 2}, "train": {"threads": 2}}, use_env=False)
    run_pipeline(config)
    return TestClient(create_app(config))


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
