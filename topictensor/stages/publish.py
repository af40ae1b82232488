"""Publish: record the model version (every artifact it is made of) and move the pointer.

The version manifest is written before the pointer moves, and the pointer moves by
compare-and-swap against the production version the gate compared with: if an operator promoted
or rolled back meanwhile, the run fails instead of silently overriding them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from topictensor import __version__
from topictensor.artifacts import Artifact, ArtifactRef
from topictensor.config import PipelineConfig
from topictensor.registry import Registry, version_id

RefOrList = ArtifactRef | dict | Sequence[ArtifactRef | dict]


def publish(stages: Mapping[str, RefOrList], decision: Mapping[str, Any], config: PipelineConfig,
            *, run_id: str | None = None, window: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``stages``: every versioned stage's reference (a list for a mapped one); ``window``: the
    training window the run's plan chose (recorded in the version and the run report)."""
    store = config.open_store()
    registry = Registry(store)
    refs = {name: _refs(value) for name, value in stages.items()}
    stage_keys = {name: [r.key for r in rs] if isinstance(stages[name], (list, tuple)) else rs[0].key
                  for name, rs in refs.items()}
    vid = version_id(stage_keys)
    manifests = {(r.stage, r.key): Artifact(store, r).manifest for rs in refs.values() for r in rs}
    evaluation = manifests[(refs["evaluate"][0].stage, refs["evaluate"][0].key)]
    manifest = {
        "version": vid,
        "created_at": datetime.now(timezone.utc).isoformat(),
        "run_id": run_id,
        "package_version": __version__,
        "stages": {name: [{"stage": r.stage, "key": r.key} for r in rs] for name, rs in refs.items()},
        "metrics": evaluation["metrics"],
        "counts": {name: _merge_counts(rs) for name, rs in refs.items()},
        "code_versions": {name: manifests[(rs[0].stage, rs[0].key)]["code_version"] for name, rs in refs.items()},
        "config": config.model_dump(mode="json"),
        "gate": dict(decision),
        "window": dict(window) if window else None,
    }
    _, created = registry.write_version(manifest)
    event = registry.promote(vid, reason=f"pipeline run {run_id or 'manual'}",
                             expected=decision.get("production_version"))
    report = {
        "run_id": run_id,
        "finished_at": datetime.now(timezone.utc).isoformat(),
        "version": vid,
        "version_created": created,
        "promoted": event["changed"],
        "previous_production": event["previous"],
        "quality": manifest["metrics"].get("quality"),
        "window": manifest["window"],
        "stages": [
            {"stage": name, "label": _label(manifests[(r.stage, r.key)]), "key": r.key, "reused": r.reused, "seconds": r.seconds,
             "counts": r.counts}
            for name, rs in refs.items() for r in rs
        ],
    }
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    store.write_text(f"runs/{stamp}-{vid}.json", json.dumps(report, indent=2, default=str))
    return report


def _refs(value: RefOrList) -> list[ArtifactRef]:
    if isinstance(value, (list, tuple)):
        return [ArtifactRef.from_dict(v) for v in value]
    return [ArtifactRef.from_dict(value)]


def _merge_counts(refs: list[ArtifactRef]) -> dict[str, int]:
    if len(refs) == 1:
        return dict(refs[0].counts)
    total: dict[str, int] = {}
    for r in refs:
        for k, v in r.counts.items():
            total[k] = total.get(k, 0) + v
    return total


def _label(manifest: Mapping[str, Any]) -> str | None:
    """Which element of a mapped stage: its language or its partition's day."""
    params = manifest.get("params", {})
    return params.get("lang") or params.get("dt")
