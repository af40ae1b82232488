"""Evaluate stage: the candidate (challenger) and the production model (champion) on the same posts.

Two figures per run:

- ``quality``: the candidate's own held-out quality (the source project's metric, see
  ``topictensor.quality``: only tags the model knows count). The gate's floor applies to it, and it
  is what the versions view plots week over week.
- the **comparison**: the candidate, production and the last ``gate.best_of_last`` promoted
  versions, each scored on *this run's* held-out posts with one rule for all
  (:func:`topictensor.quality.quality_on_universe`): a post's tags are the ones any compared model
  knows, and a tag a model does not know counts against it (0 hits on its slots, never found as a
  neighbour), so no model wins by knowing less. The gate compares these figures, never a figure a
  model scored on other posts.

And the model's own **drift** against production: neighbour overlap@10 over the tags both know
(a sample of ``drift.sample_tags``), and vocabulary churn (new and vanished tags, with counts).
Ranking and topic drift need the bloggers and topics and are measured after them (``drift``).

The versions compared are "production at the time": they are inputs of this stage's key, so a rerun
is a no-op and a promotion or rollback recomputes the comparison. A rerun after this very model was
published finds itself in production; it then compares with what it was compared with when it was
the candidate (recorded in its own evaluate artifact), so the rerun stays a no-op.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np

from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import PipelineConfig
from topictensor.store import Store

STAGE = "evaluate"
NEIGHBOURS = 10  # overlap@10
TAGS_LISTED = 20  # new / vanished tags listed by name (most used first); the totals are exact
log = logging.getLogger(__name__)


def evaluate_model(model: ArtifactRef | dict, splits: ArtifactRef | dict, config: PipelineConfig) -> ArtifactRef:
    store = config.open_store()
    model_art, split_art = Artifact(store, model), Artifact(store, splits)
    baseline = comparison_baseline(store, model_art.ref, config.gate.best_of_last)
    compared = _train_artifacts(store, baseline)

    def compute(ws: Workspace) -> StageResult:
        from topictensor.embeddings import Embeddings
        from topictensor.quality import quality

        emb = Embeddings.load(model_art.path("embeddings.parquet"))
        from topictensor.stages.split import SplitPosts

        heldout = SplitPosts(store, split_art).table("heldout", ["tags"]).column("tags").to_pylist()
        limit = config.evaluate.max_posts
        if limit is not None and len(heldout) > limit:
            picked = np.random.default_rng(0).choice(len(heldout), size=limit, replace=False)
            heldout = [heldout[i] for i in sorted(picked)]
        result = quality(emb, heldout)
        metrics = {"quality": result.quality, "hits": result.hits, "total": result.total}
        counts = {"posts": result.posts, "posts_skipped": result.posts_skipped}
        comparison, drift = None, None
        if compared:
            from topictensor.quality import quality_on_universe

            # One rule for every model: the posts' tags are those any of them knows. The vocabularies
            # first (a column read), then one model in memory at a time besides the candidate.
            universe = set(emb.index)
            for art in compared.values():
                universe |= set(art.read_table("embeddings.parquet", columns=["tag"]).column("tag").to_pylist())
            scores = {}
            for vid, art in compared.items():
                other = Embeddings.load(art.path("embeddings.parquet"))
                scores[vid] = quality_on_universe(other, heldout, universe).quality
                if vid == baseline["champion"]:
                    drift = model_drift(emb, other, config.drift.sample_tags)
                del other
            comparison = compare(quality_on_universe(emb, heldout, universe), scores, len(universe), baseline)
        if comparison:
            metrics["candidate_quality"] = comparison["candidate_quality"]
            counts["comparison_posts"] = comparison["posts"]
            if comparison["production_quality"] is not None:
                metrics["production_quality"] = comparison["production_quality"]
        if drift:
            metrics["neighbour_overlap_at_10"] = drift["neighbour_overlap_at_10"]
            counts.update(tags_new=drift["tags_new"], tags_vanished=drift["tags_vanished"])
        ws.path("metrics.json").write_text(json.dumps(
            {**metrics, "posts": result.posts, "posts_skipped": result.posts_skipped}, indent=2))
        ws.path("comparison.json").write_text(json.dumps({"comparison": comparison, "drift": drift}, indent=2))
        return StageResult(counts=counts, metrics=metrics,
                           extra={"baseline": baseline, "comparison": comparison, "drift": drift})

    return run_stage(store, STAGE, code=code_version(__name__, "topictensor.quality", "topictensor.ranking", "topictensor.vectors", "topictensor.embeddings"),
                     params={**config.evaluate.model_dump(mode="json"), "sample_tags": config.drift.sample_tags},
                     inputs={"model": model_art.ref, "split": split_art.ref,
                             "compared": {vid: f"{a.ref.stage}/{a.ref.key}" for vid, a in compared.items()},
                             "champion": baseline["champion"]},
                     compute=compute)


def comparison_baseline(store: Store, model: ArtifactRef, best_of_last: int) -> dict[str, Any]:
    """``{"champion": production version or None, "recent": the last best_of_last promoted versions}``
    (newest first, production included), as the registry stands now; see the module docstring for a
    rerun after this model was published."""
    from topictensor.registry import Registry, RegistryError

    registry = Registry(store)
    production = registry.production()
    if production is None:
        return {"champion": None, "recent": []}
    if _train_key(registry, production) == model.key:  # this model is already in production
        try:
            recorded = registry.artifact(production, STAGE).manifest.get("extra", {}).get("baseline")
        except RegistryError:
            recorded = None
        if recorded is not None:
            return recorded
        gate = registry.get_version(production).get("gate") or {}
        champion = gate.get("champion_version", gate.get("production_version"))
        return {"champion": champion if champion != production else None, "recent": []}
    recent: list[str] = []
    for vid in reversed(registry.promotion_stack()):
        if len(recent) >= best_of_last:
            break
        if vid not in recent and _train_key(registry, vid) != model.key:
            recent.append(vid)
    return {"champion": production, "recent": recent}


def _train_key(registry, vid: str) -> str | None:
    from topictensor.registry import RegistryError

    try:
        refs = registry.get_version(vid)["stages"].get("train") or []
    except RegistryError:
        return None
    return refs[0]["key"] if refs else None


def _train_artifacts(store: Store, baseline: dict[str, Any]) -> dict[str, Artifact]:
    """The train artifact of every version compared with. Production's must exist (else the run
    cannot be compared and fails); an older version whose artifacts were deleted is left out."""
    from topictensor.errors import TopicTensorError
    from topictensor.registry import Registry

    registry = Registry(store)
    out: dict[str, Artifact] = {}
    for vid in dict.fromkeys([v for v in [baseline["champion"], *baseline["recent"]] if v]):
        try:
            out[vid] = registry.artifact(vid, "train")
            out[vid].manifest  # noqa: B018 - fails now when the manifest is gone
        except TopicTensorError as exc:  # no such artifact, or its manifest deleted (gc)
            if vid == baseline["champion"]:
                from topictensor.registry import RegistryError

                raise RegistryError(f"production version {vid}'s model cannot be read ({exc}), so the candidate "
                                    f"cannot be compared with it: restore it, or promote or roll back to a version "
                                    f"whose artifacts exist (topictensor verify {vid})") from None
            log.warning("evaluate: version %s is not compared: %s", vid, exc)
            out.pop(vid, None)
    return out


def compare(mine, scores: dict[str, float], tags: int, baseline: dict[str, Any]) -> dict[str, Any]:
    """The comparison record: the candidate's same-posts result ``mine`` and every compared
    version's quality on the same posts (``scores``), over ``tags`` tags (the union)."""
    champion = baseline["champion"]
    recent = [{"version": vid, "quality": scores[vid]} for vid in baseline["recent"] if vid in scores]
    best = max(recent, key=lambda r: r["quality"], default=None)
    return {
        "rule": "each model scored on this run's held-out posts; a post's tags are those any compared model knows; "
                "a tag a model does not know counts against it",
        "posts": mine.posts,
        "tags": tags,
        "candidate_quality": mine.quality,
        "production_version": champion,
        "production_quality": scores.get(champion),
        "recent": recent,
        "best_recent_version": best["version"] if best else None,
        "best_recent_quality": best["quality"] if best else None,
    }


def model_drift(candidate, production, sample_tags: int | None) -> dict[str, Any] | None:
    """Neighbour overlap@10 over shared tags and vocabulary churn against ``production``."""
    from topictensor.quality import neighbour_overlap

    if production is None:
        return None
    mine, theirs = set(candidate.index), set(production.index)
    shared = sorted(mine & theirs)
    queries = shared
    if sample_tags is not None and len(shared) > sample_tags:
        picked = np.random.default_rng(0).choice(len(shared), size=sample_tags, replace=False)
        queries = [shared[i] for i in sorted(picked)]
    overlap = neighbour_overlap(candidate, production, shared, queries, k=NEIGHBOURS)
    new = sorted(mine - theirs, key=lambda t: (-int(candidate.counts[candidate.index[t]]), t))
    vanished = sorted(theirs - mine, key=lambda t: (-int(production.counts[production.index[t]]), t))
    return {
        "neighbour_overlap_at_10": overlap,
        "shared_tags": len(shared),
        "overlap_tags_sampled": len(queries),
        "production_tags": len(theirs),
        "tags_new": len(new),
        "tags_vanished": len(vanished),
        "tags_new_share": len(new) / len(theirs) if theirs else 0.0,
        "tags_vanished_share": len(vanished) / len(theirs) if theirs else 0.0,
        "top_new": [[t, int(candidate.counts[candidate.index[t]])] for t in new[:TAGS_LISTED]],
        "top_vanished": [[t, int(production.counts[production.index[t]])] for t in vanished[:TAGS_LISTED]],
    }
