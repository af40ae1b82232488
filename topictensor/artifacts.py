"""Content-addressed, write-once stage outputs.

A stage output lives at ``artifacts/<stage>/<key>/`` where ``key`` hashes the stage name, the
stage's code version, its parameters and its inputs' keys. Files are written first and
``_MANIFEST.json`` last, so an artifact exists exactly when its manifest does: a crash midway
leaves nothing that looks complete, and a rerun that finds the manifest returns at once.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import logging
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from topictensor import __version__
from topictensor.errors import ArtifactNotFound
from topictensor.store import Store

log = logging.getLogger(__name__)

MANIFEST = "_MANIFEST.json"


@dataclass(frozen=True)
class ArtifactRef:
    """What flows between tasks (through XCom): a pointer plus small facts, never data."""

    stage: str
    key: str
    reused: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def prefix(self) -> str:
        return f"artifacts/{self.stage}/{self.key}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "key": self.key,
            "reused": self.reused,
            "counts": dict(self.counts),
            "metrics": dict(self.metrics),
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | "ArtifactRef") -> "ArtifactRef":
        if isinstance(data, ArtifactRef):
            return data
        return cls(
            stage=data["stage"],
            key=data["key"],
            reused=bool(data.get("reused", False)),
            counts=dict(data.get("counts", {})),
            metrics=dict(data.get("metrics", {})),
            seconds=float(data.get("seconds", 0.0)),
        )


@lru_cache(maxsize=None)
def code_version(*modules: str) -> str:
    """Hash of the given modules' source: editing a stage or its engine changes its keys."""
    digest = hashlib.sha256(__version__.encode())
    for name in sorted(modules):
        module = importlib.import_module(name)
        digest.update(name.encode())
        digest.update(inspect.getsource(module).encode())
    return digest.hexdigest()[:12]


def artifact_key(stage: str, code: str, params: Any, inputs: Mapping[str, Any]) -> str:
    """Deterministic key of (stage, code version, parameters, inputs' keys)."""
    payload = {
        "stage": stage,
        "code": code,
        "params": _plain(params),
        "inputs": {name: _input_keys(value) for name, value in sorted(inputs.items())},
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _plain(params: Any) -> Any:
    """Parameters as plain JSON-able values that hash the same in every process.

    Sets become sorted lists: their iteration order (and so ``str(set)``) changes with the
    interpreter's hash seed, which would give every worker a different key.
    """
    if hasattr(params, "model_dump"):
        return params.model_dump(mode="json")
    if isinstance(params, Mapping):
        return {str(k): _plain(v) for k, v in params.items()}
    if isinstance(params, (set, frozenset)):
        return sorted((_plain(v) for v in params), key=lambda v: json.dumps(v, sort_keys=True, default=str))
    if isinstance(params, (list, tuple)):
        return [_plain(v) for v in params]
    return params


_REF_FIELDS = {"stage", "key", "reused", "counts", "metrics", "seconds"}


def _input_keys(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Mapping) and {"stage", "key"} <= set(value) <= _REF_FIELDS:
        value = ArtifactRef.from_dict(value)  # a ref that came through XCom as a dict
    if isinstance(value, ArtifactRef):
        return f"{value.stage}/{value.key}"  # only the key: not reused/seconds, which vary per run
    if isinstance(value, (list, tuple)):
        return [_input_keys(v) for v in value]
    return _plain(value)  # a plain value that identifies the input (a raw prefix plus its listing hash)


@dataclass
class StageResult:
    """What a stage's compute function reports besides the files it wrote."""

    counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class Workspace:
    """A local scratch directory the compute function writes its output files into."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, name: str) -> Path:
        p = (self.root / name).resolve()
        if self.root.resolve() not in p.parents:
            # A file outside the workspace would silently be left out of the artifact.
            raise ValueError(f"output file name {name!r} escapes the stage workspace {self.root}")
        p.parent.mkdir(parents=True, exist_ok=True)
        return p


def run_stage(
    store: Store,
    stage: str,
    *,
    code: str,
    params: Any,
    inputs: Mapping[str, Any],
    compute: Callable[[Workspace], StageResult],
) -> ArtifactRef:
    """Return the stage's artifact, computing it only when its manifest is absent."""
    key = artifact_key(stage, code, params, inputs)
    ref = ArtifactRef(stage=stage, key=key)
    manifest_key = f"{ref.prefix}/{MANIFEST}"
    if store.exists(manifest_key):
        manifest = json.loads(store.read_text(manifest_key))
        log.info("%s: artifact %s already complete, nothing to do", stage, key)
        return ArtifactRef(
            stage=stage,
            key=key,
            reused=True,
            counts=manifest.get("counts", {}),
            metrics=manifest.get("metrics", {}),
            seconds=manifest.get("seconds", 0.0),
        )

    started = time.time()
    # Leftovers of an attempt that died before its manifest are not trusted: start clean.
    removed = store.delete_prefix(ref.prefix)
    if removed:
        log.warning("%s: removed %d files of an earlier incomplete attempt at %s", stage, removed, key)
    scratch = Path(tempfile.mkdtemp(prefix=f"topictensor-{stage}-"))
    try:
        result = compute(Workspace(scratch))
        if not isinstance(result, StageResult):
            raise TypeError(f"{stage}: compute must return a StageResult, got {type(result).__name__}")
        counts, metrics = _counts(stage, result.counts), _metrics(stage, result.metrics)
        files = []
        for path in sorted(p for p in scratch.rglob("*") if p.is_file()):
            name = path.relative_to(scratch).as_posix()
            store.upload_file(f"{ref.prefix}/{name}", path)
            files.append({"name": name, "bytes": path.stat().st_size, "sha256": _sha256(path)})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    seconds = round(time.time() - started, 3)
    manifest = {
        "stage": stage,
        "key": key,
        "code_version": code,
        "package_version": __version__,
        "params": _plain(params),
        "inputs": {name: _input_keys(v) for name, v in inputs.items()},
        "files": files,
        "counts": counts,
        "metrics": metrics,
        "extra": result.extra,
        "seconds": seconds,
        "created_at": datetime.now(timezone.utc).isoformat(),
        "host": platform.node(),
    }
    store.write_text(manifest_key, json.dumps(manifest, indent=2, sort_keys=True, default=str))
    log.info("%s: wrote artifact %s (%d files) in %.1f s", stage, key, len(files), seconds)
    return ArtifactRef(stage=stage, key=key, reused=False, counts=counts, metrics=metrics, seconds=seconds)


def _counts(stage: str, counts: Mapping[str, Any]) -> dict[str, int]:
    """Plain ints: numpy scalars are not JSON (XCom) and would be stringified in the manifest."""
    try:
        return {str(name): int(value) for name, value in counts.items()}
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{stage}: counts must be integers, got {dict(counts)!r}") from exc


def _metrics(stage: str, metrics: Mapping[str, Any]) -> dict[str, float]:
    try:
        return {str(name): float(value) for name, value in metrics.items()}
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{stage}: metrics must be numbers, got {dict(metrics)!r}") from exc


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Artifact:
    """Read side of a complete artifact: its manifest and local paths to its files."""

    def __init__(self, store: Store, ref: ArtifactRef | Mapping[str, Any]):
        self.store = store
        self.ref = ArtifactRef.from_dict(ref)
        try:
            self.manifest = json.loads(store.read_text(f"{self.ref.prefix}/{MANIFEST}"))
        except ArtifactNotFound:
            raise ArtifactNotFound(
                f"artifact {self.ref.stage}/{self.ref.key} is incomplete or missing in {store.uri} "
                f"(no {MANIFEST}); rerun its stage"
            ) from None
        self.files = {f["name"] for f in self.manifest["files"]}

    def path(self, name: str) -> Path:
        if name not in self.files:
            raise ArtifactNotFound(
                f"artifact {self.ref.stage}/{self.ref.key} has no file {name!r} (has: {sorted(self.files)})"
            )
        return self.store.local_path(f"{self.ref.prefix}/{name}")

    def names(self, pattern: str = "*") -> list[str]:
        import fnmatch

        return sorted(n for n in self.files if fnmatch.fnmatch(n, pattern))

    def read_json(self, name: str) -> Any:
        return json.loads(self.path(name).read_text())

    def read_table(self, name: str, columns: Sequence[str] | None = None):
        import pyarrow.parquet as pq

        return pq.read_table(self.path(name), columns=list(columns) if columns else None)
