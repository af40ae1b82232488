"""Drift stage: how much what advertisers see changed against production, once the candidate's
bloggers and topics exist; the second half of the gate (the first, in ``gate``, needs only the
model). Not an artifact: it reads artifacts that are, and returns the measurements, so a changed
threshold is applied on a rerun without recomputing anything.

- **ranking churn**: for each probe theme (``drift.probe_themes``, default: the labels of
  production's ``drift.probe_topics`` largest fixed topics, flagged ones left out), the share of
  the top ``drift.ranking_top`` bloggers (exact ranking, the search's popularity discount) that
  are not in production's top list for the same theme; the mean over the probes is gated.
- **topic changes**: the clusters stage matched the candidate's topics with production's (ids
  carried over): topics born, died, split and merged, and their share of production's topics.

With ``evaluate``'s neighbour overlap and vocabulary churn this is the run's ``drift`` (run report,
version manifest, versions view). A breached threshold writes the rejected run's report and fails.
"""

from __future__ import annotations

import logging
from typing import Any

from topictensor.artifacts import Artifact, ArtifactRef
from topictensor.config import PipelineConfig
from topictensor.errors import GateFailed

log = logging.getLogger(__name__)

TOPIC_EVENTS = ("born", "died", "split", "merged")


def measure_drift(evaluation: ArtifactRef | dict, blogger_vectors: ArtifactRef | dict, clusters: ArtifactRef | dict,
                  config: PipelineConfig, *, run_id: str | None = None) -> dict[str, Any]:
    """The run's drift against the version the evaluate stage compared with (None: first model)."""
    from topictensor.errors import TopicTensorError
    from topictensor.registry import Registry
    from topictensor.stages.gate import OUTPUT_DRIFT, drift_breaches

    store = config.open_store()
    ev = Artifact(store, evaluation)
    extra = ev.manifest.get("extra") or {}
    champion = (extra.get("baseline") or {}).get("champion")
    drift: dict[str, Any] = dict(extra.get("drift") or {})
    if champion is None:
        return {"production_version": None, "drift": None, "passed": True}
    registry = Registry(store)
    cand_clusters = Artifact(store, clusters)
    try:
        prod_bloggers = registry.artifact(champion, "blogger_vectors")
        prod_model = registry.artifact(champion, "train")
        prod_clusters = registry.artifact(champion, "clusters")
        prod_bloggers.manifest, prod_model.manifest, prod_clusters.manifest  # noqa: B018 - present?
    except TopicTensorError as exc:  # a version published before these stages existed, or deleted artifacts
        log.warning("drift: ranking and topic churn not measured against %s: %s", champion, exc)
        drift.update(ranking_churn=None, ranking_note=str(exc))
        return {"production_version": champion, "drift": drift, "passed": True}
    model = Artifact(store, ev.input_ref("model"))
    probes = config.drift.probe_themes or largest_topic_labels(prod_clusters, config.drift.probe_topics)
    drift.update(ranking_churn_of(probes, (model, Artifact(store, blogger_vectors)), (prod_model, prod_bloggers),
                                  config))
    drift.update(topic_changes_of(cand_clusters, prod_clusters))
    failures = drift_breaches(drift, config.drift, OUTPUT_DRIFT)
    decision = {"passed": not failures, "failures": failures, "reason": "; ".join(failures),
                "production_version": champion, "drift": drift}
    if failures:
        from topictensor.runs import write_rejected

        write_rejected(store, run_id=run_id, stage="drift", decision=decision, evaluation=ev.manifest)
        raise GateFailed(decision["reason"])
    return decision


def largest_topic_labels(clusters: Artifact, n: int) -> list[str]:
    """Labels (``tag, tag, tag``: a theme query) of the ``n`` largest unflagged topics."""
    columns = ["label", "size", "flags"]
    table = clusters.read_table("topics.parquet", columns=columns).to_pandas()
    table = table[[not list(f) for f in table["flags"]]] if "flags" in table else table
    return table.sort_values(["size", "label"], ascending=[False, True])["label"].head(n).tolist()


def ranking_churn_of(probes: list[str], candidate: tuple[Artifact, Artifact], production: tuple[Artifact, Artifact],
                     config: PipelineConfig) -> dict[str, Any]:
    """Per probe theme: the share of the candidate's top bloggers not in production's top."""
    from topictensor.embeddings import Embeddings
    from topictensor.search.bloggers import FILENAME, BloggerTable, Popularity, rank_bloggers
    from topictensor.search.themes import QueryError, build_theme

    top = config.drift.ranking_top
    popularity = Popularity.from_config(config.search)
    tops: list[dict[str, set[str] | None]] = []
    for model_art, bloggers_art in (candidate, production):
        emb = Embeddings.load(model_art.path("embeddings.parquet"))
        table = BloggerTable.read(bloggers_art.path(FILENAME))
        found: dict[str, set[str] | None] = {}
        for probe in probes:
            try:
                theme = build_theme(probe, emb)
            except QueryError:  # none of the probe's tags known to this model
                found[probe] = None
                continue
            hits = rank_bloggers(table, theme.vector, top, popularity=popularity, config=config.search).hits
            found[probe] = {h.blogger_id for h in hits}
        tops.append(found)
    rows = []
    for probe in probes:
        mine, theirs = tops[0][probe], tops[1][probe]
        if theirs is None:
            continue  # production cannot answer it: nothing to compare
        if mine is None:
            churn = 1.0  # the candidate lost the theme altogether
        else:
            size = max(len(mine), len(theirs))
            churn = 1.0 - len(mine & theirs) / size if size else 0.0
        rows.append({"theme": probe, "churn": churn, "top": len(theirs)})
    mean = sum(r["churn"] for r in rows) / len(rows) if rows else None
    return {"ranking_churn": mean, "ranking_top": top, "probes": rows}


def topic_changes_of(candidate: Artifact, production: Artifact) -> dict[str, Any]:
    """Born / died / split / merged as the clusters stage matched them against production's topics."""
    counts = candidate.manifest.get("counts", {})
    previous = int(production.manifest.get("counts", {}).get("topics", 0))
    changes = {f"topics_{e}": int(counts.get(f"topics_{e}", 0)) for e in TOPIC_EVENTS}
    changed = sum(changes.values())
    return {**changes, "topics": int(counts.get("topics", 0)), "production_topics": previous,
            "topics_changed_share": changed / previous if previous else None}
