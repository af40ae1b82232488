"""Publish: record the model version (every artifact it is made of) and, when the run may, move the pointer.

The version manifest is written before the pointer moves, and the pointer moves by
compare-and-swap against the production version the gate saw: if an operator promoted or rolled
back meanwhile, the run fails instead of silently overriding them.

Whether the run moves production:

- ``gate.promote: auto`` (default): yes, once the gate passed;
- ``gate.promote: manual``: no; the version is registered as a *candidate* with its comparison and
  drift, and a person promotes it (``topictensor versions promote``, or the Airflow versions view);
- a **backfill** (the run's newest window partition is older than production's): no, unless
  ``gate.promote_backfills``: rebuilding an old week must not replace a model trained on newer data.

Every run writes its report under ``runs/`` (see ``topictensor.runs``): reused stages are marked
reused with 0 s of work (the seconds the artifact took when it was made stay in its manifest).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from topictensor import __version__
from topictensor.artifacts import Artifact, ArtifactRef
from topictensor.config import PipelineConfig
from topictensor.registry import Registry, RegistryError, version_id

RefOrList = ArtifactRef | dict | Sequence[ArtifactRef | dict]


def publish(stages: Mapping[str, RefOrList], decision: Mapping[str, Any], config: PipelineConfig,
            *, run_id: str | None = None, window: Mapping[str, Any] | None = None,
            drift: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``stages``: every versioned stage's reference (a list for a mapped one); ``window``: the
    training window the run's plan chose (recorded in the version and the run report); ``drift``:
    the drift stage's result (ranking and topic churn), when the run measured it."""
    from topictensor.runs import comparison_of, drift_of, write_report

    store = config.open_store()
    registry = Registry(store)
    refs = {name: _refs(value) for name, value in stages.items()}
    stage_keys = {name: [r.key for r in rs] if isinstance(stages[name], (list, tuple)) else rs[0].key
                  for name, rs in refs.items()}
    vid = version_id(stage_keys)
    manifests = {(r.stage, r.key): Artifact(store, r).manifest for rs in refs.values() for r in rs}
    evaluation = manifests[(refs["evaluate"][0].stage, refs["evaluate"][0].key)]
    comparison, measured = comparison_of(evaluation), drift_of(evaluation, dict(drift) if drift else None)
    expected = decision.get("production_version")
    promote, why = should_promote(registry, config, window, expected)
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
        "comparison": comparison,
        "drift": measured,
        "publish": {"mode": config.gate.promote, "promoted": promote, "why": why},
    }
    _, created = registry.write_version(manifest)
    if promote:
        event = registry.promote(vid, reason=f"pipeline run {run_id or 'manual'}", expected=expected)
        status = "promoted" if event["changed"] else "unchanged"
        promoted, previous = event["changed"], event["previous"]
    else:
        current = registry.production()
        status = "unchanged" if current == vid else ("candidate" if config.gate.promote == "manual" else "backfill")
        promoted, previous = False, current
    report = {
        "run_id": run_id,
        "finished_at": datetime.now(timezone.utc).isoformat(),
        "status": status,
        "why": why,
        "version": vid,
        "version_created": created,
        "promoted": promoted,
        "previous_production": previous,
        "quality": manifest["metrics"].get("quality"),
        "gate": {"passed": bool(decision.get("passed", True)), "reason": decision.get("reason")},
        "comparison": comparison,
        "drift": measured,
        "window": manifest["window"],
        "stages": [
            {"stage": name, "label": _label(manifests[(r.stage, r.key)]), "key": r.key, "reused": r.reused,
             "seconds": 0.0 if r.reused else r.seconds, "counts": r.counts}
            for name, rs in refs.items() for r in rs
        ],
    }
    report["run"] = write_report(store, report, vid)
    return report


def should_promote(registry: Registry, config: PipelineConfig, window: Mapping[str, Any] | None,
                   production: str | None) -> tuple[bool, str]:
    """(move production?, why) for a run that passed the gate; see the module docstring."""
    if config.gate.promote == "manual":
        return False, ("gate.promote is manual: registered as a candidate; promote it with "
                       "`topictensor versions promote VERSION` or in the Airflow versions view")
    if production is None:
        return True, "gate passed; nothing was in production"
    newest = _newest_partition(window)
    try:
        theirs = _newest_partition(registry.get_version(production).get("window"))
    except RegistryError:
        theirs = None
    if newest and theirs and newest < theirs:
        if config.gate.promote_backfills:
            return True, f"backfill (window up to {newest}, production's up to {theirs}); gate.promote_backfills is on"
        return False, (f"backfill: this run's window ends with {newest}, production {production}'s with {theirs}; "
                       f"registered, not promoted (gate.promote_backfills is off; promote it by hand if wanted)")
    return True, "gate passed"


def _newest_partition(window: Mapping[str, Any] | None) -> str | None:
    days = [d for d in ((window or {}).get("partitions") or []) if d]
    return max(days) if days else None


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
