"""Clusters stage: the production-candidate model's tags grouped into named, stably numbered topics.

Runs after the gate (only a model that will be published gets topics). ``previous`` is the
production version's clusters artifact: its key is an input of this stage's key, so the ids a
run carries over are decided by exactly the artifacts it names, and a rerun gives the same ids.
Writes topics.parquet, members.parquet, changes.parquet, changes.json, tree.json, report.html,
and map.parquet: the explorer's 2-D layout of the most used tags (``topictensor.topics.map``),
computed here once so the service never lays a map out per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import PipelineConfig
from topictensor.store import Store
from topictensor.topics.params import TopicsConfig

STAGE = "clusters"
log = logging.getLogger(__name__)

ENGINE_MODULES = (
    "topictensor.topics.build", "topictensor.topics.reduce", "topictensor.topics.cluster",
    "topictensor.topics.label", "topictensor.topics.merge", "topictensor.topics.match",
    "topictensor.topics.tree", "topictensor.topics.report", "topictensor.topics.params",
    "topictensor.topics.map", "topictensor.topics.place",
)


def production_clusters(store: Store, version: str | None = None) -> Artifact | None:
    """The clusters artifact of ``version`` (None: the production version), or None when there is
    none (nothing in production, or a version published before this stage existed). In the DAG pass
    the gate's ``decision["production_version"]``: the version the run compared against, so a
    promotion by an operator mid-run cannot change which ids this run carries over."""
    from topictensor.registry import Registry, RegistryError

    registry = Registry(store)
    if version is None and registry.production() is None:
        return None
    try:
        return registry.artifact(version, STAGE)
    except RegistryError:
        return None


def clusters(model_ref: ArtifactRef | dict, config: PipelineConfig, section: TopicsConfig | None = None, *,
             previous: Artifact | ArtifactRef | dict | None = None,
             filtered: Sequence[ArtifactRef | dict] = ()) -> ArtifactRef:
    """``filtered``: the filter artifacts of the model's languages; the tags their review marked
    ``generic`` flag topics made of them (``TopicsConfig.generic_share``)."""
    store = config.open_store()
    cfg = section or config.clusters
    model = Artifact(store, model_ref)
    baseline = _baseline(store, previous, model.ref)
    reviews = [Artifact(store, ref) for ref in filtered]

    def compute(ws: Workspace) -> StageResult:
        from topictensor.embeddings import Embeddings
        import pyarrow.parquet as pq

        from topictensor.topics.build import MEMBERS_FILE, PreviousTopics, build_to_dir
        from topictensor.topics.map import MAP_FILE, map_table

        emb = Embeddings.load(model.path("embeddings.parquet"))
        prev = None
        if baseline is not None:
            prev = PreviousTopics.load(baseline.path, source=f"{baseline.ref.stage}/{baseline.ref.key}")
        summary = build_to_dir(emb, cfg, ws.root, previous=prev, title=f"Topics of model {model.ref.key}",
                               generic_tags=generic_review_tags(reviews))
        started = time.perf_counter()
        members = pq.read_table(ws.path(MEMBERS_FILE), columns=["tag", "topic_id"]).to_pandas()
        table, method = map_table(emb, members, cfg.explorer_map_tags, cfg.seed)
        pq.write_table(table, ws.path(MAP_FILE))
        map_seconds = time.perf_counter() - started
        log.info("clusters: explorer map of %d tags (%s) in %.1f s", table.num_rows, method, map_seconds)
        count_names = ("tags", "clustered_tags", "fitted_tags", "placed_tags", "topics", "noise_tags", "soft_members", "flagged_topics", "generic_topics",
                       "groups", "topics_persisted", "topics_born", "topics_died", "topics_split",
                       "topics_merged", "ids_kept", "next_topic_id")
        return StageResult(
            counts={k: summary[k] for k in count_names},
            metrics={"noise_share": summary["noise_share"], "mean_coherence": summary["mean_coherence"],
                     "id_kept_share": summary["id_kept_share"], "map_seconds": round(map_seconds, 3),
                     "fit_seconds": round(summary.get("reduce_seconds", 0.0) + summary.get("cluster_seconds", 0.0), 3),
                     "place_seconds": summary.get("place_seconds", 0.0)},
            extra={"reason": summary["reason"], "previous": summary["previous"], "map_method": method,
                   "map_tags": table.num_rows},
        )

    return run_stage(store, STAGE, code=code_version(__name__, *ENGINE_MODULES), params=cfg,
                     inputs={"model": model.ref, "previous": baseline.ref if baseline else None,
                             **({"filtered": [r.ref for r in reviews]} if reviews else {})},
                     compute=compute)


def generic_review_tags(reviews: Sequence[Artifact]) -> set[str]:
    """Tags any language's filter review marked ``generic`` (a review without the column: none)."""
    out: set[str] = set()
    for art in reviews:
        review = art.read_table("review.parquet")
        if "generic" in review.column_names:
            tags, flags = review.column("tag").to_pylist(), review.column("generic").to_pylist()
            out.update(t for t, flag in zip(tags, flags) if flag)
    return out


def _baseline(store: Store, previous: Artifact | ArtifactRef | dict | None, model: ArtifactRef) -> Artifact | None:
    """The artifact to carry ids from. When ``previous`` was itself built from this same model (the
    pipeline rerun after publishing), use what *it* was built against instead
    (:meth:`Artifact.past_own_output`)."""
    if previous is None:
        return None
    art = previous if isinstance(previous, Artifact) else Artifact(store, previous)
    return art.past_own_output(("model", model), previous="previous")[0]


def clusters_after_gate(model_ref: ArtifactRef | dict, decision: dict, config: PipelineConfig,
                        section: TopicsConfig | None = None,
                        filtered: Sequence[ArtifactRef | dict] = ()) -> ArtifactRef:
    """What the DAG and ``run_pipeline`` call: cluster the gated model, carrying ids over from the
    clusters of the production version the gate compared with (none on the first run)."""
    store = config.open_store()
    version = decision.get("production_version")
    previous = production_clusters(store, version) if version else None
    return clusters(model_ref, config, section, previous=previous, filtered=filtered)
