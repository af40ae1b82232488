"""Content-addressed, write-once stage outputs.

A stage output lives at ``artifacts/<stage>/<key>/`` where ``key`` hashes the stage name, the
stage's code version, its parameters and its inputs' keys. Files are written first and
``_MANIFEST.json`` last, so an artifact exists exactly when its manifest does: a crash midway
leaves nothing that looks complete, and a rerun that finds the manifest returns at once.

The read side checks what it reads against the manifest: every file's size whenever a file is
opened (:meth:`Artifact.path`), and every file's sha256 when a stage reuses an artifact (a
mismatch makes it a missing artifact: it is computed again), when the service loads a version (a
mismatch refuses the version), and on demand (``topictensor verify``).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import logging
import platform
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from topictensor import __version__
from topictensor.errors import ArtifactCorrupt, ArtifactNotFound
from topictensor.scratch import clean_scratch, scratch_dir
from topictensor.store import Store

log = logging.getLogger(__name__)

MANIFEST = "_MANIFEST.json"
INDEXES = "indexes"  # lookup entries indexes/<stage>/<owner>/<key>.json pointing at artifacts (gc drops stale ones)


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
    manifest = _reusable_manifest(store, ref)
    if manifest is not None:
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
    clean_scratch(stage=stage)
    scratch = scratch_dir(stage)
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


def _reusable_manifest(store: Store, ref: ArtifactRef) -> dict[str, Any] | None:
    """The manifest of a complete artifact whose files all match it (size and sha256), else None.
    A mismatch is logged and the artifact's manifest removed first, so it counts as missing from
    then on (the caller computes it again), even if this process dies before recomputing it."""
    manifest_key = f"{ref.prefix}/{MANIFEST}"
    if not store.exists(manifest_key):
        return None
    try:
        manifest = json.loads(store.read_text(manifest_key))
        problems = verify_files(store, ref, manifest, hashes=True)
    except ValueError as exc:  # not JSON, or not the shape of a manifest
        problems = [f"{MANIFEST} is not a readable manifest ({exc})"]
    if not problems:
        return manifest
    log.warning("%s: artifact %s does not match its manifest, computing it again: %s",
                ref.stage, ref.key, "; ".join(problems[:5]))
    store.delete_prefix(manifest_key)
    return None


def verify_files(store: Store, ref: ArtifactRef, manifest: Mapping[str, Any], *, hashes: bool = True) -> list[str]:
    """What is wrong with an artifact's files against its manifest: missing files, sizes, and
    (``hashes``) sha256s. Empty = all match. On S3 the files are downloaded (once: cached)."""
    files = manifest.get("files")
    if not isinstance(files, list):
        raise ValueError("no 'files' list")
    problems = []
    for entry in files:
        name = entry["name"]
        try:
            _, problem = _checked_path(store, f"{ref.prefix}/{name}", entry, hashes=hashes)
        except ArtifactNotFound:
            problems.append(f"{name}: missing")
            continue
        if problem:
            problems.append(f"{name}: {problem}")
    return problems


def _checked_path(store: Store, key: str, entry: Mapping[str, Any], *, hashes: bool) -> tuple[Path, str | None]:
    """A local path of ``key`` and what is wrong with it against its manifest entry (None: nothing).
    A store that keeps local copies of remote objects (S3) gets one more try with a fresh download:
    a damaged copy on this disk is not a damaged artifact."""
    path = store.local_path(key)
    problem = _file_problem(path, entry, hashes=hashes)
    drop = getattr(store, "drop_local_copy", None)
    if problem and drop is not None and drop(key):
        log.warning("%s: the local copy of %s does not match its manifest (%s); downloading it again",
                    store.uri, key, problem)
        path = store.local_path(key)
        problem = _file_problem(path, entry, hashes=hashes)
    return path, problem


def _file_problem(path: Path, entry: Mapping[str, Any], *, hashes: bool) -> str | None:
    size = path.stat().st_size
    if "bytes" in entry and size != int(entry["bytes"]):
        return f"{size} bytes, the manifest says {entry['bytes']}"
    if hashes and entry.get("sha256"):
        actual = _sha256(path)
        if actual != entry["sha256"]:
            return f"sha256 {actual}, the manifest says {entry['sha256']}"
    return None


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
    """Read side of a complete artifact: its manifest and local paths to its files.

    Every file's size is checked against the manifest when its path is taken; :meth:`verify`
    checks every file's sha256 as well."""

    def __init__(self, store: Store, ref: ArtifactRef | Mapping[str, Any]):
        self.store = store
        self.ref = ArtifactRef.from_dict(ref)
        where = f"artifact {self.ref.stage}/{self.ref.key} in {store.uri}"
        try:
            self.manifest = json.loads(store.read_text(f"{self.ref.prefix}/{MANIFEST}"))
            self.entries = {f["name"]: f for f in self.manifest["files"]}
        except ArtifactNotFound:
            raise ArtifactNotFound(f"{where} is incomplete or missing (no {MANIFEST}); rerun its stage") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ArtifactCorrupt(f"{where}: {MANIFEST} is not a readable manifest ({exc}); rerun its stage") from None
        self.files = set(self.entries)

    def path(self, name: str) -> Path:
        if name not in self.files:
            raise ArtifactNotFound(
                f"artifact {self.ref.stage}/{self.ref.key} has no file {name!r} (has: {sorted(self.files)})"
            )
        path, problem = _checked_path(self.store, f"{self.ref.prefix}/{name}", self.entries[name], hashes=False)
        if problem:
            raise ArtifactCorrupt(f"artifact {self.ref.stage}/{self.ref.key} in {self.store.uri}: {name} has "
                                  f"{problem}; the artifact is damaged, rerun its stage")
        return path

    def problems(self, hashes: bool = True) -> list[str]:
        """Files that do not match the manifest (missing, size, sha256); empty when all match."""
        return verify_files(self.store, self.ref, self.manifest, hashes=hashes)

    def verify(self) -> "Artifact":
        """Self, if every file matches its manifest's size and sha256; else :class:`ArtifactCorrupt`."""
        problems = self.problems()
        if problems:
            raise ArtifactCorrupt(f"artifact {self.ref.stage}/{self.ref.key} in {self.store.uri} does not match "
                                  f"its manifest: {'; '.join(problems)}")
        return self

    def names(self, pattern: str = "*") -> list[str]:
        import fnmatch

        return sorted(n for n in self.files if fnmatch.fnmatch(n, pattern))

    def read_json(self, name: str) -> Any:
        return json.loads(self.path(name).read_text())

    def read_table(self, name: str, columns: Sequence[str] | None = None):
        import pyarrow.parquet as pq

        return pq.read_table(self.path(name), columns=list(columns) if columns else None)

    def input_ref(self, name: str) -> ArtifactRef | None:
        """The artifact this one's manifest names as input ``name`` (None when it names none)."""
        value = self.manifest.get("inputs", {}).get(name)
        return ArtifactRef(*value.split("/", 1)) if value else None

    def past_own_output(self, built_on: tuple[str, ArtifactRef], previous: str) -> tuple["Artifact | None", "Artifact | None"]:
        """A stage's baseline as the artifact its own earlier run built on, not that run's output.

        A stage whose baseline is "the production artifact of the same stage" (the warm start, the
        topic ids) finds its own output there after a rerun publishes: chaining onto it would give
        every rerun a new key and a new version for nothing. So while this artifact's input
        ``built_on[0]`` is ``built_on[1]`` (the run's own input), step back along its input
        ``previous``. Returns (the first artifact not built on it, or None at the end of the chain
        or on a loop; the last artifact stepped past, or None when none was)."""
        name, ref = built_on
        own = f"{ref.stage}/{ref.key}"
        art: Artifact | None = self
        passed: Artifact | None = None
        seen: set[str] = set()
        while art is not None and art.manifest.get("inputs", {}).get(name) == own:
            if art.ref.key in seen:
                return None, passed
            seen.add(art.ref.key)
            passed = art
            before = art.input_ref(previous)
            art = Artifact(self.store, before) if before else None
        return art, passed
