"""run_stage: computes once, keys by what matters, and never leaves a half artifact that looks whole."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel

from topictensor.artifacts import (
    MANIFEST,
    Artifact,
    ArtifactRef,
    StageResult,
    Workspace,
    artifact_key,
    code_version,
    run_stage,
)
from topictensor.errors import ArtifactNotFound
from topictensor.store import LocalStore, ObjectInfo, Store, VersionToken


class CountingCompute:
    """A compute function that writes known files and counts how often it ran."""

    def __init__(self, files: dict[str, bytes] | None = None, counts=None, metrics=None):
        self.files = files if files is not None else {"out.bin": b"result"}
        self.counts = counts or {}
        self.metrics = metrics or {}
        self.calls = 0

    def __call__(self, ws: Workspace) -> StageResult:
        self.calls += 1
        for name, data in self.files.items():
            ws.path(name).write_bytes(data)
        return StageResult(counts=dict(self.counts), metrics=dict(self.metrics), extra={"note": "planted"})


def _run(store: Store, compute, *, params=None, code="code-v1", inputs=None, stage="demo") -> ArtifactRef:
    return run_stage(store, stage, code=code, params=params if params is not None else {"n": 1},
                     inputs=inputs if inputs is not None else {}, compute=compute)


# --- computes once -------------------------------------------------------------------------


def test_second_run_reuses_the_artifact_without_computing(store: Store):
    compute = CountingCompute(counts={"rows": 3}, metrics={"loss": 0.25})

    first = _run(store, compute)
    second = _run(store, compute)

    assert compute.calls == 1
    assert (first.reused, second.reused) == (False, True)
    assert second.key == first.key
    assert (second.counts, second.metrics) == ({"rows": 3}, {"loss": 0.25})
    assert Artifact(store, second).path("out.bin").read_bytes() == b"result"


# --- keys ----------------------------------------------------------------------------------


def _key(params=None, code="code-v1", inputs=None, stage="demo") -> str:
    return artifact_key(stage, code, params if params is not None else {"n": 1, "lang": "ru"}, inputs or {})


UPSTREAM = ArtifactRef(stage="normalize", key="aaaaaaaaaaaaaaaaaaaa")


def test_key_ignores_the_order_of_parameter_names():
    assert _key({"n": 1, "lang": "ru", "nested": {"x": 1, "y": 2}}) == _key(
        {"nested": {"y": 2, "x": 1}, "lang": "ru", "n": 1}
    )


def test_key_changes_with_params_code_inputs_and_stage():
    base = _key(inputs={"source": UPSTREAM})

    changed = {
        "params": _key({"n": 2, "lang": "ru"}, inputs={"source": UPSTREAM}),
        "code": _key(code="code-v2", inputs={"source": UPSTREAM}),
        "input key": _key(inputs={"source": ArtifactRef(stage="normalize", key="bbbbbbbbbbbbbbbbbbbb")}),
        "input stage": _key(inputs={"source": ArtifactRef(stage="filter", key=UPSTREAM.key)}),
        "input name": _key(inputs={"other": UPSTREAM}),
        "stage": _key(inputs={"source": UPSTREAM}, stage="other"),
    }

    assert {what: key != base for what, key in changed.items()} == {what: True for what in changed}
    assert len(set(changed.values())) == len(changed)


def test_key_ignores_run_facts_of_inputs_and_accepts_refs_as_dicts():
    """A ref that travelled through XCom comes back as a dict, and was maybe reused this time."""
    again = ArtifactRef(stage=UPSTREAM.stage, key=UPSTREAM.key, reused=True, counts={"rows": 9}, seconds=12.5)

    assert _key(inputs={"source": again}) == _key(inputs={"source": UPSTREAM})
    assert _key(inputs={"source": json.loads(json.dumps(again.to_dict()))}) == _key(inputs={"source": UPSTREAM})
    assert _key(inputs={"parts": [UPSTREAM.to_dict(), again]}) == _key(inputs={"parts": [UPSTREAM, UPSTREAM]})


class _Params(BaseModel):
    n: int = 1
    lang: str = "ru"


def test_key_of_a_pydantic_model_equals_the_key_of_its_fields():
    assert _key(_Params()) == _key({"lang": "ru", "n": 1})
    assert _key(_Params(n=2)) != _key(_Params())


def test_key_of_params_holding_a_set_is_the_same_in_every_process():
    """``str(set)`` follows the hash seed, which differs per process: keys must not."""
    script = (
        "from topictensor.artifacts import artifact_key;"
        "print(artifact_key('s', 'c', {'blacklist': {'follow', 'like', 'sale', 'spam', 'promo',"
        " 'ad', 'l4l', 'f4f', 'tbt', 'gift'}}, {'raw': frozenset({'x', 'y', 'z', 'w'})}))"
    )
    keys = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        keys.add(out.stdout.strip())

    assert len(keys) == 1


def test_run_stage_recomputes_exactly_when_the_key_changes(store: Store):
    compute = CountingCompute()

    refs = [
        _run(store, compute, params={"a": 1, "b": 2}),
        _run(store, compute, params={"b": 2, "a": 1}),  # same params, other order: reused
        _run(store, compute, params={"a": 1, "b": 3}),
        _run(store, compute, params={"a": 1, "b": 2}, code="code-v2"),
        _run(store, compute, params={"a": 1, "b": 2}, inputs={"source": UPSTREAM}),
    ]

    assert compute.calls == 4
    assert [r.reused for r in refs] == [False, True, False, False, False]
    assert len({r.key for r in refs}) == 4


# --- failures leave nothing that looks complete --------------------------------------------


def test_a_compute_that_raises_leaves_no_manifest_and_a_rerun_completes(store: Store):
    seen_workspaces: list[Path] = []

    def crashing(ws: Workspace) -> StageResult:
        seen_workspaces.append(ws.root)
        ws.path("part-0.bin").write_bytes(b"half")
        ws.path("sub/part-1.bin").write_bytes(b"done")
        raise RuntimeError("out of memory, say")

    with pytest.raises(RuntimeError, match="out of memory"):
        _run(store, crashing)

    ref = ArtifactRef(stage="demo", key=_key({"n": 1}, inputs={}))
    assert not store.exists(f"{ref.prefix}/{MANIFEST}")
    assert not seen_workspaces[0].exists()  # scratch space is cleaned up
    with pytest.raises(ArtifactNotFound) as err:
        Artifact(store, ref)
    assert f"demo/{ref.key}" in str(err.value) and "incomplete or missing" in str(err.value)

    compute = CountingCompute({"out.bin": b"good"})
    done = _run(store, compute)

    assert done.key == ref.key and not done.reused and compute.calls == 1
    assert Artifact(store, done).path("out.bin").read_bytes() == b"good"


def test_a_rerun_removes_leftovers_of_an_earlier_incomplete_attempt(store: Store):
    ref = ArtifactRef(stage="demo", key=_key({"n": 1}, inputs={}))
    store.write_bytes(f"{ref.prefix}/stale-from-a-crash.bin", b"old")

    _run(store, CountingCompute({"out.bin": b"new"}))

    assert store.list(ref.prefix) == [f"{ref.prefix}/{MANIFEST}", f"{ref.prefix}/out.bin"]


class FailingUploadStore(Store):
    """Delegates to a real store, but the n-th ``upload_file`` dies (a network cut midway)."""

    def __init__(self, inner: Store, fail_on: int):
        self.inner, self.fail_on, self.uploads = inner, fail_on, 0
        self.uri = inner.uri

    def upload_file(self, key: str, path: Path) -> None:
        self.uploads += 1
        if self.uploads == self.fail_on:
            raise ConnectionError(f"connection reset while uploading {key}")
        self.inner.upload_file(key, path)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def read_bytes(self, key: str) -> bytes:
        return self.inner.read_bytes(key)

    def write_bytes(self, key: str, data: bytes) -> None:
        self.inner.write_bytes(key, data)

    def local_path(self, key: str) -> Path:
        return self.inner.local_path(key)

    def list(self, prefix: str) -> list[str]:
        return self.inner.list(prefix)

    def list_info(self, prefix: str) -> list[ObjectInfo]:
        return self.inner.list_info(prefix)

    def delete_prefix(self, prefix: str) -> int:
        return self.inner.delete_prefix(prefix)

    def read_versioned(self, key: str) -> tuple[bytes | None, VersionToken]:
        return self.inner.read_versioned(key)

    def write_if_match(self, key: str, data: bytes, token: VersionToken) -> bool:
        return self.inner.write_if_match(key, data, token)


def test_an_upload_failing_midway_leaves_no_manifest_and_a_rerun_succeeds(store: Store):
    files = {"a.bin": b"A" * 10, "b.bin": b"B" * 20, "c.bin": b"C" * 30}
    flaky = FailingUploadStore(store, fail_on=2)

    with pytest.raises(ConnectionError, match="b.bin"):
        _run(flaky, CountingCompute(files))

    ref = ArtifactRef(stage="demo", key=_key({"n": 1}, inputs={}))
    assert store.list(ref.prefix) == [f"{ref.prefix}/a.bin"]  # the first file made it, nothing else
    with pytest.raises(ArtifactNotFound, match="incomplete or missing"):
        Artifact(store, ref)

    # The rerun's output has no a.bin (say it was a chunk numbered by timing): it must not linger.
    compute = CountingCompute({"b.bin": b"B" * 20, "c.bin": b"C" * 30})
    done = _run(store, compute)

    assert not done.reused and compute.calls == 1
    assert store.list(ref.prefix) == [f"{ref.prefix}/{n}" for n in (MANIFEST, "b.bin", "c.bin")]
    assert Artifact(store, done).names() == ["b.bin", "c.bin"]


# --- the manifest and the read side --------------------------------------------------------


def test_manifest_lists_every_file_with_size_and_sha256_of_the_stored_bytes(store: Store):
    files = {"data/part-0.bin": b"\x00" * 1000, "data/part-1.bin": b"xyz", "summary.json": b'{"ok": true}'}

    ref = _run(store, CountingCompute(files), params={"lang": "ru", "n": 5}, inputs={"source": UPSTREAM})
    artifact = Artifact(store, ref)

    listed = {f["name"]: f for f in artifact.manifest["files"]}
    assert sorted(listed) == sorted(files)
    for name, data in files.items():
        stored = store.read_bytes(f"{ref.prefix}/{name}")
        assert stored == data
        assert listed[name]["bytes"] == len(data)
        assert listed[name]["sha256"] == hashlib.sha256(stored).hexdigest()
    assert artifact.manifest["params"] == {"lang": "ru", "n": 5}
    assert artifact.manifest["inputs"] == {"source": f"normalize/{UPSTREAM.key}"}
    assert artifact.manifest["code_version"] == "code-v1"
    assert artifact.read_json("summary.json") == {"ok": True}
    assert artifact.names("data/*") == ["data/part-0.bin", "data/part-1.bin"]


def test_counts_and_metrics_survive_json_as_plain_numbers(store: Store):
    """Stages compute counts with numpy; the ref still has to pass through XCom's JSON."""
    compute = CountingCompute(counts={"rows": np.int64(7), "tags": 3}, metrics={"loss": np.float32(0.5), "auc": 1})

    fresh = _run(store, compute)
    reused = _run(store, compute)

    for ref in (fresh, reused):
        wire = json.dumps(ref.to_dict())  # raises on numpy scalars
        back = ArtifactRef.from_dict(json.loads(wire))
        assert back.counts == {"rows": 7, "tags": 3}
        assert back.metrics == {"loss": 0.5, "auc": 1.0}
        assert {type(v) for v in back.counts.values()} == {int}
        assert {type(v) for v in back.metrics.values()} == {float}
        assert (back.stage, back.key) == (fresh.stage, fresh.key)
    assert ArtifactRef.from_dict(json.loads(json.dumps(fresh.to_dict()))) == fresh
    assert ArtifactRef.from_dict(fresh) is fresh


def test_a_compute_returning_no_stage_result_fails_clearly(tmp_path: Path):
    with pytest.raises(TypeError, match="demo: compute must return a StageResult"):
        _run(LocalStore(tmp_path), lambda ws: None)


def test_workspace_refuses_names_outside_it(tmp_path: Path):
    ws = Workspace(tmp_path / "ws")

    with pytest.raises(ValueError, match="escapes the stage workspace"):
        ws.path("../elsewhere.bin")
    assert ws.path("deep/er/file.bin").parent.is_dir()


def test_artifact_path_of_an_unlisted_file_names_the_files_it_has(store: Store):
    ref = _run(store, CountingCompute({"vectors.npy": b"v", "vocab.parquet": b"p"}))

    with pytest.raises(ArtifactNotFound) as err:
        Artifact(store, ref.to_dict()).path("model.bin")

    message = str(err.value)
    assert "model.bin" in message and "vectors.npy" in message and "vocab.parquet" in message


# --- code_version --------------------------------------------------------------------------


def test_code_version_follows_the_module_source(tmp_path: Path, monkeypatch):
    name = f"tt_stage_{uuid.uuid4().hex[:8]}"
    source = tmp_path / f"{name}.py"
    source.write_text("def compute():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    monkeypatch.delitem(sys.modules, name, raising=False)

    original = code_version(name)
    assert code_version(name) == original
    assert code_version(name, "topictensor.errors") == code_version("topictensor.errors", name)

    # The version is cached per process (a task runs one version of its code); clear to re-read.
    source.write_text("def compute():\n    return 2  # changed\n")
    code_version.cache_clear()
    edited = code_version(name)

    source.write_text("def compute():\n    return 1\n")
    code_version.cache_clear()
    restored = code_version(name)

    assert edited != original
    assert restored == original
    assert len(original) == 12


def test_past_own_output_steps_back_while_the_artifact_was_built_on_the_runs_own_input(tmp_path):
    """The train and clusters stages' baseline: never their own earlier output on the same input."""
    from topictensor.artifacts import Artifact, ArtifactRef
    from topictensor.store import LocalStore

    store = LocalStore(tmp_path / "store")
    m1, m2 = ArtifactRef("model", "m1"), ArtifactRef("model", "m2")

    def build(model, previous, n):
        return run_stage(store, "topics", code="c", params={"n": n}, inputs={"model": model, "previous": previous},
                         compute=lambda ws: StageResult())

    first = build(m1, None, 1)             # the first week's topics
    rerun = build(m1, first, 2)            # a rerun on the same model after publishing chained onto it
    week2 = build(m2, rerun, 3)            # the next week's model
    art = Artifact(store, rerun)
    start, passed = art.past_own_output(("model", m1), previous="previous")
    assert start is None and passed.ref.key == first.key  # stepped past both: nothing before the first
    start, passed = Artifact(store, week2).past_own_output(("model", m1), previous="previous")
    assert start.ref.key == week2.key and passed is None   # built on another model: itself
    start, passed = Artifact(store, week2).past_own_output(("model", m2), previous="previous")
    assert start.ref.key == rerun.key and passed.ref.key == week2.key
