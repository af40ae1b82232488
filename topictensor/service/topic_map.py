"""The explorer's 2-D map of tags coloured by topic: positions computed from the served model.

Why computed here: the clusters artifact stores topics and members but not map coordinates (the
report's map is baked into report.html as SVG), and the UMAP space it clusters in is not kept.
So the service lays the tags out itself, once per model version (the artifact never changes):
t-SNE (scikit-learn, Barnes-Hut) on the tags' unit vectors *centred* like the topics engine does
(``topictensor.topics.build.centred_space``: without removing the shared direction every tag is
0.6-0.8 cosine-similar to every other and the map is one blob), cosine metric, PCA start and a
fixed seed, so a version always draws the same picture. The map is capped at ``limit`` tags, the
most used ones, which are the ones a person looks for.

One thread: on this project's 2-core machine under load, t-SNE's OpenMP with 2 threads took
14-32 s for the demo model's 632 tags (threads spin at barriers while the other core is busy),
one thread a steady 3.5-3.9 s; and the service keeps its other core for queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_LIMIT = 2000
MAX_LIMIT = 10_000


@dataclass(frozen=True)
class TopicMap:
    """Tags with 2-D positions in [0, 1] (y grows downwards, like the screen) and their topic."""

    tags: list[str]
    x: np.ndarray
    y: np.ndarray
    topic_ids: np.ndarray  # -1 = noise (not in any topic)
    counts: np.ndarray
    method: str

    def to_dict(self, topics: pd.DataFrame) -> dict[str, Any]:
        """Parallel arrays (compact JSON) plus one label position per topic: its members' median."""
        centres = []
        for row in topics.itertuples():
            mine = self.topic_ids == int(row.topic_id)
            if mine.any():
                first = list(row.top_tags)[0] if len(row.top_tags) else str(row.label).split(", ")[0]
                centres.append({"topic_id": int(row.topic_id), "label": str(row.label), "short": first,
                                "x": round(float(np.median(self.x[mine])), 4),
                                "y": round(float(np.median(self.y[mine])), 4)})
        return {"method": self.method, "tags": self.tags,
                "x": [round(float(v), 4) for v in self.x], "y": [round(float(v), 4) for v in self.y],
                "topic": [int(t) for t in self.topic_ids], "count": [int(c) for c in self.counts],
                "topics": centres}


def pick_tags(members: pd.DataFrame, index: dict[str, int], counts: np.ndarray, limit: int) -> list[str]:
    """The ``limit`` most used tags among those the topics artifact lists and the model knows."""
    known = [t for t in members["tag"].tolist() if t in index]
    if len(known) <= limit:
        return known
    rows = np.array([index[t] for t in known])
    order = np.lexsort((np.array(known, dtype=object).astype(str), -counts[rows]))  # count desc, then name
    return [known[i] for i in sorted(order[:limit].tolist())]


def layout(unit_vectors: np.ndarray, seed: int = 0) -> tuple[np.ndarray, str]:
    """2-D positions (each axis scaled to [0, 1]) of centred unit vectors, and the method used."""
    from topictensor.topics.build import centred_space

    n = len(unit_vectors)
    if n == 0:
        return np.zeros((0, 2)), "none"
    space = centred_space(np.asarray(unit_vectors, dtype=np.float32), np.arange(n))
    if n < 8:  # t-SNE needs perplexity < n; a handful of tags is drawn on its two main axes
        coords, method = _pca(space), "pca"
    else:
        from sklearn.manifold import TSNE
        from threadpoolctl import threadpool_limits

        perplexity = float(min(30.0, (n - 1) / 3))
        with threadpool_limits(1):  # see the module docstring
            coords = TSNE(n_components=2, metric="cosine", init="pca", perplexity=perplexity,
                          random_state=seed).fit_transform(space.astype(np.float64))
        method = "tsne"
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    return (coords - lo) / span, method


def build_topic_map(emb: Any, members: pd.DataFrame, limit: int = DEFAULT_LIMIT, seed: int = 0) -> TopicMap:
    """Lay out the ``limit`` most used tags of a clusters artifact's members table."""
    tags = pick_tags(members, emb.index, emb.counts, limit)
    rows = np.array([emb.index[t] for t in tags], dtype=np.int64)
    coords, method = layout(emb.normalized()[rows] if len(rows) else np.zeros((0, emb.dim)), seed)
    topic_of = dict(zip(members["tag"].tolist(), members["topic_id"].astype(int).tolist()))
    return TopicMap(tags=tags, x=coords[:, 0], y=1.0 - coords[:, 1] if len(coords) else coords[:, 1],
                    topic_ids=np.array([topic_of[t] for t in tags], dtype=np.int64),
                    counts=emb.counts[rows].astype(np.int64) if len(rows) else np.zeros(0, dtype=np.int64),
                    method=method)


def _pca(space: np.ndarray) -> np.ndarray:
    centred = space - space.mean(axis=0)
    if len(centred) < 2:
        return np.zeros((len(centred), 2))
    _, _, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    coords = centred @ vt[:2].T
    if coords.shape[1] < 2:
        coords = np.hstack([coords, np.zeros((len(coords), 2 - coords.shape[1]))])
    return coords
