"""A stage reuses an artifact only when its files match the manifest (issue 13, item 2): a file
whose bytes changed (same size: flipped bits), a file cut short, or a damaged manifest make the
artifact missing, so the stage computes it again; reading a file checks its size always."""

from __future__ import annotations

import json
import logging

import pytest

from topictensor.artifacts import MANIFEST, Artifact, StageResult, run_stage
from topictensor.errors import ArtifactCorrupt

CONTENT = bytes(range(256)) * 64


def _run(store, calls):
    def compute(ws):
        calls.append(1)
        ws.path("train.parquet").write_bytes(CONTENT)
        ws.path("meta/info.json").write_text('{"rows": 3}')
        return StageResult(counts={"rows": 3})
    return run_stage(store, "split", code="c1", params={"p": 1}, inputs={}, compute=compute)


def _flip_bits(store, key):
    data = bytearray(store.read_bytes(key))
    data[100] ^= 0xFF
    data[101] ^= 0x0F
    store.write_bytes(key, bytes(data))


def test_flipped_bits_in_a_reused_artifact_make_the_stage_compute_it_again(store, caplog):
    calls = []
    first = _run(store, calls)
    assert _run(store, calls).reused and len(calls) == 1  # an intact artifact is reused

    _flip_bits(store, f"{first.prefix}/train.parquet")
    with caplog.at_level(logging.WARNING, logger="topictensor.artifacts"):
        again = _run(store, calls)
    assert not again.reused and len(calls) == 2 and again.key == first.key
    assert "does not match its manifest" in caplog.text and "train.parquet: sha256" in caplog.text
    assert store.read_bytes(f"{first.prefix}/train.parquet") == CONTENT
    assert Artifact(store, again).verify().problems() == []
    assert _run(store, calls).reused and len(calls) == 2


def test_a_file_cut_short_is_refused_on_read_and_recomputed_on_reuse(store):
    calls = []
    ref = _run(store, calls)
    store.write_bytes(f"{ref.prefix}/train.parquet", CONTENT[:1000])
    with pytest.raises(ArtifactCorrupt, match=r"train\.parquet has 1000 bytes, the manifest says 16384"):
        Artifact(store, ref).path("train.parquet")
    assert not _run(store, calls).reused and len(calls) == 2
    assert Artifact(store, ref).path("train.parquet").read_bytes() == CONTENT


def test_a_missing_file_or_a_damaged_manifest_is_a_missing_artifact(store):
    calls = []
    ref = _run(store, calls)
    store.delete_prefix(f"{ref.prefix}/meta/info.json")
    assert Artifact(store, ref).problems() == ["meta/info.json: missing"]
    assert not _run(store, calls).reused and len(calls) == 2
    store.write_text(f"{ref.prefix}/{MANIFEST}", '{"files": ')
    with pytest.raises(ArtifactCorrupt, match="is not a readable manifest"):
        Artifact(store, ref)
    assert not _run(store, calls).reused and len(calls) == 3
    assert json.loads(store.read_text(f"{ref.prefix}/{MANIFEST}"))["counts"] == {"rows": 3}


def test_a_damaged_local_copy_of_an_s3_object_is_downloaded_again_not_recomputed(tmp_path, s3_server, s3_bucket):
    """On S3 the files are read through a download cache: when only the cached copy is damaged,
    the object itself is fine, so the artifact is reused after a fresh download."""
    from topictensor.store import open_store

    store = open_store(s3_bucket, endpoint_url=s3_server, cache_dir=str(tmp_path / "cache"))
    calls = []
    ref = _run(store, calls)
    cached = store.local_path(f"{ref.prefix}/train.parquet")
    data = bytearray(cached.read_bytes())
    data[5] ^= 0xFF
    cached.write_bytes(bytes(data))  # bit rot on this disk, not in the bucket
    assert _run(store, calls).reused and len(calls) == 1
    assert Artifact(store, ref).verify().path("train.parquet").read_bytes() == CONTENT
