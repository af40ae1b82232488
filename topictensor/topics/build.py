"""The topics engine, pure: tag vectors in, a topics table and a members table out.

Steps: unit-normalise -> keep tags used at least ``min_count`` times -> reduce (UMAP to 5-D) ->
HDBSCAN (both fitted on at most ``max_fit_tags`` of them, the most used; the others then take the
topic of their nearest fitted tags, ``topictensor.topics.place``) -> merge clusters whose centroids are near-duplicates -> noise and rare tags join the
nearest topic as *soft* members when close enough -> label, coherence and flags per topic.
Merging, soft membership, labels and coherence use the original (100-D) space, not the reduced
one: the reduced space only decides who belongs together. With ``center`` (default) they use it
*centred*: trained tag vectors share one common direction (on the demo model the mean unit vector
has norm 0.57, and unrelated topics' centroids are 0.6-0.8 cosine-similar), which would make
every cosine threshold meaningless; removed, unrelated topics sit near cosine 0. The
``centroid`` column stays in the raw space, where the model's tag vectors live. Topic ids here are local (0.. by size); ``match`` makes them stable.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from topictensor.topics.cluster import Clusterer, make_clusterer
from topictensor.topics.label import GENERIC, central_tags, centroid, coherence, topic_flags
from topictensor.topics.merge import merge_close_clusters
from topictensor.topics.params import TopicsConfig
from topictensor.topics.place import place_by_neighbours
from topictensor.topics.reduce import Reducer, make_reducer
from topictensor.vectors import unit_rows

log = logging.getLogger(__name__)

NOISE = -1

TOPICS_SCHEMA = pa.schema([
    ("topic_id", pa.int64()), ("label", pa.string()), ("top_tags", pa.list_(pa.string())),
    ("size", pa.int64()), ("soft_size", pa.int64()), ("coherence", pa.float64()),
    ("centroid", pa.list_(pa.float32())), ("flags", pa.list_(pa.string())), ("parent_group", pa.int64()),
    ("merged_from", pa.list_(pa.int64())), ("previous_ids", pa.list_(pa.int64())),
])
MEMBERS_SCHEMA = pa.schema([
    ("tag", pa.string()), ("topic_id", pa.int64()), ("strength", pa.float32()), ("soft", pa.bool_()),
])


@dataclass
class TopicsResult:
    topics: pd.DataFrame  # TOPICS_SCHEMA columns, one row per topic
    members: pd.DataFrame  # MEMBERS_SCHEMA columns, one row per input tag (-1 = noise)
    summary: dict[str, Any]  # counts, noise shares, timings and, for an empty result, the reason
    coords: np.ndarray | None = None  # 2-D map position per clustered tag (rows of ``mapped``)
    mapped: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # tag row indices
    space: np.ndarray | None = None  # the unit rows every cosine decision used (centred or raw)

    @property
    def reason(self) -> str | None:
        return self.summary.get("reason")


def build_topics(tags: Sequence[str], counts: Sequence[int] | np.ndarray, vectors: np.ndarray,
                 cfg: TopicsConfig | None = None, *, reducer: Reducer | None = None,
                 clusterer: Clusterer | None = None, generic_tags: set[str] = frozenset()) -> TopicsResult:
    """Cluster tag vectors into topics. Never raises on degenerate input (too few tags, identical
    vectors, no dense region): it returns zero topics, every tag as noise, and ``summary['reason']``.
    ``generic_tags``: tags scored topic-free (the filter review's ``generic``); a topic made mostly of
    them (``cfg.generic_share``) is flagged ``generic``."""
    cfg = cfg or TopicsConfig()
    tags = [str(t) for t in tags]
    counts = np.asarray(counts, dtype=np.int64)
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or not (len(tags) == len(counts) == vectors.shape[0]):
        raise ValueError(f"{len(tags)} tags, {len(counts)} counts and vectors of shape {vectors.shape}: "
                         "expected one count and one vector row per tag")
    if len(set(tags)) != len(tags):
        raise ValueError("tags must be unique")
    reducer = reducer or make_reducer(cfg)
    clusterer = clusterer or make_clusterer(cfg)
    timings: dict[str, float] = {}
    unit = unit_rows(vectors)
    usable = np.linalg.norm(unit, axis=1) > 0
    core = np.flatnonzero(usable & (counts >= cfg.min_count))
    space = centred_space(unit, core) if cfg.center else unit
    summary: dict[str, Any] = {"tags": len(tags), "clustered_tags": int(len(core)), "reducer": reducer.name,
                               "clusterer": clusterer.name, "reason": None}

    fit, placed = fit_rows(core, counts, cfg.max_fit_tags)
    summary.update({"fitted_tags": int(len(fit)), "placed_tags": int(len(placed))})
    reason = _degenerate(unit[fit], cfg)
    labels = np.full(len(tags), NOISE, dtype=np.int64)
    strengths = np.zeros(len(tags), dtype=np.float32)
    coords, mapped = None, fit
    lineage: list[list[int]] = []
    if reason is None:
        started = time.perf_counter()
        reduced = reducer.fit_transform(unit[fit])
        timings["reduce_seconds"] = time.perf_counter() - started
        started = time.perf_counter()
        found = clusterer.fit(reduced)
        timings["cluster_seconds"] = time.perf_counter() - started
        summary["raw_clusters"] = int(found.labels.max() + 1) if len(found.labels) else 0
        merged, lineage = merge_close_clusters(found.labels, space[fit], cfg.merge_cosine)
        labels[fit] = merged
        strengths[fit] = found.strengths
        coords = _map_coords(reduced)
        del reduced
        if not lineage:
            reason = (f"HDBSCAN found no cluster of at least {cfg.min_cluster_size} tags among "
                      f"{len(fit)} (all noise); lower min_cluster_size or min_samples")
        elif len(placed):
            started = time.perf_counter()
            labels[placed], strengths[placed] = place_by_neighbours(space, fit, labels[fit], placed, cfg.n_neighbors)
            timings["place_seconds"] = time.perf_counter() - started
    summary["reason"] = reason
    summary["noise_share_hard"] = float(np.mean(labels == NOISE)) if len(tags) else 0.0

    # Per topic: centroid from hard members, then soft members, then labels and flags.
    n_topics = len(lineage)
    hard_members = _rows_by_label(labels, n_topics)
    centroids = np.stack([centroid(space[rows]) for rows in hard_members]) if n_topics else \
        np.zeros((0, unit.shape[1]), dtype=np.float32)
    soft = np.zeros(len(tags), dtype=bool)
    if n_topics and cfg.soft_threshold is not None:
        candidates = np.flatnonzero((labels == NOISE) & usable)
        for block in range(0, len(candidates), 4096):  # bounded memory: block x topics similarities
            rows = candidates[block:block + 4096]
            sims = space[rows] @ centroids.T
            best = np.argmax(sims, axis=1)
            best_sim = sims[np.arange(len(rows)), best]
            joined = best_sim >= cfg.soft_threshold
            labels[rows[joined]] = best[joined]
            strengths[rows[joined]] = np.clip(best_sim[joined], 0.0, 1.0)
            soft[rows[joined]] = True
    all_members = _rows_by_label(labels, n_topics)

    frequent = _frequent_tags(tags, counts, cfg.frequent_quantile)
    stoplist = set(cfg.stoplist)
    rows = []
    for t in range(n_topics):
        hard_idx = hard_members[t]
        member_tags = [tags[i] for i in hard_idx]
        coh = coherence(space[hard_idx])
        top = central_tags(member_tags, space[hard_idx], centroids[t], counts[hard_idx], cfg.label_size)
        rows.append({
            "local": t, "label": ", ".join(top), "top_tags": top,
            "size": int(len(all_members[t])), "soft_size": int(len(all_members[t]) - len(hard_idx)),
            "coherence": coh, "centroid": centroid(unit[hard_idx]).tolist(),
            "flags": topic_flags(coh, member_tags, frequent, stoplist, low_coherence=cfg.low_coherence,
                                 frequent_share=cfg.frequent_share, stoplist_share=cfg.stoplist_share,
                                 generic=set(generic_tags), generic_share=cfg.generic_share),
            "parent_group": -1, "merged_from": lineage[t], "previous_ids": [],
        })
    # Local ids by size (then label), so the numbering does not depend on HDBSCAN's internal order.
    rows.sort(key=lambda r: (-r["size"], r["label"]))
    renumber = {r["local"]: i for i, r in enumerate(rows)}
    for i, r in enumerate(rows):
        r["topic_id"] = i
        del r["local"]
    lookup = np.array([renumber[t] for t in range(n_topics)] + [NOISE], dtype=np.int64)
    labels = lookup[np.where(labels >= 0, labels, n_topics)]

    topics = pd.DataFrame(rows, columns=TOPICS_SCHEMA.names)
    members = pd.DataFrame({"tag": tags, "topic_id": labels, "strength": strengths, "soft": soft})
    summary.update({
        "topics": n_topics,
        "noise_tags": int(np.sum(labels == NOISE)),
        "noise_share": float(np.mean(labels == NOISE)) if len(tags) else 0.0,
        "soft_members": int(soft.sum()),
        "flagged_topics": int(sum(bool(r["flags"]) for r in rows)),
        "generic_topics": int(sum(GENERIC in r["flags"] for r in rows)),
        "mean_coherence": float(np.mean([r["coherence"] for r in rows])) if rows else 0.0,
        **{k: round(v, 3) for k, v in timings.items()},
    })
    if reason:
        log.warning("topics: %s", reason)
    return TopicsResult(topics=topics, members=members, summary=summary, coords=coords, mapped=mapped,
                        space=space)


def fit_rows(core: np.ndarray, counts: np.ndarray, cap: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The rows the reduction and clustering are fitted on (the ``cap`` most used of ``core``, ties
    by row; all of them without a cap) and the rest of ``core``, to be placed; both ascending."""
    if cap is None or len(core) <= cap:
        return core, core[:0]
    order = np.lexsort((core, -counts[core]))
    fit = np.sort(core[order[:cap]])
    return fit, np.setdiff1d(core, fit, assume_unique=True)


def centred_space(unit: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Unit rows minus the mean direction of ``rows``, re-normalised (zero rows stay zero)."""
    if not len(rows):
        return unit
    shifted = unit - unit[rows].mean(axis=0, keepdims=True)
    shifted[np.linalg.norm(unit, axis=1) == 0] = 0.0
    return unit_rows(shifted)


def _rows_by_label(labels: np.ndarray, n: int) -> list[np.ndarray]:
    """Row indices of each label 0..n-1 (ascending), in one sort instead of n scans."""
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n + 1))
    return [order[bounds[t]:bounds[t + 1]] for t in range(n)]


def _degenerate(unit: np.ndarray, cfg: TopicsConfig) -> str | None:
    """Why there is nothing to cluster, or None."""
    n = len(unit)
    if n < max(2, cfg.min_cluster_size):
        return (f"only {n} tags to cluster (non-zero vectors used at least min_count={cfg.min_count} times), "
                f"fewer than min_cluster_size={cfg.min_cluster_size}: no topic can form")
    spread = float(np.max(np.abs(unit - unit[0]))) if n else 0.0
    if spread < 1e-6:
        return f"all {n} tag vectors point the same way: there is nothing to tell topics apart"
    return None


def _frequent_tags(tags: Sequence[str], counts: np.ndarray, quantile: float) -> set[str]:
    if not len(counts):
        return set()
    cut = float(np.quantile(counts, quantile))
    return {t for t, c in zip(tags, counts) if c > cut}


def _map_coords(reduced: np.ndarray) -> np.ndarray:
    """2-D positions for the report's map: the two main axes of the reduced space."""
    if reduced.shape[1] <= 2:
        out = np.zeros((len(reduced), 2), dtype=np.float32)
        out[:, :reduced.shape[1]] = reduced
        return out
    centred = reduced - reduced.mean(axis=0)
    _, _, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    coords = centred @ vt[:2].T
    # Fix the signs so that a rerun draws the same picture, not a mirror image.
    signs = np.sign(coords[np.argmax(np.abs(coords), axis=0), [0, 1]])
    return (coords * np.where(signs == 0, 1, signs)).astype(np.float32)


def to_arrow(result: TopicsResult) -> tuple[pa.Table, pa.Table]:
    """The topics and members tables with their fixed schemas (empty tables keep the columns)."""
    def convert(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
        if frame.empty:  # pandas gives an empty list column a float dtype that arrow will not cast
            return schema.empty_table()
        return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)

    topics, members = convert(result.topics, TOPICS_SCHEMA), convert(result.members, MEMBERS_SCHEMA)
    return topics, members


# ------------------------------------------------------------------------------------------------
# The whole job on one model, as files: shared by the clusters stage and `topictensor topics build`.
# ------------------------------------------------------------------------------------------------

TOPICS_FILE, MEMBERS_FILE, CHANGES_FILE, CHANGES_TABLE, TREE_FILE, REPORT_FILE = (
    "topics.parquet", "members.parquet", "changes.json", "changes.parquet", "tree.json", "report.html")


@dataclass
class PreviousTopics:
    """The previous version's topics, as far as id carry-over needs them."""

    topics: pd.DataFrame
    members: pd.DataFrame
    next_id: int | None = None
    source: str = ""

    @classmethod
    def load(cls, path_of: Any, source: str = "") -> "PreviousTopics":
        """``path_of(name) -> local Path``: a directory's ``/`` or an Artifact's ``.path``."""
        import json

        import pyarrow.parquet as pq

        topics = pq.read_table(path_of(TOPICS_FILE)).to_pandas()
        members = pq.read_table(path_of(MEMBERS_FILE)).to_pandas()
        try:
            next_id = json.loads(path_of(CHANGES_FILE).read_text()).get("next_topic_id")
        except Exception:  # an older or hand-made directory without changes.json
            next_id = None
        return cls(topics=topics, members=members, next_id=next_id, source=source)


def build_to_dir(emb: Any, cfg: TopicsConfig, out_dir: Any, *, previous: PreviousTopics | None = None,
                 title: str = "Topics", reducer: Reducer | None = None,
                 generic_tags: set[str] = frozenset()) -> dict[str, Any]:
    """Cluster an :class:`~topictensor.embeddings.Embeddings`, carry ids over from ``previous`` and write
    topics.parquet, members.parquet, changes.parquet, changes.json, tree.json and report.html.
    Topics flagged ``generic`` (see :func:`build_topics`) stay in topics.parquet with group -1 and are
    left out of the tree. Returns the summary (also in changes.json)."""
    import json
    from pathlib import Path

    import pyarrow.parquet as pq

    from topictensor.topics.match import match_topics
    from topictensor.topics.report import map_svg, render_report
    from topictensor.topics.tree import build_tree

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = build_topics(emb.tags, emb.counts, emb.vectors, cfg, reducer=reducer, generic_tags=generic_tags)
    space = result.space

    def vector_of(tag: str):  # the previous topics' tags, placed in this model's space
        i = emb.index.get(tag)
        return None if i is None or space is None else space[i]

    matched = match_topics(previous.topics if previous else None, previous.members if previous else None,
                           result.topics, result.members, cfg, vector_of=vector_of,
                           next_id=previous.next_id if previous else None)
    topics, members = matched.topics, matched.members
    in_tree = np.array([GENERIC not in flags for flags in topics["flags"]], dtype=bool)
    parents, tree = build_tree(topics[in_tree], cfg.tree_groups)
    topics["parent_group"] = -1
    if in_tree.any():
        topics.loc[in_tree, "parent_group"] = parents.to_numpy()
    topics = topics.sort_values("topic_id").reset_index(drop=True)
    members = members.sort_values(["topic_id", "strength", "tag"], ascending=[True, False, True]).reset_index(drop=True)

    summary = {**result.summary, **matched.summary(), "next_topic_id": matched.next_id,
               "previous": previous.source if previous else None, "groups": len(tree["groups"])}
    final = TopicsResult(topics=topics, members=members, summary=summary)
    topics_table, members_table = to_arrow(final)
    pq.write_table(topics_table, out / TOPICS_FILE)
    pq.write_table(members_table, out / MEMBERS_FILE)
    changes = matched.changes
    pq.write_table(pa.Table.from_pandas(changes, preserve_index=False), out / CHANGES_TABLE)
    (out / CHANGES_FILE).write_text(json.dumps(
        {"summary": summary, "next_topic_id": matched.next_id,
         "changes": json.loads(changes.to_json(orient="records", force_ascii=False))},
        indent=2, ensure_ascii=False, default=_json_default))
    (out / TREE_FILE).write_text(json.dumps(tree, indent=2, ensure_ascii=False))
    final_ids = matched.members.set_index("tag")["topic_id"]
    mapped_tags = [str(emb.tags[i]) for i in result.mapped]
    svg = map_svg(result.coords, mapped_tags, final_ids.reindex(mapped_tags).fillna(-1).to_numpy(dtype=np.int64),
                  cfg.map_points, cfg.seed)
    (out / REPORT_FILE).write_text(render_report(title=title, summary=summary, topics=topics, changes=changes,
                                                 tree=tree, map_html=svg), encoding="utf-8")
    return summary


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
