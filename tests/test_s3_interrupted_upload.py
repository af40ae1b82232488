"""Uploads to S3 broken midway, on the wire: the artifact never looks complete.

A loopback TCP proxy sits between the store and the S3 test server and breaks one upload after
some of its bytes went through: by resetting the connection (a network cut: the client retries,
then fails) or by stalling it while the uploading process is killed (a worker lost mid-task,
the way Airflow loses one to the OOM killer or a preempted node). Either way the bucket must
hold no manifest and no half object, and a rerun must complete the artifact.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from topictensor.artifacts import MANIFEST, Artifact, ArtifactRef, StageResult, Workspace, artifact_key, run_stage
from topictensor.errors import ArtifactNotFound, StoreError
from topictensor.store import open_store

STAGE, CODE, PARAMS = "demo", "code-v1", {"n": 1}
KEY = artifact_key(STAGE, CODE, PARAMS, {})
PREFIX = f"artifacts/{STAGE}/{KEY}"
MB = 1 << 20


class CuttingProxy:
    """Forwards TCP to the S3 server; ``break_upload`` arms it to break the next PUT of a key.

    Modes: ``"reset"`` sends a TCP reset to both sides after ``after_bytes`` of the request went
    through (``times`` connections in a row, so the client's retries fail too); ``"stall"``
    stops forwarding there, sets ``stalled``, and once the client is gone resets the server's
    side as a dead worker's kernel would; ``released`` is set when the connection is broken.
    """

    def __init__(self, upstream: str):
        url = urlparse(upstream)
        self.upstream = (url.hostname, url.port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.stalled, self.released = threading.Event(), threading.Event()
        self.cuts = 0
        self._rule: tuple[re.Pattern, int, str] | None = None
        self._remaining = 0
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def break_upload(self, key_suffix: str, *, after_bytes: int, mode: str, times: int = 1) -> None:
        pattern = re.compile(rb"PUT /[^ ?]*" + re.escape(key_suffix.encode()) + rb"[ ?]")
        with self._lock:
            self._rule, self._remaining = (pattern, after_bytes, mode), times

    def heal(self) -> None:
        """The network is back: forward everything."""
        with self._lock:
            self._rule, self._remaining = None, 0

    def close(self) -> None:
        self._closing.set()
        self.listener.close()
        with self._lock:
            for sock in self._sockets:
                _close(sock)

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pump_requests, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(64 * 1024):
                target.sendall(data)
        except OSError:
            pass
        finally:
            _close(target)

    def _pump_requests(self, client: socket.socket, server: socket.socket) -> None:
        """Client to server; counts the bytes of a matching PUT from its request line on."""
        counted: int | None = None
        limit, mode = 0, ""
        try:
            while data := client.recv(64 * 1024):
                if counted is None:
                    with self._lock:
                        rule = self._rule if self._remaining > 0 else None
                        match = rule[0].search(data) if rule else None
                        if match:
                            self._remaining -= 1
                            self.cuts += 1
                    if match:
                        limit, mode = rule[1], rule[2]
                        counted, data_from = 0, match.start()
                        server.sendall(data[:data_from])
                        data = data[data_from:]
                if counted is not None and counted + len(data) > limit:
                    server.sendall(data[:limit - counted])
                    self._break(client, server, mode)
                    return
                if counted is not None:
                    counted += len(data)
                server.sendall(data)
        except OSError:
            pass
        finally:
            _close(server)

    def _break(self, client: socket.socket, server: socket.socket, mode: str) -> None:
        if mode == "stall":
            self.stalled.set()
            try:  # forward nothing more; wait for the client to die (its kernel closes the socket)
                while client.recv(64 * 1024):
                    pass
            except OSError:
                pass
        for sock in (client, server):  # RST, not FIN: the peer sees the connection reset
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
            _close(sock)
        self.released.set()


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass


@pytest.fixture
def proxy(s3_server: str) -> Iterator[CuttingProxy]:
    proxy = CuttingProxy(s3_server)
    yield proxy
    proxy.close()


def payload(name: str, size: int) -> bytes:
    """Deterministic bytes per file, the same in the test and in the killed worker."""
    seed = hashlib.sha256(name.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def write_files(files: dict[str, int]):
    def compute(ws: Workspace) -> StageResult:
        for name, size in files.items():
            ws.path(name).write_bytes(payload(name, size))
        return StageResult(counts={"files": len(files)})

    return compute


def stored_keys(s3_client, s3_bucket: str) -> list[str]:
    bucket, _, prefix = s3_bucket[len("s3://"):].partition("/")
    listed = s3_client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/{PREFIX}/").get("Contents", [])
    return sorted(o["Key"][len(prefix) + len(PREFIX) + 2:] for o in listed)


def assert_complete(store, files: dict[str, int]) -> None:
    artifact = Artifact(store, ArtifactRef(stage=STAGE, key=KEY))
    assert artifact.names() == sorted(files)
    for listed in artifact.manifest["files"]:
        data = store.read_bytes(f"{PREFIX}/{listed['name']}")
        assert data == payload(listed["name"], files[listed["name"]])
        assert hashlib.sha256(data).hexdigest() == listed["sha256"]


@pytest.fixture
def no_retry_sleep(monkeypatch) -> list[float]:
    """botocore's backoff between retries (up to seconds each) skipped; the delays are recorded."""
    import botocore.endpoint

    delays: list[float] = []
    fast_time = types.SimpleNamespace(**{n: getattr(time, n) for n in dir(time) if not n.startswith("_")})
    fast_time.sleep = delays.append
    monkeypatch.setattr(botocore.endpoint, "time", fast_time)
    return delays


def test_a_network_cut_midway_through_an_upload_fails_clearly_and_leaves_no_manifest(
        proxy, s3_bucket, s3_client, tmp_path, no_retry_sleep, caplog):
    files = {"a.bin": 100_000, "b.bin": 2 * MB, "c.bin": 100_000}
    store = open_store(s3_bucket, endpoint_url=proxy.endpoint, cache_dir=str(tmp_path / "cache"))
    proxy.break_upload(f"{PREFIX}/b.bin", after_bytes=MB, mode="reset", times=100)  # every retry too

    with pytest.raises(StoreError) as err:
        run_stage(store, STAGE, code=CODE, params=PARAMS, inputs={}, compute=write_files(files))

    bucket, _, prefix = s3_bucket[len("s3://"):].partition("/")
    assert f"bucket {bucket!r}" in str(err.value) and f"{prefix}/{PREFIX}/b.bin" in str(err.value)
    assert proxy.cuts == len(no_retry_sleep) + 1 > 1  # cut on the first try and on each retry
    assert stored_keys(s3_client, s3_bucket) == ["a.bin"]  # no manifest, no half of b.bin
    with pytest.raises(ArtifactNotFound, match="incomplete or missing"):
        Artifact(store, ArtifactRef(stage=STAGE, key=KEY))

    proxy.heal()
    with caplog.at_level(logging.WARNING, logger="topictensor.artifacts"):
        ref = run_stage(store, STAGE, code=CODE, params=PARAMS, inputs={}, compute=write_files(files))

    assert not ref.reused and "removed 1 files of an earlier incomplete attempt" in caplog.text
    assert stored_keys(s3_client, s3_bucket) == [MANIFEST, "a.bin", "b.bin", "c.bin"]
    assert_complete(store, files)


def test_an_upload_cut_once_is_retried_and_the_artifact_is_intact(proxy, s3_bucket, tmp_path, no_retry_sleep):
    files = {"a.bin": 100_000, "b.bin": 2 * MB}
    store = open_store(s3_bucket, endpoint_url=proxy.endpoint, cache_dir=str(tmp_path / "cache"))
    proxy.break_upload(f"{PREFIX}/b.bin", after_bytes=MB, mode="reset", times=1)

    ref = run_stage(store, STAGE, code=CODE, params=PARAMS, inputs={}, compute=write_files(files))

    assert proxy.cuts == 1 and len(no_retry_sleep) == 1 and not ref.reused
    assert_complete(store, files)  # the retry sent the whole file again, not its second half


_WORKER = """
import hashlib, json, sys
from topictensor.artifacts import StageResult, run_stage
from topictensor.store import open_store

uri, endpoint, cache, stage, code, params, files = sys.argv[1:8]
files = json.loads(files)

def payload(name, size):
    seed = hashlib.sha256(name.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]

def compute(ws):
    for name, size in files.items():
        ws.path(name).write_bytes(payload(name, size))
    return StageResult(counts={"files": len(files)})

store = open_store(uri, endpoint_url=endpoint, cache_dir=cache)
run_stage(store, stage, code=code, params=json.loads(params), inputs={}, compute=compute)
print("finished: the upload was not interrupted")
"""


@pytest.mark.parametrize("big", [3 * MB, 10 * MB], ids=["single-put", "multipart"])
def test_a_worker_killed_midway_through_an_upload_leaves_no_manifest_and_a_rerun_completes(
        big, proxy, s3_bucket, s3_client, tmp_path):
    """boto3 sends files over 8 MB in parts: a killed multipart upload is never completed,
    and the rerun aborts it so the bucket does not keep paying for its parts."""
    files = {"a.bin": 100_000, "b.bin": big}
    proxy.break_upload(f"{PREFIX}/b.bin", after_bytes=MB // 2, mode="stall")
    worker = subprocess.Popen(
        [sys.executable, "-c", _WORKER, s3_bucket, proxy.endpoint, str(tmp_path / "worker-cache"),
         STAGE, CODE, json.dumps(PARAMS), json.dumps(files)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        stalled = proxy.stalled.wait(timeout=60)
        if not stalled:
            worker.kill()
        worker.send_signal(signal.SIGKILL)
        output = worker.communicate(timeout=30)[0]
    finally:
        if worker.poll() is None:
            worker.kill()
    assert stalled, f"the worker never reached the upload of b.bin; its output:\n{output}"
    assert worker.returncode == -signal.SIGKILL
    assert proxy.released.wait(timeout=30)  # the server has seen the upload's connection die

    store = open_store(s3_bucket, endpoint_url=proxy.endpoint, cache_dir=str(tmp_path / "cache"))
    assert stored_keys(s3_client, s3_bucket) == ["a.bin"]  # b.bin is not there, not even half of it
    with pytest.raises(ArtifactNotFound, match="incomplete or missing"):
        Artifact(store, ArtifactRef(stage=STAGE, key=KEY))

    ref = run_stage(store, STAGE, code=CODE, params=PARAMS, inputs={}, compute=write_files(files))

    assert not ref.reused
    assert stored_keys(s3_client, s3_bucket) == [MANIFEST, "a.bin", "b.bin"]
    assert_complete(store, files)
    bucket, _, prefix = s3_bucket[len("s3://"):].partition("/")
    pending = s3_client.list_multipart_uploads(Bucket=bucket, Prefix=f"{prefix}/{PREFIX}/").get("Uploads", [])
    assert pending == []


def test_delete_prefix_aborts_the_unfinished_uploads_under_its_prefix_only(s3_server, s3_bucket, s3_client, tmp_path):
    bucket, _, prefix = s3_bucket[len("s3://"):].partition("/")
    store = open_store(s3_bucket, endpoint_url=s3_server, cache_dir=str(tmp_path / "cache"))
    keys = [f"{prefix}/a/part.bin", f"{prefix}/a", f"{prefix}/ab/part.bin", f"{prefix}es/part.bin", "other/part.bin"]
    for key in keys:
        s3_client.create_multipart_upload(Bucket=bucket, Key=key)

    def pending() -> list[str]:
        return sorted(u["Key"] for u in s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []))

    store.delete_prefix("a")
    assert pending() == sorted([f"{prefix}/ab/part.bin", f"{prefix}es/part.bin", "other/part.bin"])

    store.delete_prefix("")
    assert pending() == sorted([f"{prefix}es/part.bin", "other/part.bin"])  # not beyond the store's prefix
