"""The whole refresh against S3 (moto on loopback): raw posts read from a bucket, every
artifact, version and the production pointer written there, a second run doing no work."""

import json

from topictensor import synth
from topictensor.config import load_config
from topictensor.pipeline import run_pipeline
from topictensor.registry import Registry


def test_pipeline_reads_and_writes_s3(tmp_path, s3_server, s3_client, s3_bucket):
    local_raw = tmp_path / "raw"
    synth.write(synth.generate(synth.SynthConfig(seed=11, n_bloggers=200, posts_per_blogger_mean=12)), local_raw)
    bucket = s3_bucket[len("s3://"):].split("/")[0]
    for path in local_raw.rglob("*"):
        if path.is_file():
            s3_client.upload_file(str(path), bucket, f"raw/{path.relative_to(local_raw).as_posix()}")

    config = load_config(overrides={
        "store": {"uri": f"s3://{bucket}/store", "endpoint_url": s3_server},
        "ingest": {"input_uri": f"s3://{bucket}/raw"},
        "filter": {"min_bloggers": 2},
        "train": {"epochs": 2, "threads": 2},
    }, use_env=False)
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
