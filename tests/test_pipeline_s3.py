"""The whole refresh against S3 (moto on loopback): raw posts read from a bucket, every
artifact, version and the production pointer written there, a second run doing no work; and
a wrong bucket or wrong credentials stopping the run with an error naming bucket and key."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from topictensor import synth
from topictensor.config import load_config
from topictensor.errors import ArtifactNotFound, StoreError
from topictensor.pipeline import run_pipeline
from topictensor.registry import Registry


def upload_corpus(tmp_path: Path, s3_client, bucket: str, **sizes) -> None:
    local_raw = tmp_path / "raw"
    synth.write(synth.generate(synth.SynthConfig(seed=11, **sizes)), local_raw)
    for path in local_raw.rglob("*"):
        if path.is_file():
            s3_client.upload_file(str(path), bucket, f"raw/{path.relative_to(local_raw).as_posix()}")


def bucket_of(s3_bucket: str) -> str:
    return s3_bucket[len("s3://"):].split("/")[0]


def s3_config(store_bucket: str, raw_bucket: str, endpoint: str):
    return load_config(overrides={
        "store": {"uri": f"s3://{store_bucket}/store", "endpoint_url": endpoint},
        "ingest": {"input_uri": f"s3://{raw_bucket}/raw"},
        "filter": {"min_bloggers": 2},
        "train": {"epochs": 2, "threads": 2},
    }, use_env=False)


def test_pipeline_reads_and_writes_s3(tmp_path, s3_server, s3_client, s3_bucket):
    bucket = bucket_of(s3_bucket)
    upload_corpus(tmp_path, s3_client, bucket, n_bloggers=200, posts_per_blogger_mean=12)

    config = s3_config(bucket, bucket, s3_server)
    report = run_pipeline(config, run_id="s3")
    assert report["promoted"]

    keys = {o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket, Prefix="store/")["Contents"]}
    assert "store/production.json" in keys
    assert f"store/versions/{report['version']}.json" in keys
    assert any(k.startswith("store/artifacts/train/") and k.endswith("/embeddings.parquet") for k in keys)
    pointer = json.loads(s3_client.get_object(Bucket=bucket, Key="store/production.json")["Body"].read())
    assert pointer["version"] == report["version"]
    assert Registry(config.open_store()).production() == report["version"]

    again = run_pipeline(config, run_id="s3 again")
    assert all(s["reused"] for s in again["stages"]) and not again["promoted"]


# --- a wrong bucket or wrong credentials stop the run at once, naming bucket and key -------------


@pytest.fixture
def raw_bucket(tmp_path, s3_client, s3_bucket) -> str:
    """A bucket holding a small raw corpus (the errors below come before any real work)."""
    bucket = bucket_of(s3_bucket)
    upload_corpus(tmp_path, s3_client, bucket, n_bloggers=30, posts_per_blogger_mean=4)
    return bucket


def test_run_with_a_missing_store_bucket_fails_naming_bucket_and_key(raw_bucket, s3_server, tmp_path):
    """Through the real entry point, ``topictensor run``: exit code 1 (a failure), one clear line."""
    missing = f"tt-missing-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "topictensor.yaml"
    config.write_text(f"store:\n  uri: s3://{missing}/store\n  endpoint_url: {s3_server}\n"
                      f"ingest:\n  input_uri: s3://{raw_bucket}/raw\n")
    env = {**os.environ, "TOPICTENSOR_CACHE_DIR": str(tmp_path / "cache")}

    done = subprocess.run([sys.executable, "-c", "from topictensor.cli import main; main()", "run", "-c", str(config)],
                          capture_output=True, text=True, env=env, timeout=300)

    assert done.returncode == 1, done.stderr
    assert f"bucket '{missing}' does not exist" in done.stderr
    assert "key 'store/artifacts/bloggers/" in done.stderr  # the first object the run needed
    assert "Traceback" not in done.stderr


def test_run_with_a_missing_raw_bucket_fails_naming_bucket_and_key(s3_server, s3_bucket):
    missing = f"tt-missing-{uuid.uuid4().hex[:8]}"

    with pytest.raises(StoreError) as err:
        run_pipeline(s3_config(bucket_of(s3_bucket), missing, s3_server), run_id="no raw bucket")

    assert not isinstance(err.value, ArtifactNotFound)  # not "no posts yet": the bucket is wrong
    assert f"bucket '{missing}' does not exist" in str(err.value) and "key 'raw/posts'" in str(err.value)


def test_run_with_wrong_credentials_fails_naming_bucket_and_key(raw_bucket, s3_server, monkeypatch, s3_auth_enforced):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG0")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")

    with pytest.raises(StoreError) as err:
        run_pipeline(s3_config(raw_bucket, raw_bucket, s3_server), run_id="wrong keys")

    message = str(err.value)
    assert f"access denied to bucket '{raw_bucket}', key 'raw/posts'" in message
    assert "check the credentials" in message
    assert "wrong-secret" not in message  # the secret never reaches a log
