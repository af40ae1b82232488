"""The DAG run end to end through Airflow itself (dag.test, SQLite, in-process)."""

import json
import os

import pytest

from topictensor import synth
from topictensor.registry import Registry
from topictensor.store import LocalStore


def parse_dags():
    """As Airflow's dag-processor parses: the bundle's folder on sys.path (dags/pod_overrides.py), so
    this module passes alone too, not only after test_dag_integrity put it there."""
    from pathlib import Path

    from airflow.dag_processing.dagbag import BundleDagBag

    folder = os.environ["AIRFLOW__CORE__DAGS_FOLDER"]
    return BundleDagBag(dag_folder=folder, bundle_path=Path(folder), bundle_name="dags-folder")


@pytest.fixture(scope="module")
def dag(airflow_db):
    return parse_dags().get_dag("topictensor_refresh")


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("dagrun")
    synth.write(synth.generate(synth.SynthConfig(seed=5, n_bloggers=300, posts_per_blogger_mean=15)), root / "raw",
                partition_by="week")
    return root / "raw", root / "store"


def conf(paths, **extra_overrides):
    raw, store = paths
    return {
        "input_uri": str(raw),
        "train": {"epochs": 3, "threads": 2},
        "overrides": {"store": {"uri": str(store)}, "filter": {"min_bloggers": 2}, **extra_overrides},
    }


def model_events(store_dir):
    """The Asset events of the store's production pointer (as publish emits them)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    uri = (store_dir / "production.json").resolve().as_uri()
    with create_session() as session:
        rows = (session.query(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                .filter(AssetModel.uri == uri).order_by(AssetEvent.id).all())
        return [(e.source_dag_id, e.source_task_id, dict(e.extra or {})) for e in rows]


def last_report(store_dir):
    store = LocalStore(store_dir)
    return json.loads(store.read_text(store.list("runs")[-1]))


@pytest.mark.airflow
def test_dag_runs_end_to_end_then_reruns_as_a_no_op(dag, paths, capfd):
    _, store_dir = paths
    first = dag.test(run_conf=conf(paths))
    assert first.state == "success"
    log = "".join(capfd.readouterr())
    assert "DagRun Finished" in log  # the run's log was captured
    assert "XCom not found" not in log  # reading mapped outputs must not probe past their end
    assert not [line for line in log.splitlines() if "[error" in line], "a successful run logged errors"
    report = last_report(store_dir)
    assert report["promoted"] and not any(s["reused"] for s in report["stages"])
    assert Registry(LocalStore(store_dir)).production() == report["version"]
    events = model_events(store_dir)  # one Asset event for the one promotion, from publish, naming the model
    assert [(dag_id, task_id) for dag_id, task_id, _ in events] == [("topictensor_refresh", "publish")]
    assert events[0][2]["version"] == report["version"] and events[0][2]["quality"] == report["quality"]
    languages = [s for s in report["stages"] if s["stage"] == "filter"]
    assert len(languages) >= 3  # one mapped filter task per language
    partitions = [s["label"] for s in report["stages"] if s["stage"] == "ingest"]
    assert len(partitions) == 8 == len(report["window"]["partitions"])  # one mapped ingest task per week

    second = dag.test(run_conf=conf(paths))
    assert second.state == "success"
    again = last_report(store_dir)
    assert all(s["reused"] for s in again["stages"]) and again["version"] == report["version"]
    assert not again["promoted"]
    assert all(s["seconds"] == 0 for s in again["stages"])  # reused: no work
    assert len(model_events(store_dir)) == 1  # nothing promoted, no second event


@pytest.mark.airflow
def test_a_manual_gate_registers_a_candidate_and_emits_no_asset_event(dag, paths):
    _, store_dir = paths
    registry = Registry(LocalStore(store_dir))
    before, events = registry.production(), len(model_events(store_dir))
    manual = conf(paths, gate={"promote": "manual", "tolerance": 1.0})
    manual["train"]["epochs"] = 4  # another model than production's
    run = dag.test(run_conf=manual)
    assert run.state == "success"
    report = last_report(store_dir)
    assert report["status"] == "candidate" and not report["promoted"]
    assert registry.production() == before and registry.statuses()[report["version"]] == "candidate"
    assert report["comparison"]["production_version"] == before
    assert len(model_events(store_dir)) == events  # nothing promoted: no event


@pytest.mark.airflow
def test_a_failed_gate_fails_the_run_and_leaves_production_alone(dag, paths):
    _, store_dir = paths
    registry = Registry(LocalStore(store_dir))
    before, n_versions = registry.production(), len(registry.list_versions())
    run = dag.test(run_conf=conf(paths, gate={"min_quality": 0.99}))
    assert run.state == "failed"
    assert registry.production() == before
    assert len(registry.list_versions()) == n_versions


@pytest.mark.airflow
def test_the_as_of_param_moves_the_window_and_prepares_only_new_weeks(dag, paths):
    """A run for an earlier week (a backfill through the as_of param) trains on that week's window;
    the partitions it needs were prepared by the first run and are reused."""
    _, store_dir = paths
    weeks = sorted(p.name[3:] for p in (paths[0] / "posts").glob("dt=*"))
    run = dag.test(run_conf=conf(paths, ingest={"window_days": 14}) | {"as_of": weeks[-2]})
    assert run.state == "success"
    report = last_report(store_dir)
    assert report["window"]["partitions"] == weeks[-4:-2]
    assert all(s["reused"] for s in report["stages"] if s["stage"] in ("ingest", "normalize"))
    assert not [s for s in report["stages"] if s["stage"] == "window"][0]["reused"]


@pytest.mark.airflow
def test_a_failed_task_notifies_the_configured_webhook(paths, monkeypatch):
    """Failure notifications (plugins/topictensor_notifications.py) are Airflow notifiers: off unless
    TOPICTENSOR_FAILURE_WEBHOOK is set; then a failed gate posts its reason."""
    import http.server
    import threading

    def parse():  # a fresh import of the DAG file, in this environment
        return parse_dags().get_dag("topictensor_refresh")

    received = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        quiet = parse()
        assert "on_failure_callback" not in quiet.default_args  # off by default
        monkeypatch.setenv("TOPICTENSOR_FAILURE_WEBHOOK", f"http://127.0.0.1:{server.server_port}/hook")
        dag = parse()
        run = dag.test(run_conf=conf(paths, gate={"min_quality": 0.99}))
        assert run.state == "failed"
    finally:
        server.shutdown()
    assert len(received) == 1, received  # the gate, once: it does not retry
    text = received[0]["text"]
    assert "task gate of topictensor_refresh failed" in text and "below the floor 0.9900" in text


@pytest.mark.airflow
def test_the_downstream_dag_is_scheduled_on_the_model_asset_and_exports_the_report(paths, monkeypatch, tmp_path):
    from airflow.sdk import AssetAlias

    _, store_dir = paths
    report_dag = parse_dags().get_dag("topictensor_model_report")
    assert list(report_dag.timetable.asset_condition.objects) == [AssetAlias("topictensor-model")]
    config = tmp_path / "topictensor.yaml"
    config.write_text(f"store:\n  uri: {store_dir}\n")
    monkeypatch.setenv("TOPICTENSOR_CONFIG", str(config))
    assert report_dag.test().state == "success"  # started by hand: the production model's report
    version = Registry(LocalStore(store_dir)).production()
    text = LocalStore(store_dir).read_text(f"reports/{version}.txt")
    assert f"model version {version}" in text and "comparison" in text
