"""The quality gate: a candidate is promoted only when it is good in absolute terms and not
clearly worse than what is in production. A failed gate raises, so the run fails visibly and the
production pointer is never touched."""

from __future__ import annotations

from typing import Any

from topictensor.artifacts import Artifact, ArtifactRef
from topictensor.config import PipelineConfig
from topictensor.errors import GateFailed
from topictensor.registry import Registry


def gate(evaluation: ArtifactRef | dict, config: PipelineConfig) -> dict[str, Any]:
    store = config.open_store()
    metrics = Artifact(store, evaluation).manifest["metrics"]
    decision = decide(metrics["quality"], Registry(store).production_manifest(),
                      floor=config.gate.min_quality, tolerance=config.gate.tolerance)
    if not decision["passed"]:
        raise GateFailed(decision["reason"])
    return decision


def decide(quality: float, production: dict[str, Any] | None, *, floor: float, tolerance: float) -> dict[str, Any]:
    """Pure rule, returned with its reason so the log says why."""
    prod_version = production["version"] if production else None
    prod_quality = production["metrics"].get("quality") if production else None
    if quality < floor:
        passed, reason = False, f"quality {quality:.4f} is below the floor {floor:.4f}"
    elif prod_quality is not None and quality < prod_quality - tolerance:
        passed, reason = False, (
            f"quality {quality:.4f} is below production {prod_version}'s {prod_quality:.4f} "
            f"minus the tolerance {tolerance:.4f}"
        )
    else:
        against = f"production {prod_version} at {prod_quality:.4f}" if prod_quality is not None else "no production model"
        passed, reason = True, f"quality {quality:.4f} >= floor {floor:.4f}; compared with {against}"
    return {
        "passed": passed,
        "reason": reason,
        "quality": quality,
        "floor": floor,
        "tolerance": tolerance,
        "production_version": prod_version,
        "production_quality": prod_quality,
    }
