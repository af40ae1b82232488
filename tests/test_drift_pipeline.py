"""Drift through the real pipeline on a weekly corpus: the second week's run measures ranking churn
of the probe themes' top bloggers and topic changes against the first week's model, reports them,
and a configured threshold on them fails the run (the drift stage) with its reason, leaving
production alone."""

import json

import pytest

from topictensor import synth
from topictensor.config import load_config
from topictensor.errors import GateFailed
from topictensor.pipeline import run_pipeline
from topictensor.registry import Registry


@pytest.fixture(scope="module")
def weeks(tmp_path_factory):
    root = tmp_path_factory.mktemp("drift")
    synth.write(synth.generate(synth.SynthConfig(seed=5, n_bloggers=300, posts_per_blogger_mean=15)), root / "raw",
                partition_by="week")
    days = sorted(p.name[3:] for p in (root / "raw" / "posts").glob("dt=*"))
    overrides = {"store": {"uri": str(root / "store")}, "ingest": {"input_uri": str(root / "raw")},
                 "filter": {"min_bloggers": 2}, "train": {"epochs": 3, "threads": 1, "seed": 1},
                 "topics": {"reducer": "pca", "min_cluster_size": 5}}
    config = load_config(overrides=overrides, use_env=False)
    first = run_pipeline(config, run_id="week1", as_of=days[-1])
    second = run_pipeline(config, run_id="week2")
    return config, first, second


def test_the_second_week_reports_ranking_churn_and_topic_changes(weeks):
    config, first, second = weeks
    assert first["comparison"] is None and first["drift"] is None  # nothing to compare the first model with
    assert second["promoted"] and second["comparison"]["production_version"] == first["version"]
    drift = second["drift"]
    assert 0.0 <= drift["ranking_churn"] <= 1.0
    probes = drift["probes"]
    # default: the labels of the production's (week 1's) largest unflagged topics
    topics = Registry(config.open_store()).artifact(first["version"], "clusters").read_table("topics.parquet")
    labels = topics.to_pandas()
    labels = labels[[not list(f) for f in labels["flags"]]].sort_values(["size", "label"], ascending=[False, True])
    labels = labels["label"].tolist()
    assert [p["theme"] for p in probes] == labels[:config.drift.probe_topics]
    assert all(p["top"] == config.drift.ranking_top for p in probes)
    assert drift["topics_changed_share"] is not None
    assert {"topics_born", "topics_died", "topics_split", "topics_merged"} <= set(drift)
    manifest = Registry(config.open_store()).get_version(second["version"])
    assert manifest["drift"]["ranking_churn"] == drift["ranking_churn"]  # the version carries it too


def test_a_ranking_churn_threshold_breach_fails_the_run_with_its_reason(weeks):
    config, first, second = weeks
    churn = second["drift"]["ranking_churn"]
    assert churn > 0.0  # a warm-started week still moves some top bloggers
    registry = Registry(config.open_store())
    registry.rollback()  # production: week 1 again, so week 2 is a candidate against it once more
    strict = config.model_copy(update={"drift": config.drift.model_copy(update={"max_ranking_churn": churn / 2})})
    with pytest.raises(GateFailed, match=r"drift: ranking churn of the probe themes' top bloggers is "
                                         r"0\.\d{4}, above the threshold drift.max_ranking_churn"):
        run_pipeline(strict, run_id="week2-strict")
    assert registry.production() == first["version"]
    store = config.open_store()
    rejected = json.loads(store.read_text(store.list("runs")[-1]))
    assert rejected["status"] == "rejected" and rejected["rejected_by"] == "drift"
    assert rejected["drift"]["ranking_churn"] == pytest.approx(churn)
