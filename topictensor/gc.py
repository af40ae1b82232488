"""Retention: delete the stage artifacts nothing needs any more.

An artifact is kept when it is reachable -- through the ``inputs`` of the manifests, transitively
(a model's split, its window, the partitions it was made of, the production model it was warm-
started from, the clusters whose ids it carried over) -- from any of:

- the newest ``keep_versions`` model versions (by creation time), the production version and the
  version a rollback would return to;
- the posts partitions of the current training window and the bloggers snapshot for it, as they
  are listed now (their ingest / normalize / bloggers artifacts: next week's run reuses them);
- any artifact written after the newest model version (a run may be in progress; its version is
  not written yet).

Everything else under ``artifacts/`` is garbage: the per-partition artifacts of weeks that left the
window or of partitions that were rewritten, and every stage of versions no longer kept. Deleting
one removes its ``_MANIFEST.json`` first, so an interrupted collection leaves incomplete
artifacts (which every stage recomputes) and never a complete-looking half. Folders without a
manifest (an attempt in progress or one that died) are not touched here. Version records
(``versions/``), the production pointer and its history are never deleted; each collection writes
its report under ``gc/``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from topictensor.artifacts import INDEXES, MANIFEST
from topictensor.config import PipelineConfig
from topictensor.errors import ArtifactNotFound, ContractError
from topictensor.registry import Registry
from topictensor.store import Store

log = logging.getLogger(__name__)


@dataclass
class Collection:
    """What a collection keeps and deletes (artifacts as ``stage/key``)."""

    kept_versions: list[str]
    roots: dict[str, list[str]]  # why: 'versions', 'window', 'recent' -> root artifacts
    keep: set[str] = field(default_factory=set)
    delete: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
    stale_index_entries: list[str] = field(default_factory=list)
    bytes_deleted: int = 0
    deleted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"kept_versions": self.kept_versions, "roots": self.roots, "kept": len(self.keep),
                "delete": self.delete, "stale_index_entries": self.stale_index_entries,
                "incomplete_left_alone": self.incomplete,
                "bytes": self.bytes_deleted, "deleted": self.deleted}


def collect(config: PipelineConfig, *, keep_versions: int = 3, dry_run: bool = True,
            as_of: str | None = None, store: Store | None = None) -> Collection:
    """Find (and unless ``dry_run``, delete) the artifacts no kept version, production or current
    window partition needs. ``as_of``: the window whose partitions are kept (default as a run's)."""
    if keep_versions < 1:
        raise ValueError("keep_versions must be >= 1: the newest version is always kept")
    store = store or config.open_store()
    registry = Registry(store)
    entries = index_entries(store)  # before the artifacts: an entry is written after its artifact's manifest
    manifests, incomplete = _artifact_manifests(store)
    versions = registry.list_versions()
    kept = [v["version"] for v in versions[-keep_versions:]]
    for extra in (registry.production(), registry.rollback_target()):
        if extra and extra not in kept:
            kept.append(extra)
    version_roots = [f"{ref['stage']}/{ref['key']}" for vid in kept
                     for refs in registry.get_version(vid)["stages"].values() for ref in refs]
    newest = versions[-1]["created_at"] if versions else ""
    recent = [name for name, m in manifests.items() if not newest or m.get("created_at", "") > newest]
    roots = {"versions": sorted(set(version_roots)), "window": sorted(window_artifacts(config, as_of) & set(manifests)),
             "recent": sorted(recent)}
    missing = sorted(set(version_roots) - set(manifests))
    if missing:
        log.warning("gc: %d artifacts of kept versions are already missing, e.g. %s", len(missing), missing[0])
    keep = _reachable([r for group in roots.values() for r in group], manifests)
    # A kept artifact's indexed artifacts are kept (the cooccur counts of a kept prepared partition:
    # a run in progress may reuse any of them, and the filter records them in extra, not inputs).
    kept_keys = {name.split("/", 1)[1] for name in keep}
    keep |= {target for target, owner in entries.values() if owner in kept_keys and target in manifests}
    result = Collection(kept_versions=kept, roots=roots, keep=keep, incomplete=incomplete,
                        delete=sorted(set(manifests) - keep))
    result.bytes_deleted = sum(f.get("bytes", 0) for name in result.delete for f in manifests[name].get("files", []))
    result.stale_index_entries = sorted(entry for entry, (target, _) in entries.items() if target not in keep)
    if not dry_run:
        for name in result.delete:
            prefix = f"artifacts/{name}"
            store.delete_prefix(f"{prefix}/{MANIFEST}")  # first: a half-deleted artifact is never complete
            store.delete_prefix(prefix)
        for entry in result.stale_index_entries:  # after the artifacts: an entry never outlives nothing
            store.delete_prefix(entry)
        result.deleted = True
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        store.write_text(f"gc/{stamp}.json", json.dumps(result.to_dict(), indent=2))
        log.info("gc: deleted %d artifacts (%d bytes), kept %d", len(result.delete), result.bytes_deleted, len(keep))
    return result


def index_entries(store: Store) -> dict[str, tuple[str, str]]:
    """Lookup entries ``indexes/<stage>/<owner key>/<key>.json`` (the cooccur stage finds a prepared
    partition's earlier counts through them) -> (``<stage>/<key>``, the owner's key). An entry
    whose artifact is not kept is stale and goes with it; other files there are left alone."""
    out = {}
    for name in store.list(f"{INDEXES}/"):
        parts = name.split("/")
        if len(parts) == 4 and parts[3].endswith(".json"):
            out[name] = (f"{parts[1]}/{parts[3].removesuffix('.json')}", parts[2])
    return out


def _artifact_manifests(store: Store) -> tuple[dict[str, dict], list[str]]:
    """Every complete artifact's manifest by ``stage/key``; and the folders without a manifest."""
    folders: dict[str, bool] = {}
    for key in store.list("artifacts"):
        parts = key.split("/")
        if len(parts) < 4:
            continue
        name = f"{parts[1]}/{parts[2]}"
        folders[name] = folders.get(name, False) or (len(parts) == 4 and parts[3] == MANIFEST)
    manifests = {}
    for name, complete in folders.items():
        if complete:
            manifests[name] = json.loads(store.read_text(f"artifacts/{name}/{MANIFEST}"))
    return manifests, sorted(name for name, complete in folders.items() if not complete)


def _reachable(roots: Iterable[str], manifests: dict[str, dict]) -> set[str]:
    seen: set[str] = set()
    todo = [r for r in roots if r in manifests]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(ref for ref in _input_refs(manifests[name].get("inputs", {})) if ref in manifests)
    return seen


def _input_refs(value: Any) -> list[str]:
    """``stage/key`` strings anywhere in a manifest's inputs (refs are recorded as such)."""
    if isinstance(value, str):
        return [value] if value.count("/") == 1 else []
    if isinstance(value, dict):
        return [r for v in value.values() for r in _input_refs(v)]
    if isinstance(value, (list, tuple)):
        return [r for v in value for r in _input_refs(v)]
    return []


def window_artifacts(config: PipelineConfig, as_of: str | None = None) -> set[str]:
    """``stage/key`` of the per-partition artifacts of the current window's partitions as listed now
    (and of its bloggers snapshot): what next week's run will reuse. Empty when the raw prefix is
    gone or holds no partition in the window (nothing to protect then)."""
    from topictensor.partitions import plan_window
    from topictensor.stages.ingest import bloggers_key, partition_key
    from topictensor.stages.normalize import partition_key as normalize_key
    from topictensor.store import open_store

    raw = open_store(config.ingest.input_uri, endpoint_url=config.store.endpoint_url)
    try:
        plan = plan_window(raw, config.ingest.window_days, as_of or config.ingest.as_of)
    except (ContractError, ArtifactNotFound) as exc:
        log.warning("gc: no current window to protect (%s)", exc)
        return set()
    out = set()
    for partition in plan.posts:
        try:
            ingest_key = partition_key(partition, config)
        except ContractError:
            continue  # an empty or broken partition has no artifact to keep
        out.add(f"ingest/{ingest_key}")
        out.add(f"normalize/{normalize_key(ingest_key, partition.dt, config)}")
    try:
        out.add(f"bloggers/{bloggers_key(plan.bloggers, config)}")
    except ContractError:
        pass
    return out
