"""Leftovers of a kill -9 (issue 13, item 6): scratch folders under $TMPDIR and the local store's
hidden temp files. The next attempt of a stage removes its own; the stage runner removes stale
scratch of any stage whose process is gone; a live process's scratch is never touched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from topictensor.artifacts import StageResult, run_stage
from topictensor.scratch import clean_scratch, scratch_dir
from topictensor.owner import owner_tag
from topictensor.store import LocalStore

DAY = 24 * 3600


@pytest.fixture
def tmpdir_env(tmp_path, monkeypatch):
    """A private $TMPDIR for this process and its children."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.delenv("TOPICTENSOR_SCRATCH_MAX_AGE_HOURS", raising=False)
    return tmp


def _killed_stage(store_root: Path, how: str) -> subprocess.CompletedProcess:
    """Run the stage ``leftover`` in a child that kill -9s itself mid-stage (``how``)."""
    script = textwrap.dedent(f"""
        import os, signal
        from topictensor.artifacts import StageResult, run_stage
        from topictensor.store import LocalStore

        def die():
            os.kill(os.getpid(), signal.SIGKILL)

        def compute(ws):
            ws.path("part.bin").write_bytes(b"x" * 100_000)
            if {how!r} == "compute":
                die()
            return StageResult(counts={{"rows": 1}})

        if {how!r} == "manifest":  # killed after writing the manifest's temp file, before renaming it
            rename = os.replace
            os.replace = lambda src, dst: die() if str(dst).endswith("_MANIFEST.json") else rename(src, dst)
        run_stage(LocalStore({str(store_root)!r}), "leftover", code="c1", params={{"p": 1}}, inputs={{}},
                  compute=compute)
    """)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)


def _compute(ws):
    ws.path("part.bin").write_bytes(b"y" * 10)
    return StageResult(counts={"rows": 1})


def _hidden_temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*.tmp") if ".locks" not in p.parts]


def test_the_next_attempt_removes_the_scratch_and_temp_files_of_a_killed_one(tmp_path, tmpdir_env):
    store_root = tmp_path / "store"
    done = _killed_stage(store_root, "compute")
    assert done.returncode == -signal.SIGKILL, done.stderr
    left = list(tmpdir_env.glob("topictensor-leftover-*"))
    assert len(left) == 1 and (left[0] / "part.bin").is_file()  # the killed attempt's scratch stays

    done = _killed_stage(store_root, "manifest")  # the next attempt, killed writing its manifest
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert list(tmpdir_env.glob("topictensor-leftover-*")) == []  # it removed the first one's scratch
    assert len(_hidden_temp_files(store_root)) == 1  # and left a half-written manifest temp file

    # A live process's scratch of the same stage must survive the cleanup.
    live = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time
        from topictensor.scratch import scratch_dir
        print(scratch_dir("leftover"), flush=True)
        time.sleep(120)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        live_dir = Path(live.stdout.readline().strip())
        ref = run_stage(LocalStore(store_root), "leftover", code="c1", params={"p": 1}, inputs={}, compute=_compute)
        assert not ref.reused
        assert [p for p in tmpdir_env.glob("topictensor-leftover-*")] == [live_dir]
        assert _hidden_temp_files(store_root) == []
        assert live_dir.is_dir()
    finally:
        live.kill()
        live.wait()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _scratch(tmp: Path, name: str, age_seconds: float) -> Path:
    path = tmp / name
    (path / "sub").mkdir(parents=True)
    (path / "sub" / "data.bin").write_bytes(b"z" * 1000)
    stamp = time.time() - age_seconds
    for p in (path / "sub" / "data.bin", path / "sub", path):
        os.utime(p, (stamp, stamp))
    return path


def test_the_stage_runner_removes_stale_scratch_of_gone_processes_only(tmp_path, tmpdir_env, monkeypatch):
    host = owner_tag().split("_")[1]
    dead = f"{_dead_pid()}_{host}"
    mine = owner_tag()
    stale_dead = _scratch(tmpdir_env, f"topictensor-train-{dead}-abcd1234", 2 * DAY)
    young_dead = _scratch(tmpdir_env, f"topictensor-filter-{dead}-abcd1234", 2 * 3600)
    stale_legacy = _scratch(tmpdir_env, "topictensor-normalize-k2j3h4g5", 2 * DAY)  # made before owner tags
    stale_alive = _scratch(tmpdir_env, f"topictensor-index-{mine}-abcd1234", 2 * DAY)  # this live process
    other_host = _scratch(tmpdir_env, f"topictensor-split-{os.getpid()}_00000000-abcd1234", 2 * 3600)
    s3_cache = _scratch(tmpdir_env, "topictensor-s3-cache", 2 * DAY)  # not scratch: the S3 download cache
    not_ours = _scratch(tmpdir_env, "something-else-abcd1234", 2 * DAY)

    run_stage(LocalStore(tmp_path / "store"), "unrelated", code="c", params={}, inputs={}, compute=_compute)
    assert not stale_dead.exists() and not stale_legacy.exists()
    for kept in (young_dead, stale_alive, other_host, s3_cache, not_ours):
        assert kept.exists(), kept

    # The age is configurable: at one hour, the two-hour-old folders of gone or unknown owners go too.
    monkeypatch.setenv("TOPICTENSOR_SCRATCH_MAX_AGE_HOURS", "1")
    report = clean_scratch()
    assert sorted(report.removed) == sorted([young_dead, other_host])
    assert report.bytes_freed == 2000
    assert stale_alive in report.kept_alive and stale_alive.exists()


def test_clean_scratch_removes_a_local_stores_orphaned_temp_files(tmp_path, tmpdir_env):
    store = LocalStore(tmp_path / "store")
    store.write_text("artifacts/a/k/file.txt", "ok")
    folder = tmp_path / "store" / "artifacts" / "a" / "k"
    dead = f"{_dead_pid()}_{owner_tag().split('_')[1]}"
    orphan = folder / f"._MANIFEST.json.{dead}.abcd1234.tmp"
    legacy = folder / "._MANIFEST.json.abcd1234.tmp"
    live = folder / f".file.txt.{owner_tag()}.abcd1234.tmp"
    fresh = folder / f".other.{dead}.abcd1234.tmp"
    for path in (orphan, legacy, live, fresh):
        path.write_bytes(b"half")
    old = time.time() - 2 * DAY
    for path in (orphan, legacy, live):
        os.utime(path, (old, old))
    report = clean_scratch(store=store)
    assert sorted(report.temp_files) == sorted([orphan, legacy])
    assert live.exists() and fresh.exists()
    assert store.read_text("artifacts/a/k/file.txt") == "ok"


def test_scratch_dir_names_its_owner(tmpdir_env):
    path = scratch_dir("train")
    assert path.parent == tmpdir_env and path.name.startswith(f"topictensor-train-{owner_tag()}-")


def test_a_reused_pid_is_not_taken_for_the_owner(tmp_path, tmpdir_env):
    """A folder named by an earlier process whose pid now belongs to another (here: this one) is
    a dead process's folder: the owner tag carries the process's start time."""
    pid, host, start = owner_tag().split("_")
    assert int(start) > 0  # Linux: /proc gives the start time
    earlier = _scratch(tmpdir_env, f"topictensor-train-{pid}_{host}_{int(start) - 1}-abcd1234", 0)
    mine = _scratch(tmpdir_env, f"topictensor-train-{owner_tag()}-efgh5678", 0)
    report = clean_scratch(stage="train")
    assert report.removed == [earlier] and mine.exists()


def test_gc_delete_removes_stale_scratch_and_a_dry_run_does_not(tmp_path, tmpdir_env):
    """`topictensor gc` is the manual entry to the same cleanup: --delete removes a gone process's
    stale scratch (and lists it in --json); the default dry run touches nothing."""
    import json

    from typer.testing import CliRunner

    from topictensor.cli import app

    host = owner_tag().split("_")[1]
    stale = _scratch(tmpdir_env, f"topictensor-train-{_dead_pid()}_{host}-abcd1234", 2 * DAY)
    live = _scratch(tmpdir_env, f"topictensor-index-{owner_tag()}-abcd1234", 2 * DAY)
    config = tmp_path / "topictensor.yaml"
    config.write_text(json.dumps({"store": {"uri": str(tmp_path / "store")},
                                  "ingest": {"input_uri": str(tmp_path / "raw")}}))
    (tmp_path / "store").mkdir()
    runner = CliRunner()
    dry = runner.invoke(app, ["gc", "--json", "--config", str(config)])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["scratch_removed"] == [] and stale.exists()
    done = runner.invoke(app, ["gc", "--delete", "--json", "--config", str(config)])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["scratch_removed"] == [str(stale)]
    assert not stale.exists() and live.exists()
