"""The DAG end to end through Airflow (dag.test) with S3 as its only storage.

Raw posts are uploaded to a bucket on the test S3 server (moto: in CI its own process started by
``.ci/s3-server``), the store lives in the same bucket, and the project config points both at
local decoy directories: any task that ignored the run's S3 settings would write there.
"""

import json
import os
from pathlib import Path

import pytest

from topictensor import synth
from topictensor.artifacts import MANIFEST
from topictensor.registry import POINTER

STORE_PREFIX = "store"


@pytest.fixture(scope="module")
def dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag("topictensor_refresh")


@pytest.fixture
def bucket(s3_bucket: str) -> str:
    return s3_bucket[len("s3://"):].split("/")[0]


@pytest.fixture
def decoy_config(tmp_path: Path, monkeypatch) -> Path:
    """A project config whose store and raw prefix are local directories that must stay empty."""
    config = tmp_path / "topictensor.yaml"
    config.write_text(f"store:\n  uri: {tmp_path / 'decoy-store'}\ningest:\n  input_uri: {tmp_path / 'decoy-raw'}\n")
    monkeypatch.setenv("TOPICTENSOR_CONFIG", str(config))
    monkeypatch.setenv("TOPICTENSOR_CACHE_DIR", str(tmp_path / "s3-download-cache"))
    return tmp_path


def upload_demo_corpus(tmp_path: Path, s3_client, bucket: str) -> list[str]:
    """The small corpus test_dag_run.py uses, written locally and uploaded under raw/."""
    local = tmp_path / "raw-upload"
    synth.write(synth.generate(synth.SynthConfig(seed=5, n_bloggers=300, posts_per_blogger_mean=15)), local,
                partition_by="week")
    keys = []
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        key = f"raw/{path.relative_to(local).as_posix()}"
        s3_client.upload_file(str(path), bucket, key)
        keys.append(key)
    return keys


def conf(bucket: str, endpoint: str) -> dict:
    return {
        "input_uri": f"s3://{bucket}/raw",
        "train": {"epochs": 3, "threads": 2},
        "overrides": {"store": {"uri": f"s3://{bucket}/{STORE_PREFIX}", "endpoint_url": endpoint},
                      "filter": {"min_bloggers": 2}},
    }


def objects(s3_client, bucket: str, prefix: str) -> dict[str, str]:
    """Every key under ``prefix`` with its ETag: a rewritten object gets a new one."""
    out = {}
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.update({o["Key"]: o["ETag"] for o in page.get("Contents", [])})
    return out


def read_json(s3_client, bucket: str, key: str) -> dict:
    return json.loads(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())


def last_report(s3_client, bucket: str) -> dict:
    runs = sorted(k for k in objects(s3_client, bucket, f"{STORE_PREFIX}/runs/"))
    return read_json(s3_client, bucket, runs[-1])


@pytest.mark.airflow
def test_dag_reads_raw_from_s3_writes_every_artifact_there_then_reruns_as_a_no_op(
        dag, s3_server, s3_client, bucket, decoy_config):
    raw_keys = upload_demo_corpus(decoy_config, s3_client, bucket)
    assert any(k.startswith("raw/posts/") for k in raw_keys) and any(k.startswith("raw/bloggers/") for k in raw_keys)

    first = dag.test(run_conf=conf(bucket, s3_server))

    assert first.state == "success"
    report = last_report(s3_client, bucket)
    assert report["promoted"] and not any(s["reused"] for s in report["stages"])
    assert len([s for s in report["stages"] if s["stage"] == "filter"]) >= 3  # one mapped task per language
    stored = objects(s3_client, bucket, f"{STORE_PREFIX}/")
    # Every artifact of the run is complete in the bucket: its manifest and each file it lists.
    for stage in report["stages"]:
        prefix = f"{STORE_PREFIX}/artifacts/{stage['stage']}/{stage['key']}"
        manifest = read_json(s3_client, bucket, f"{prefix}/{MANIFEST}")
        assert manifest["key"] == stage["key"]
        assert manifest["files"], f"{prefix} lists no files"
        for listed in manifest["files"]:
            assert f"{prefix}/{listed['name']}" in stored, f"{prefix}/{listed['name']} missing from the bucket"
    stages_in_bucket = {k.split("/")[2] for k in stored if k.startswith(f"{STORE_PREFIX}/artifacts/")}
    assert stages_in_bucket == {"bloggers", "ingest", "normalize", "window", "prepare", "cooccur", "filter", "reweight",
                                "split", "train", "evaluate", "blogger_vectors", "index", "clusters"}
    # The version and the production pointer are in the bucket too, and the pointer names the new version.
    version = read_json(s3_client, bucket, f"{STORE_PREFIX}/versions/{report['version']}.json")
    assert {name for name in version["stages"]} >= stages_in_bucket
    assert read_json(s3_client, bucket, f"{STORE_PREFIX}/{POINTER}")["version"] == report["version"]
    # Nothing went to the locally configured store or raw prefix.
    assert not (decoy_config / "decoy-store").exists()
    assert not (decoy_config / "decoy-raw").exists()

    second = dag.test(run_conf=conf(bucket, s3_server))

    assert second.state == "success"
    again = last_report(s3_client, bucket)
    assert again["run_id"] != report["run_id"]
    assert all(s["reused"] for s in again["stages"]) and again["version"] == report["version"]
    assert not again["promoted"]
    after = objects(s3_client, bucket, f"{STORE_PREFIX}/")
    new_keys = sorted(set(after) - set(stored))
    assert len(new_keys) == 1 and new_keys[0].startswith(f"{STORE_PREFIX}/runs/")  # only the run report
    assert {k: after[k] for k in stored} == stored  # no object rewritten, the pointer included
    assert not (decoy_config / "decoy-store").exists()
