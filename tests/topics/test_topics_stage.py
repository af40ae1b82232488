"""The clusters stage and the `topictensor topics` commands on two planted model versions."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from topictensor.artifacts import Artifact, StageResult, run_stage
from topictensor.cli import topics as topics_cli
from topictensor.config import load_config
from topictensor.embeddings import Embeddings
from topictensor.registry import Registry
from topictensor.stages.clusters import clusters, production_clusters
from topictensor.topics.params import TopicsConfig

SECTION = TopicsConfig(reducer="pca", min_cluster_size=5)


def fake_model(store, emb: Embeddings, name: str):
    """A train artifact holding ``emb`` (what the train stage would have written)."""
    return run_stage(store, "train", code="test", params={"name": name}, inputs={},
                     compute=lambda ws: (emb.save(ws.root), StageResult())[1])


def publish(registry: Registry, vid: str, model_ref, clusters_ref) -> None:
    registry.write_version({"version": vid, "created_at": vid, "metrics": {}, "stages": {
        "train": [{"stage": "train", "key": model_ref.key}],
        "clusters": [{"stage": "clusters", "key": clusters_ref.key}]}})
    registry.promote(vid, by="test")


@pytest.fixture
def two_versions(tmp_path, planted_embeddings):
    """Version v1 (4 planted topics) in production; model 2 = the same topics re-drawn with another
    seed (a retrained model: other vectors, same themes) plus one new topic."""
    config = load_config(overrides={"store": {"uri": str(tmp_path / "store")}}, use_env=False)
    store = config.open_store()
    registry = Registry(store)
    emb1, _ = planted_embeddings(n_topics=4, per_topic=12, dim=16, seed=1)
    model1 = fake_model(store, emb1, "m1")
    first = clusters(model1, config, SECTION, previous=production_clusters(store))
    publish(registry, "v1", model1, first)
    emb2, _ = planted_embeddings(n_topics=5, per_topic=12, dim=16, seed=2)
    model2 = fake_model(store, emb2, "m2")
    return config, store, registry, first, model2


def test_stage_writes_the_artifact_and_carries_ids_to_the_next_version(two_versions):
    config, store, registry, first, model2 = two_versions
    art1 = Artifact(store, first)
    assert set(art1.files) >= {"topics.parquet", "members.parquet", "changes.json", "changes.parquet",
                               "tree.json", "report.html"}
    assert first.counts["topics"] == 4 and first.counts["topics_born"] == 4
    ids1 = art1.read_table("members.parquet").to_pandas().set_index("tag")["topic_id"]

    previous = production_clusters(store)
    assert previous.ref.key == first.key
    second = clusters(model2, config, SECTION, previous=previous)
    art2 = Artifact(store, second)
    assert art2.manifest["inputs"] == {"model": f"train/{model2.key}", "previous": f"clusters/{first.key}"}
    ids2 = art2.read_table("members.parquet").to_pandas().set_index("tag")["topic_id"]
    common = ids1.index.intersection(ids2.index)
    assert (ids1[common] == ids2[common]).all()  # every planted topic kept its id
    new_topic = ids2[[t for t in ids2.index if t.startswith("t4_")]]
    assert new_topic.nunique() == 1 and new_topic.iloc[0] == 4  # born, with the next unused id
    assert second.counts["topics_persisted"] == 4 and second.counts["topics_born"] == 1
    assert second.metrics["id_kept_share"] == 1.0
    changes = art2.read_json("changes.json")
    assert changes["next_topic_id"] == 5
    report = art2.path("report.html").read_text()
    assert "<svg" in report and "born" in report and "http" not in report.replace("http://www.w3.org/2000/svg", "")


def test_stage_is_reused_and_a_rerun_after_publishing_does_not_chain_on_itself(two_versions):
    config, store, registry, first, model2 = two_versions
    second = clusters(model2, config, SECTION, previous=production_clusters(store))
    again = clusters(model2, config, SECTION, previous=production_clusters(store))
    assert again.reused and again.key == second.key
    publish(registry, "v2", model2, second)
    # production now holds `second`, built from model2 itself: the rerun keeps second's baseline
    rerun = clusters(model2, config, SECTION, previous=production_clusters(store))
    assert rerun.key == second.key and rerun.reused


def test_stage_takes_its_section_from_the_config_when_wired(two_versions):
    config, store, registry, first, model2 = two_versions
    # as if the lead had added `topics: TopicsConfig` to PipelineConfig (bypasses extra="forbid" until then)
    object.__setattr__(config, "clusters", TopicsConfig(reducer="pca", min_cluster_size=30))
    ref = clusters(model2, config, previous=None)  # 12 tags a topic < 30: no topic, a clear reason
    assert ref.counts["topics"] == 0
    assert "no cluster" in Artifact(store, ref).manifest["extra"]["reason"]


def test_cli_build_list_show_diff(two_versions, tmp_path, planted_embeddings):
    config, store, registry, first, model2 = two_versions
    publish(registry, "v2", model2, clusters(model2, config, SECTION, previous=production_clusters(store)))
    cfg_file = tmp_path / "config.yaml"
    cfg_file.write_text(json.dumps({"store": {"uri": str(tmp_path / "store")}}))
    app = typer.Typer()
    topics_cli.register(app)
    app.command("noop")(lambda: None)  # a second command keeps `topics` a sub-command
    runner = CliRunner()

    listed = runner.invoke(app, ["topics", "list", "--config", str(cfg_file), "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert sorted(r["id"] for r in rows) == [0, 1, 2, 3, 4] and all(r["label"] for r in rows)

    shown = runner.invoke(app, ["topics", "show", "4", "--config", str(cfg_file)])
    assert shown.exit_code == 0 and "t4_" in shown.output
    missing = runner.invoke(app, ["topics", "show", "99", "--config", str(cfg_file)])
    assert missing.exit_code == 3  # not found

    diff = runner.invoke(app, ["topics", "diff", "v1", "v2", "--config", str(cfg_file)])
    assert diff.exit_code == 0
    lines = [line.split() for line in diff.output.splitlines()[2:]]
    assert {(w[0], w[1]) for w in lines} == {("kept", "0"), ("kept", "1"), ("kept", "2"), ("kept", "3"),
                                            ("born", "4")}

    emb, _ = planted_embeddings(n_topics=3, per_topic=10, dim=8, seed=4)
    model_dir, out_dir = tmp_path / "model", tmp_path / "topics_out"
    emb.save(model_dir)
    built = runner.invoke(app, ["topics", "build", "--model", str(model_dir), "--out", str(out_dir),
                                "-p", "reducer=pca", "-p", "min_cluster_size=5"])
    assert built.exit_code == 0, built.output
    assert "3 topics" in built.output and (out_dir / "report.html").is_file()
    rebuilt = runner.invoke(app, ["topics", "build", "--model", str(model_dir), "--out", str(tmp_path / "again"),
                                  "--previous", str(out_dir), "-p", "reducer=pca", "-p", "min_cluster_size=5"])
    assert rebuilt.exit_code == 0 and "ids kept 3" in rebuilt.output


def test_after_gate_uses_the_version_the_gate_compared_with(two_versions):
    config, store, registry, first, model2 = two_versions
    from topictensor.stages.clusters import clusters_after_gate

    object.__setattr__(config, "clusters", SECTION)
    carried = clusters_after_gate(model2, {"production_version": "v1"}, config)
    assert Artifact(store, carried).manifest["inputs"]["previous"] == f"clusters/{first.key}"
    fresh = clusters_after_gate(model2, {"production_version": None}, config)
    assert Artifact(store, fresh).manifest["inputs"]["previous"] is None
    assert fresh.counts["topics_born"] == 5
