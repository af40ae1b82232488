"""Stable topic identities across weekly refreshes, and what changed: born, died, split, merged.

Two versions come from two different trainings, so their vector spaces are not aligned: a
previous centroid cannot be compared with a new one directly. What *is* comparable is membership
(tags are the same strings) and, through it, the previous topic's centroid *recomputed in the new
model* from its member tags. A new topic keeps a previous id when the two are each other's best
match by member Jaccard (one-to-one, Hungarian), with that Jaccard at least ``match_jaccard`` or
their centroids (both in the new space) at least ``match_cosine`` apart while most of one's tags
are in the other. Unmatched new topics get fresh ids above every id ever used (``next_id`` is
carried from version to version), so an id never comes back with another meaning.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from topictensor.topics.params import TopicsConfig

PERSISTED, BORN, DIED, SPLIT, MERGED = "persisted", "born", "died", "split", "merged"

CHANGE_COLUMNS = ["event", "topic_id", "previous_ids", "label", "previous_label", "size", "previous_size",
                  "jaccard"]


@dataclass
class MatchResult:
    topics: pd.DataFrame  # the new topics with their final ids and previous_ids filled in
    members: pd.DataFrame  # the new members with final topic ids
    changes: pd.DataFrame  # one row per new topic (persisted / born / split / merged) + one per died topic
    next_id: int  # first id never used yet: carry it to the next version
    previous_topics: int = 0
    ids_kept: int = 0  # previous topics whose id lives on in this version

    def summary(self) -> dict[str, int | float]:
        events = self.changes["event"].value_counts().to_dict()
        return {**{f"topics_{e}": int(events.get(e, 0)) for e in (PERSISTED, BORN, DIED, SPLIT, MERGED)},
                "previous_topics": self.previous_topics, "ids_kept": self.ids_kept,
                "id_kept_share": self.ids_kept / self.previous_topics if self.previous_topics else 0.0}


def member_sets(members: pd.DataFrame) -> dict[int, set[str]]:
    """topic id -> its tags (hard and soft; noise excluded)."""
    out: dict[int, set[str]] = {}
    for tag, tid in zip(members["tag"].tolist(), members["topic_id"].tolist()):
        if tid >= 0:
            out.setdefault(int(tid), set()).add(tag)
    return out


@dataclass
class TopicChange:
    """One topic id's fate between two clusterings: born, died or kept (with member overlap)."""

    event: str  # born | died | kept
    topic_id: int
    label: str
    size_a: int | None
    size_b: int | None
    jaccard: float | None  # member overlap (Jaccard) for kept topics


def topic_changes(topics_a: pd.DataFrame, members_a: pd.DataFrame, topics_b: pd.DataFrame,
                  members_b: pd.DataFrame) -> list[TopicChange]:
    """Topics born, died and kept from A to B by topic id: ids are carried over between versions,
    so the same id is the same topic (what ``topictensor topics diff`` and the Airflow view show)."""
    ta, tb = topics_a.set_index("topic_id"), topics_b.set_index("topic_id")
    ma, mb = member_sets(members_a), member_sets(members_b)
    out: list[TopicChange] = []
    for tid in sorted(set(ta.index) | set(tb.index)):
        if tid not in ta.index:
            out.append(TopicChange("born", int(tid), str(tb.loc[tid, "label"]), None, int(tb.loc[tid, "size"]), None))
        elif tid not in tb.index:
            out.append(TopicChange("died", int(tid), str(ta.loc[tid, "label"]), int(ta.loc[tid, "size"]), None, None))
        else:
            sa, sb = ma.get(tid, set()), mb.get(tid, set())
            jaccard = len(sa & sb) / len(sa | sb) if sa | sb else 1.0
            out.append(TopicChange("kept", int(tid), str(tb.loc[tid, "label"]), int(ta.loc[tid, "size"]),
                                   int(tb.loc[tid, "size"]), jaccard))
    return out


def match_topics(previous_topics: pd.DataFrame | None, previous_members: pd.DataFrame | None,
                 new_topics: pd.DataFrame, new_members: pd.DataFrame, cfg: TopicsConfig | None = None, *,
                 vector_of: Callable[[str], np.ndarray | None] | None = None,
                 next_id: int | None = None) -> MatchResult:
    """Give the new topics (local ids 0..k-1) their final ids and describe the changes.

    ``vector_of(tag)`` returns a tag's unit vector in the NEW model (None if unknown; the build passes
    the centred space its cosines use); without it only member overlap is used. ``next_id`` is the
    previous version's first unused id (default: one above its largest id).
    """
    cfg = cfg or TopicsConfig()
    new_topics = new_topics.reset_index(drop=True)
    new_sets = member_sets(new_members)
    new_ids = new_topics["topic_id"].astype(int).tolist()
    if previous_topics is None or previous_members is None or previous_topics.empty:
        start = next_id or 0
        mapping = {tid: start + i for i, tid in enumerate(new_ids)}
        changes = [_row(BORN, mapping[t], [], new_topics.loc[i], None, {}, 0.0)
                   for i, t in enumerate(new_ids)]
        return _finish(new_topics, new_members, mapping, {t: [] for t in new_ids}, changes,
                       start + len(new_ids), n_previous=0, kept=0)

    previous_topics = previous_topics.reset_index(drop=True)
    prev_sets = member_sets(previous_members)
    prev_ids = previous_topics["topic_id"].astype(int).tolist()
    next_id = max(next_id or 0, max(prev_ids, default=-1) + 1)  # never below an id in use
    prev_pos = {p: j for j, p in enumerate(prev_ids)}
    overlap = _overlap(prev_sets, prev_ids, new_sets, new_ids)
    prev_size = np.array([len(prev_sets.get(p, ())) for p in prev_ids], dtype=np.float64)
    new_size = np.array([len(new_sets.get(n, ())) for n in new_ids], dtype=np.float64)
    union = prev_size[:, None] + new_size[None, :] - overlap
    jaccard = np.divide(overlap, union, out=np.zeros_like(overlap), where=union > 0)
    containment = np.divide(overlap, np.minimum(prev_size[:, None], new_size[None, :]),
                            out=np.zeros_like(overlap), where=np.minimum(prev_size[:, None], new_size[None, :]) > 0)
    cosine = _centroid_cosines(prev_ids, prev_sets, new_ids, new_sets, vector_of)

    # One-to-one identity: best total Jaccard (cosine breaks ties), then the acceptance rule.
    from scipy.optimize import linear_sum_assignment

    score = jaccard + 1e-3 * np.nan_to_num(cosine, nan=0.0)
    rows, cols = linear_sum_assignment(-score) if score.size else (np.array([], int), np.array([], int))
    mapping: dict[int, int] = {}
    for p, n in zip(rows.tolist(), cols.tolist()):
        accept = jaccard[p, n] >= cfg.match_jaccard or (
            not np.isnan(cosine[p, n]) and cosine[p, n] >= cfg.match_cosine and containment[p, n] >= 0.5)
        if accept:
            mapping[new_ids[n]] = prev_ids[p]

    # Lineage: a share of either side's tags in common.
    share_of_prev = np.divide(overlap, prev_size[:, None], out=np.zeros_like(overlap), where=prev_size[:, None] > 0)
    share_of_new = np.divide(overlap, new_size[None, :], out=np.zeros_like(overlap), where=new_size[None, :] > 0)
    related = (share_of_prev >= cfg.lineage_share) | (share_of_new >= cfg.lineage_share)
    related &= overlap > 0
    parents = {new_ids[n]: [prev_ids[p] for p in np.flatnonzero(related[:, n])] for n in range(len(new_ids))}
    for n_id, p_id in mapping.items():
        if p_id not in parents[n_id]:
            parents[n_id] = sorted(parents[n_id] + [p_id])
    children: dict[int, list[int]] = {p: [] for p in prev_ids}
    for n_id, ps in parents.items():
        for p in ps:
            children[p].append(n_id)

    changes = []
    lives_on: set[int] = set()  # previous topics that went into a merge or a split
    for i, n_id in enumerate(new_ids):
        final = mapping.get(n_id)
        if final is None:
            final = next_id
            next_id += 1
            mapping[n_id] = final
        ps = parents[n_id]
        if len(ps) >= 2:
            event = MERGED
        elif len(ps) == 1 and len(children[ps[0]]) >= 2:
            event = SPLIT
        elif final in prev_pos:
            event = PERSISTED
        else:
            event = BORN  # related to at most one previous topic, and not close enough to carry its id
            ps = parents[n_id] = []
        if event in (MERGED, SPLIT):
            lives_on.update(ps)
        j = prev_pos.get(final)
        jac = float(jaccard[j, i] if j is not None else jaccard[:, i].max(initial=0.0))
        prev_row = previous_topics.loc[j] if j is not None else None
        changes.append(_row(event, final, ps, new_topics.loc[i], prev_row, prev_sets, jac))
    kept_ids = set(mapping.values()) & set(prev_ids)
    for j, p_id in enumerate(prev_ids):
        if p_id in kept_ids or p_id in lives_on:
            continue  # persisted, or lives on inside a merge or split
        changes.append({"event": DIED, "topic_id": p_id, "previous_ids": [p_id], "label": None,
                        "previous_label": previous_topics.loc[j, "label"], "size": 0,
                        "previous_size": int(len(prev_sets.get(p_id, ()))), "jaccard": 0.0})
    return _finish(new_topics, new_members, mapping, parents, changes, next_id,
                   n_previous=len(prev_ids), kept=len(kept_ids))


def _overlap(prev_sets, prev_ids, new_sets, new_ids) -> np.ndarray:
    """Shared tags per (previous, new) topic pair, in O(tags) (a join, not k x k set intersections)."""
    prev_pos = {t: i for i, t in enumerate(prev_ids)}
    new_pos = {t: i for i, t in enumerate(new_ids)}
    prev_of = {tag: prev_pos[t] for t, tags in prev_sets.items() if t in prev_pos for tag in tags}
    out = np.zeros((len(prev_ids), len(new_ids)), dtype=np.float64)
    pairs = [(prev_of[tag], new_pos[t]) for t, tags in new_sets.items() if t in new_pos
             for tag in tags if tag in prev_of]
    if pairs:
        rows, cols = np.array(pairs).T
        np.add.at(out, (rows, cols), 1.0)
    return out


def _centroid_cosines(prev_ids, prev_sets, new_ids, new_sets, vector_of) -> np.ndarray:
    """cosine(previous topic's centroid, new topic's centroid), both computed from their member tags'
    vectors in the NEW model (the only space both can be placed in)."""
    out = np.full((len(prev_ids), len(new_ids)), np.nan)
    if vector_of is None or not len(prev_ids) or not len(new_ids):
        return out

    def centroids(ids, sets):
        rows, ok = [], []
        for t in ids:
            vecs = [v for v in (vector_of(tag) for tag in sorted(sets.get(t, ()))) if v is not None]
            mean = np.mean(vecs, axis=0) if vecs else None
            norm = float(np.linalg.norm(mean)) if mean is not None else 0.0
            ok.append(norm > 0)
            rows.append(mean / norm if norm > 0 else None)
        dim = next((r.shape[0] for r in rows if r is not None), 1)
        return np.array([r if r is not None else np.zeros(dim) for r in rows]), np.array(ok)

    prev_c, prev_ok = centroids(prev_ids, prev_sets)
    new_c, new_ok = centroids(new_ids, new_sets)
    out[:] = prev_c @ new_c.T
    out[~prev_ok, :] = np.nan
    out[:, ~new_ok] = np.nan
    return out


def _row(event, final_id, parents, new_row, prev_row, prev_sets, jaccard) -> dict:
    return {"event": event, "topic_id": int(final_id), "previous_ids": [int(p) for p in parents],
            "label": new_row["label"], "previous_label": None if prev_row is None else prev_row["label"],
            "size": int(new_row["size"]),
            "previous_size": None if prev_row is None else int(len(prev_sets.get(int(prev_row["topic_id"]), ()))),
            "jaccard": float(jaccard)}


def _finish(new_topics, new_members, mapping: Mapping[int, int], parents, changes, next_id, *, n_previous,
            kept) -> MatchResult:
    topics = new_topics.copy()
    topics["previous_ids"] = [list(parents.get(int(t), [])) for t in topics["topic_id"]]
    topics["topic_id"] = [mapping[int(t)] for t in topics["topic_id"]]
    members = new_members.copy()
    members["topic_id"] = [mapping.get(int(t), -1) if t >= 0 else -1 for t in members["topic_id"]]
    frame = pd.DataFrame(changes, columns=CHANGE_COLUMNS)
    order = {e: i for i, e in enumerate((PERSISTED, MERGED, SPLIT, BORN, DIED))}
    frame = frame.sort_values(["event", "topic_id"], key=lambda s: s.map(order) if s.name == "event" else s)
    return MatchResult(topics=topics, members=members, changes=frame.reset_index(drop=True), next_id=next_id,
                       previous_topics=n_previous, ids_kept=kept)
