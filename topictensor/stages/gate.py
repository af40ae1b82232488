"""The quality gate: champion against challenger on the same posts, and the model's drift.

A candidate passes when (all on this run's held-out posts, see ``topictensor.stages.evaluate``):

1. its own held-out quality is at least ``gate.min_quality`` (the floor);
2. it is not worse than production by more than ``gate.tolerance``;
3. it is not worse than the best of the last ``gate.best_of_last`` promoted versions by more than
   ``gate.tolerance``: a slide of small drops, each within the tolerance of the week before, is
   caught once it adds up to more than the tolerance within N promotions;
4. no drift threshold of ``drift`` is breached (neighbour overlap, new and vanished tags here;
   ranking and topic churn in the ``drift`` stage, once bloggers and topics exist).

A failed gate writes the run's report (``runs/``, status ``rejected``, with the comparison and
the reasons) and raises, so the run fails visibly and the production pointer is never touched.
"""

from __future__ import annotations

from typing import Any

from topictensor.artifacts import Artifact, ArtifactRef
from topictensor.config import DriftConfig, PipelineConfig
from topictensor.errors import GateFailed
from topictensor.registry import Registry


def gate(evaluation: ArtifactRef | dict, config: PipelineConfig, *, run_id: str | None = None) -> dict[str, Any]:
    store = config.open_store()
    manifest = Artifact(store, evaluation).manifest
    extra = manifest.get("extra") or {}
    decision = decide(manifest["metrics"]["quality"], extra.get("comparison"), floor=config.gate.min_quality,
                      tolerance=config.gate.tolerance, drift=extra.get("drift"), thresholds=config.drift)
    # The version publish's compare-and-swap expects, and whose topic ids the clusters carry over:
    # production as it is now (the champion, except in a rerun after this very model was published).
    decision["production_version"] = Registry(store).production()
    if not decision["passed"]:
        from topictensor.runs import write_rejected

        write_rejected(store, run_id=run_id, stage="gate", decision=decision, evaluation=manifest)
        raise GateFailed(decision["reason"])
    return decision


def decide(quality: float, comparison: dict[str, Any] | None, *, floor: float, tolerance: float,
           drift: dict[str, Any] | None = None, thresholds: DriftConfig | None = None) -> dict[str, Any]:
    """Pure rule, returned with every check and the reason so the log says why."""
    failures: list[str] = []
    if quality < floor:
        failures.append(f"quality {quality:.4f} is below the floor {floor:.4f}")
    comparison = comparison or {}
    mine = comparison.get("candidate_quality")
    prod, prod_quality = comparison.get("production_version"), comparison.get("production_quality")
    posts = comparison.get("posts")
    if mine is not None and prod_quality is not None and mine < prod_quality - tolerance:
        failures.append(f"on the same {posts:,} held-out posts the candidate scores {mine:.4f}, production {prod} "
                        f"{prod_quality:.4f}: worse by {prod_quality - mine:.4f}, more than the tolerance {tolerance:.4f}")
    best, best_quality = comparison.get("best_recent_version"), comparison.get("best_recent_quality")
    if (mine is not None and best_quality is not None and best != prod and mine < best_quality - tolerance):
        n = len(comparison.get("recent") or [])
        failures.append(f"slow slide: on the same {posts:,} held-out posts the candidate scores {mine:.4f}, the best "
                        f"of the last {n} promoted versions ({best}) {best_quality:.4f}: worse by "
                        f"{best_quality - mine:.4f}, more than the tolerance {tolerance:.4f}")
    failures += drift_breaches(drift, thresholds, MODEL_DRIFT)
    if failures:
        reason = "; ".join(failures)
    elif prod_quality is not None:
        reason = (f"quality {quality:.4f} >= floor {floor:.4f}; on the same {posts:,} held-out posts the candidate "
                  f"scores {mine:.4f}, production {prod} {prod_quality:.4f} ({mine - prod_quality:+.4f})"
                  + (f", best of the last {len(comparison.get('recent') or [])} {best_quality:.4f}"
                     if best_quality is not None else ""))
    else:
        reason = f"quality {quality:.4f} >= floor {floor:.4f}; no model in production to compare with"
    return {
        "passed": not failures,
        "reason": reason,
        "failures": failures,
        "quality": quality,
        "floor": floor,
        "tolerance": tolerance,
        "candidate_quality": mine,
        "champion_version": prod,
        "production_quality": prod_quality,
        "best_recent_version": best,
        "best_recent_quality": best_quality,
        "posts": posts,
    }


MODEL_DRIFT = ("neighbour_overlap_at_10", "tags_new_share", "tags_vanished_share")  # known at the gate
OUTPUT_DRIFT = ("ranking_churn", "topics_changed_share")  # known once bloggers and topics exist (drift stage)


def drift_breaches(drift: dict[str, Any] | None, thresholds: DriftConfig | None,
                   names: tuple[str, ...] = MODEL_DRIFT + OUTPUT_DRIFT) -> list[str]:
    """Every configured threshold on the figures ``names`` that the measured drift breaches, as a
    reason each (a figure not measured is not checked)."""
    if not drift or thresholds is None:
        return []
    out = []
    checks = [
        ("neighbour_overlap_at_10", thresholds.min_neighbour_overlap, "below", "neighbour overlap@10 over shared tags"),
        ("tags_new_share", thresholds.max_tags_new_share, "above", "new tags (share of production's vocabulary)"),
        ("tags_vanished_share", thresholds.max_tags_vanished_share, "above",
         "vanished tags (share of production's vocabulary)"),
        ("ranking_churn", thresholds.max_ranking_churn, "above", "ranking churn of the probe themes' top bloggers"),
        ("topics_changed_share", thresholds.max_topics_changed_share, "above",
         "topics born, died, split or merged (share of production's topics)"),
    ]
    for name, limit, side, what in checks:
        if name not in names:
            continue
        value = drift.get(name)
        if limit is None or value is None:
            continue
        if (side == "below" and value < limit) or (side == "above" and value > limit):
            setting = {"neighbour_overlap_at_10": "min_neighbour_overlap"}.get(name, f"max_{name}")
            out.append(f"drift: {what} is {value:.4f}, {side} the threshold drift.{setting} = {limit:.4f}")
    return out
