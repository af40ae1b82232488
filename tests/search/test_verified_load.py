"""Artifacts are verified on read (issue 13, item 2): the service refuses a version whose files do
not match their manifest (and keeps serving the one it has, saying so in /health); the CLI's
``neighbours`` and ``verify`` say which file is damaged instead of answering from it."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from topictensor.artifacts import Artifact, StageResult, run_stage
from topictensor.cli import app as cli_app
from topictensor.config import load_config
from topictensor.embeddings import Embeddings
from topictensor.registry import Registry
from topictensor.service.app import create_app


def _train_artifact(store, emb, name):
    def compute(ws):
        emb.save(ws.path("embeddings.parquet").parent)
        return StageResult()
    return run_stage(store, "train", code="planted", params={"name": name}, inputs={}, compute=compute)


def _publish(registry, vid, ref):
    registry.write_version({"version": vid, "created_at": datetime.now(timezone.utc).isoformat(),
                            "stages": {"train": [{"stage": ref.stage, "key": ref.key}]}})


def _swap_rows(store, ref, a, b, tmp_path):
    """Swap the vectors of tags ``a`` and ``b`` in the artifact's embeddings.parquet, in place."""
    path = Artifact(store, ref).path("embeddings.parquet")
    emb = Embeddings.load(path)
    vectors = emb.vectors.copy()
    vectors[[emb.index[a], emb.index[b]]] = vectors[[emb.index[b], emb.index[a]]]
    out = Embeddings(emb.tags, emb.counts, vectors).save(tmp_path / "swapped")
    shutil.copyfile(out / "embeddings.parquet" if out.is_dir() else out, path)


@pytest.fixture
def world(tmp_path, demo_model):
    _, _, emb = demo_model
    config = load_config(overrides={"store": {"uri": str(tmp_path / "store")}}, use_env=False)
    store = config.open_store()
    registry = Registry(store)
    good = _train_artifact(store, emb, "good")
    bad = _train_artifact(store, emb, "bad")
    _publish(registry, "v1", good)
    _publish(registry, "v2", bad)
    cat = next(t for t in ("cat", "kitten", "cats") if t in emb.index)
    _swap_rows(store, bad, "bmw", cat, tmp_path)
    return {"config": config, "registry": registry, "cat": cat, "cfg_file": _cfg(tmp_path, config)}


def _cfg(tmp_path, config):
    path = tmp_path / "tt.yaml"
    path.write_text(f"store:\n  uri: {config.store.uri}\n")
    return str(path)


def test_the_service_refuses_a_damaged_version_and_keeps_serving_the_old_one(world):
    registry = world["registry"]
    registry.promote("v1")
    with TestClient(create_app(world["config"], reload_seconds=0), raise_server_exceptions=False) as client:
        before = client.get("/topic", params={"q": "bmw", "top": 5}).json()
        assert before["version"] == "v1"
        registry.promote("v2")  # its embeddings.parquet has two rows swapped since it was written
        after = client.get("/topic", params={"q": "bmw", "top": 5})
        assert after.status_code == 200 and after.json()["version"] == "v1"
        assert after.json()["tags"] == before["tags"]
        health = client.get("/health").json()
        assert health["version"] == "v1" and health["production"] == "v2"
        assert health["refused"]["version"] == "v2"
        assert "embeddings.parquet: sha256" in health["refused"]["error"]
        assert "does not match its manifest" in health["last_error"]


def test_a_damaged_first_version_is_a_503_naming_the_file(world):
    world["registry"].promote("v2")
    with TestClient(create_app(world["config"], reload_seconds=0), raise_server_exceptions=False) as client:
        response = client.get("/topic", params={"q": "bmw"})
        assert response.status_code == 503
        assert "embeddings.parquet" in response.json()["detail"]
        assert client.get("/health").status_code == 503


def test_cli_neighbours_and_verify_name_the_damaged_file(world):
    runner = CliRunner()
    registry, cfg = world["registry"], world["cfg_file"]
    registry.promote("v1")
    assert runner.invoke(cli_app, ["verify", "-c", cfg]).exit_code == 0
    registry.promote("v2")
    done = runner.invoke(cli_app, ["neighbours", "bmw", "-c", cfg])
    assert done.exit_code != 0
    assert "does not match its manifest" in str(done.exception) + done.output
    checked = runner.invoke(cli_app, ["verify", "-c", cfg])
    assert checked.exit_code == 1
    assert "v2 train/" in checked.output and "embeddings.parquet: sha256" in checked.output
    both = runner.invoke(cli_app, ["verify", "--all", "--json", "-c", cfg])
    assert both.exit_code == 1
    import json

    rows = json.loads(both.stdout)["artifacts"]
    assert {(r["version"], bool(r["problems"])) for r in rows} == {("v1", False), ("v2", True)}
