"""Run reports: one JSON object per pipeline run under ``runs/`` in the store, never rewritten.

A run that reaches publish writes ``runs/<time>-<version>.json`` (``status``: promoted, unchanged,
candidate = registered and waiting for a person's promote, backfill = registered, not promoted);
a run the gate rejects writes ``runs/<time>-rejected.json`` with the comparison, the drift and the
reasons. The file's name without ``.json`` is the run's name in ``topictensor runs show|diff``.

Every report carries ``comparison`` (candidate_quality, production_quality, posts: the candidate and
production scored on the same held-out posts) and ``drift`` (neighbour_overlap_at_10, tags_new,
tags_vanished, ranking_churn, topic changes), both None on the first run (nothing to compare).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from topictensor.errors import NotFound
from topictensor.store import Store

PREFIX = "runs"
COMPARISON_FIELDS = ("candidate_quality", "production_quality", "production_version", "posts",
                     "best_recent_quality", "best_recent_version")
DRIFT_FIELDS = ("neighbour_overlap_at_10", "tags_new", "tags_vanished", "tags_new_share", "tags_vanished_share",
                "ranking_churn", "topics_born", "topics_died", "topics_split", "topics_merged",
                "topics_changed_share")


class RunNotFound(NotFound):
    """No run report of that name (or no run yet)."""


def stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def write_report(store: Store, report: dict[str, Any], suffix: str) -> str:
    name = f"{stamp()}-{suffix}"
    store.write_text(f"{PREFIX}/{name}.json", json.dumps({**report, "run": name}, indent=2, default=str))
    return name


def comparison_of(evaluation: dict[str, Any] | None) -> dict[str, Any] | None:
    """The report's ``comparison`` from the evaluate artifact's manifest (None: nothing compared)."""
    comparison = ((evaluation or {}).get("extra") or {}).get("comparison")
    if not comparison:
        return None
    return {k: comparison.get(k) for k in COMPARISON_FIELDS} | {"recent": comparison.get("recent", [])}


def drift_of(evaluation: dict[str, Any] | None, drift: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The report's ``drift``: the drift stage's measurements, else evaluate's (model drift only)."""
    measured = (drift or {}).get("drift") or ((evaluation or {}).get("extra") or {}).get("drift")
    if not measured:
        return None
    out = {k: measured.get(k) for k in DRIFT_FIELDS}
    out["top_new"], out["top_vanished"] = measured.get("top_new", [])[:10], measured.get("top_vanished", [])[:10]
    out["probes"] = measured.get("probes", [])
    return out


def write_rejected(store: Store, *, run_id: str | None, stage: str, decision: dict[str, Any],
                   evaluation: dict[str, Any]) -> str:
    """The report of a run the gate (or the drift stage) rejected: nothing was registered."""
    report = {
        "run_id": run_id,
        "finished_at": datetime.now(timezone.utc).isoformat(),
        "status": "rejected",
        "rejected_by": stage,
        "reason": decision.get("reason"),
        "failures": decision.get("failures", []),
        "version": None,
        "promoted": False,
        "previous_production": decision.get("production_version"),
        "quality": (evaluation.get("metrics") or {}).get("quality"),
        "comparison": comparison_of(evaluation),
        "drift": drift_of(evaluation, decision if stage == "drift" else None),
        "evaluate": f"{evaluation.get('stage')}/{evaluation.get('key')}",
        "stages": [],
    }
    return write_report(store, report, "rejected")


def names(store: Store) -> list[str]:
    """Report names, oldest first."""
    return [k.rsplit("/", 1)[-1][: -len(".json")] for k in store.list(PREFIX) if k.endswith(".json")]


def load(store: Store, name: str) -> dict[str, Any]:
    report = json.loads(store.read_text(f"{PREFIX}/{name}.json"))
    report.setdefault("run", name)
    report.setdefault("status", _legacy_status(report))
    return report


def _legacy_status(report: dict[str, Any]) -> str:
    return "promoted" if report.get("promoted") else "unchanged"


def list_reports(store: Store) -> list[dict[str, Any]]:
    return [load(store, n) for n in names(store)]


def find(store: Store, ref: str | None = None) -> dict[str, Any]:
    """The report named ``ref``: its name, a unique prefix of it, its run id (the latest run with that
    id) or its model version (the latest run that made it); None or ``latest``: the newest report."""
    all_names = names(store)
    if not all_names:
        raise RunNotFound(f"no pipeline run has finished yet in {store.uri}")
    if ref in (None, "", "latest"):
        return load(store, all_names[-1])
    if ref in all_names:
        return load(store, ref)
    prefixed = [n for n in all_names if n.startswith(ref)]
    if len(prefixed) == 1:
        return load(store, prefixed[0])
    for name in reversed(all_names):
        report = load(store, name)
        if ref in (report.get("run_id"), report.get("version")):
            return report
    hint = ", ".join(all_names[-3:])
    more = f" ({len(prefixed)} runs start with it: be more precise)" if prefixed else ""
    raise RunNotFound(f"no run {ref!r} in {store.uri}{more}; a run is named by its report (latest: {hint}), "
                      f"its run id or its model version (see: topictensor runs list)")


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """One row of ``runs list``."""
    comparison, drift = report.get("comparison") or {}, report.get("drift") or {}
    return {
        "run": report.get("run"),
        "run_id": report.get("run_id"),
        "status": report.get("status"),
        "version": report.get("version"),
        "quality": report.get("quality"),
        "candidate_quality": comparison.get("candidate_quality"),
        "production_quality": comparison.get("production_quality"),
        "posts": comparison.get("posts"),
        "neighbour_overlap_at_10": drift.get("neighbour_overlap_at_10"),
        "tags_new": drift.get("tags_new"),
        "tags_vanished": drift.get("tags_vanished"),
        "ranking_churn": drift.get("ranking_churn"),
        "computed": sum(1 for s in report.get("stages", []) if not s.get("reused")),
        "seconds": round(sum(s.get("seconds", 0.0) for s in report.get("stages", []) if not s.get("reused")), 3),
    }


def diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """What changed from run ``a`` to run ``b``: outcome, figures (with deltas), window, stages."""
    def figures(report):
        row = summary(report)
        return {k: row[k] for k in ("quality", "candidate_quality", "production_quality", "posts",
                                    "neighbour_overlap_at_10", "tags_new", "tags_vanished", "ranking_churn",
                                    "seconds")}

    fa, fb = figures(a), figures(b)
    changes = {}
    for key in fa:
        x, y = fa[key], fb[key]
        delta = y - x if isinstance(x, (int, float)) and isinstance(y, (int, float)) else None
        changes[key] = {"a": x, "b": y, "delta": delta}
    days_a = set((a.get("window") or {}).get("partitions") or [])
    days_b = set((b.get("window") or {}).get("partitions") or [])
    keys_a = {(s["stage"], s.get("label")): s["key"] for s in a.get("stages", [])}
    keys_b = {(s["stage"], s.get("label")): s["key"] for s in b.get("stages", [])}
    return {
        "a": a.get("run"), "b": b.get("run"),
        "status": {"a": a.get("status"), "b": b.get("status")},
        "version": {"a": a.get("version"), "b": b.get("version")},
        "figures": changes,
        "partitions_added": sorted(d for d in days_b - days_a if d),
        "partitions_dropped": sorted(d for d in days_a - days_b if d),
        "stages_changed": sorted(f"{s}[{label}]" if label else s for (s, label), key in keys_b.items()
                                 if keys_a.get((s, label)) != key),
        "stages_same": sum(1 for k, key in keys_b.items() if keys_a.get(k) == key),
    }


def comparison_lines(report: dict[str, Any]) -> list[str]:
    """The report's comparison and drift as the summary's lines (what ``make demo`` prints)."""
    comparison, drift = report.get("comparison"), report.get("drift")
    lines = []
    if not comparison or comparison.get("production_quality") is None:
        lines.append("comparison: none (no model in production to compare with)")
    else:
        delta = comparison["candidate_quality"] - comparison["production_quality"]
        line = (f"comparison on the same {comparison['posts']:,} held-out posts: candidate "
                f"{comparison['candidate_quality']:.4f}, production {comparison['production_version']} "
                f"{comparison['production_quality']:.4f} ({delta:+.4f})")
        if comparison.get("best_recent_quality") is not None:
            line += (f"; best of the last {len(comparison.get('recent') or [])} promoted "
                     f"{comparison['best_recent_quality']:.4f} ({comparison['best_recent_version']})")
        lines.append(line)
    if drift:
        parts = []
        if drift.get("neighbour_overlap_at_10") is not None:
            parts.append(f"neighbour overlap@10 {drift['neighbour_overlap_at_10']:.3f}")
        parts.append(f"tags new {drift.get('tags_new', 0):,}, vanished {drift.get('tags_vanished', 0):,}")
        if drift.get("ranking_churn") is not None:
            parts.append(f"ranking churn (top bloggers of {len(drift.get('probes') or [])} probe themes) "
                         f"{drift['ranking_churn']:.3f}")
        if drift.get("topics_changed_share") is not None:
            parts.append("topics " + ", ".join(f"{drift.get('topics_' + e, 0)} {e}"
                                               for e in ("born", "died", "split", "merged")))
        lines.append("drift: " + "; ".join(parts))
        if drift.get("top_new"):
            lines.append("  new tags (most used): " + ", ".join(f"{t} {c}" for t, c in drift["top_new"][:5]))
        if drift.get("top_vanished"):
            lines.append("  vanished tags (most used): " + ", ".join(f"{t} {c}" for t, c in drift["top_vanished"][:5]))
    return lines
