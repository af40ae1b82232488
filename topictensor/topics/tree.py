"""A two-level topic tree for people: a handful of broad groups, then the topics.

The seed's observation: nobody holds more than ~100 nodes in mind, while a good model has
hundreds of topics. Topic centroids are grouped by Ward agglomerative clustering on the unit
centroids (deterministic, no seed); a group is labelled by its most central topics.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from topictensor.vectors import unit_rows


def build_tree(topics: pd.DataFrame, n_groups: int | None = None) -> tuple[pd.Series, dict[str, Any]]:
    """Return (parent group per topic row, aligned with ``topics``; the tree as a JSON-able dict).

    ``n_groups`` None = round(sqrt(number of topics)). Groups are numbered by size, largest first.
    """
    n = len(topics)
    if n == 0:
        return pd.Series([], dtype="int64"), {"groups": []}
    k = n_groups if n_groups is not None else max(1, round(math.sqrt(n)))
    k = max(1, min(k, n))
    cent = np.array(topics["centroid"].tolist(), dtype=np.float64)
    sizes = topics["size"].to_numpy(dtype=np.float64)
    if k == 1 or n == 1:
        raw = np.zeros(n, dtype=np.int64)
    elif k == n:
        raw = np.arange(n)
    else:
        from sklearn.cluster import AgglomerativeClustering

        # Ward on unit centroids (Euclidean there is a monotone function of cosine): it keeps groups
        # balanced, where average linkage tends to leave one giant group and a few singletons.
        unit = unit_rows(cent, np.float64)
        raw = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(unit)
    groups = []
    for g in np.unique(raw):
        rows = np.flatnonzero(raw == g)
        mean = (cent[rows] * sizes[rows, None]).sum(axis=0)
        norm = np.linalg.norm(mean)
        mean = mean / norm if norm > 0 else mean
        central = rows[np.lexsort((topics["topic_id"].to_numpy()[rows], -(cent[rows] @ mean)))]
        label = " / ".join(str(topics["top_tags"].iloc[r][0]) if len(topics["top_tags"].iloc[r]) else
                           str(topics["label"].iloc[r]) for r in central[:3])
        groups.append({"rows": rows, "label": label, "size": int(sizes[rows].sum()),
                       "first": int(topics["topic_id"].to_numpy()[rows].min())})
    groups.sort(key=lambda g: (-g["size"], g["first"]))
    parent = np.zeros(n, dtype=np.int64)
    out = []
    for gid, g in enumerate(groups):
        parent[g["rows"]] = gid
        members = sorted(g["rows"].tolist(), key=lambda r: (-int(topics["size"].iloc[r]), int(topics["topic_id"].iloc[r])))
        out.append({"group_id": gid, "label": g["label"], "size": g["size"], "topics": [
            {"topic_id": int(topics["topic_id"].iloc[r]), "label": str(topics["label"].iloc[r]),
             "size": int(topics["size"].iloc[r])} for r in members]})
    return pd.Series(parent, index=topics.index, dtype="int64"), {"groups": out}
