"""The local store under a shared deployment and a broken raw prefix (issue 13, item 7)."""

from __future__ import annotations

import os
import stat

import pytest

from topictensor.artifacts import Artifact, StageResult, run_stage
from topictensor.config import load_config
from topictensor.errors import StoreError
from topictensor.partitions import plan_window
from topictensor.stages.ingest import ingest_partition
from topictensor.store import LocalStore, open_store


@pytest.fixture
def umask():
    """Set the process umask for one test, then restore it."""
    saved = os.umask(0o022)
    os.umask(saved)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(saved)


@pytest.mark.parametrize("mask, mode", [(0o002, 0o664), (0o022, 0o644), (0o077, 0o600)])
def test_local_store_files_get_the_umask_permissions(tmp_path, umask, mask, mode):
    umask(mask)
    store = LocalStore(tmp_path / "store")
    store.write_text("a/written.json", "{}")
    source = tmp_path / "source.bin"
    source.write_bytes(b"data")
    store.upload_file("a/uploaded.bin", source)
    ref = run_stage(store, "perm", code="c", params={}, inputs={},
                    compute=lambda ws: (ws.path("out.bin").write_bytes(b"x"), StageResult())[1])
    art = Artifact(store, ref)
    for path in (tmp_path / "store" / "a" / "written.json", tmp_path / "store" / "a" / "uploaded.bin",
                 art.path("out.bin"), tmp_path / "store" / ref.prefix / "_MANIFEST.json"):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path


@pytest.mark.parametrize("target", ["/nonexistent/elsewhere/part.parquet", "missing.parquet"])
def test_a_dangling_symlink_under_the_raw_prefix_is_named_as_one(tmp_path, target):
    raw = tmp_path / "raw"
    (raw / "posts").mkdir(parents=True)
    (raw / "bloggers").mkdir()
    (raw / "bloggers" / "b.jsonl").write_text('{"blogger_id": "b1", "followers": 1}\n')
    (raw / "posts" / "good.jsonl").write_text(
        '{"post_id": "1", "blogger_id": "b1", "created_at": "2024-01-01", "tags": ["a"], "likes": 1}\n')
    os.symlink(target, raw / "posts" / "part.parquet")
    config = load_config(overrides={"store": {"uri": str(tmp_path / "store")}, "ingest": {"input_uri": str(raw)}},
                         use_env=False)
    with pytest.raises(StoreError) as caught:
        ingest_partition(plan_window(open_store(str(raw)), "all").posts[0], config)
    message = str(caught.value)
    assert "posts/part.parquet" in message and "is a dangling symlink" in message and target in message
    assert "escapes the store root" not in message


def test_a_symlink_out_of_the_root_to_an_existing_file_still_escapes(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    (tmp_path / "store").mkdir()
    os.symlink(outside, tmp_path / "store" / "link.txt")
    with pytest.raises(StoreError, match="escapes the store root"):
        LocalStore(tmp_path / "store").read_bytes("link.txt")
