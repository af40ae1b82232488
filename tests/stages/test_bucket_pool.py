"""The window and reweight stages' blogger buckets in a pool of processes (``ingest.bucket_workers``):
the same artifacts, byte for byte and under the same keys, as one process; a bucket that fails in a
worker names itself and leaves no manifest."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from topictensor import synth
from topictensor.artifacts import MANIFEST, Artifact
from topictensor.config import load_config
from topictensor.pools import BucketFailed, bucket_workers

sys.path.insert(0, str(Path(__file__).resolve().parent))
from graph_prefix import run_until  # noqa: E402

TIMING = {"seconds", "created_at", "host"}


@pytest.fixture(scope="module")
def weekly_corpus(tmp_path_factory):
    """Weekly partitions, posts of the oldest redelivered in the newest (the window subtracts the
    older copies' pairs bucket by bucket). Every blogger states its language: lingua's detected
    confidences differ in the last bit from run to run (bloggers.parquet's lang_confidence, computed
    before the buckets), which would hide what this compares."""
    out = tmp_path_factory.mktemp("pool") / "raw"
    synth.write(synth.generate(synth.SynthConfig(seed=5, n_bloggers=160, posts_per_blogger_mean=10,
                                                 share_missing_lang=0.0)), out,
                partition_by="week")
    parts = sorted((out / "posts").glob("dt=*"))
    source = next(parts[0].glob("part-*.parquet"))
    pq.write_table(pq.read_table(source).slice(0, 4), parts[-1] / "part-again.parquet")
    return out


def config_for(root: Path, raw: Path, workers: int):
    return load_config(overrides={"store": {"uri": str(root / "store")},
                                  "ingest": {"input_uri": str(raw), "bucket_workers": workers},
                                  "filter": {"min_bloggers": 2},
                                  "train": {"epochs": 1, "dim": 16, "threads": 2, "seed": 1}}, use_env=False)


def manifest_without_timing(art: Artifact) -> dict:
    return {k: v for k, v in art.manifest.items() if k not in TIMING}


def test_bucket_workers_are_the_request_or_one_per_core_never_more_than_the_buckets():
    assert bucket_workers(1, 16) == 1
    assert bucket_workers(3, 16) == 3
    assert bucket_workers(40, 16) == 16
    assert bucket_workers(0, 16) == min(os.cpu_count() or 1, 16)
    assert bucket_workers(0, 1) == 1


def test_window_and_reweight_with_two_bucket_workers_equal_one_byte_for_byte(tmp_path, weekly_corpus):
    one_config, two_config = config_for(tmp_path / "one", weekly_corpus, 1), config_for(tmp_path / "two",
                                                                                         weekly_corpus, 2)
    one, two = run_until(one_config, "reweight"), run_until(two_config, "reweight")
    assert one["window"]["counts"]["posts_duplicate_across_partitions"] == 4  # the subtraction is exercised
    assert one["reweight"]["counts"]["pairs"] > 0
    for stage in ("window", "reweight"):
        assert two[stage]["key"] == one[stage]["key"]  # the worker count is not part of the key
        assert not two[stage]["reused"]  # computed in the pool, not found in the store
        a, b = Artifact(one_config.open_store(), one[stage]), Artifact(two_config.open_store(), two[stage])
        assert manifest_without_timing(b) == manifest_without_timing(a)
        for name in sorted(a.files):
            assert b.path(name).read_bytes() == a.path(name).read_bytes(), f"{stage}: {name} differs"


def garble(path: Path) -> None:
    """Same size (the manifest's size check passes), not a Parquet file: the bucket's reader fails."""
    path.write_bytes(b"X" * path.stat().st_size)


def manifests(config, stage: str) -> list[Path]:
    return sorted((Path(config.store.uri) / "artifacts" / stage).glob(f"*/{MANIFEST}"))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_bucket_names_the_bucket_and_leaves_no_manifest(tmp_path, weekly_corpus, workers):
    """The stage functions are called on the damaged inputs directly (a rerun through the graph would
    find the damage by the inputs' sha256 and recompute them first)."""
    from topictensor.stages.reweight import reweight
    from topictensor.stages.window import build_window

    config = config_for(tmp_path, weekly_corpus, workers)
    results = run_until(config, "normalize")
    store = config.open_store()
    damaged = Artifact(store, results["normalize"][-1]).path("summary/pairs/bucket=05.parquet")
    kept = damaged.read_bytes()
    garble(damaged)
    with pytest.raises(BucketFailed, match=r"window: pair bucket 5 \(summary/pairs/bucket=05\.parquet"):
        build_window(results["bloggers"], results["normalize"], config)
    assert manifests(config, "window") == []
    assert not list((Path(config.store.uri) / "artifacts" / "window").rglob("*.parquet"))  # nothing half-written either

    damaged.write_bytes(kept)
    results = run_until(config, "filter")  # the repaired partition: the window completes
    assert len(manifests(config, "window")) == 1
    garble(Artifact(store, results["window"]).path("habit/bucket=09.parquet"))
    with pytest.raises(BucketFailed, match=r"reweight: blogger bucket 9 \(habit/bucket=09\.parquet of the window\)"):
        reweight(results["filter"], results["window"], config)
    assert manifests(config, "reweight") == []
