"""The explorer's 2-D map of tags coloured by topic: laid out once, in the clusters stage.

t-SNE (scikit-learn, Barnes-Hut) on the tags' unit vectors *centred* like the topics engine does
(``topictensor.topics.build.centred_space``: without removing the shared direction every tag is
0.6-0.8 cosine-similar to every other and the map is one blob), cosine metric, PCA start and a
fixed seed, so a version always draws the same picture. The map holds the ``limit`` most used
tags of the clusters' members table (``topics.explorer_map_tags``), which are the ones a person
looks for; the service serves subsets of it and never lays a map out per request.

One thread: t-SNE's OpenMP threads spin at barriers while another process holds a core, so on a
loaded machine two threads were several times slower than one (README: "Why the trainer and
topics code is shaped so").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

MAP_FILE = "map.parquet"
MAP_SCHEMA = pa.schema([("tag", pa.string()), ("x", pa.float32()), ("y", pa.float32()),
                        ("topic_id", pa.int64()), ("count", pa.int64())])


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


def map_table(emb: Any, members: pd.DataFrame, limit: int, seed: int = 0) -> tuple[pa.Table, str]:
    """The map of the ``limit`` most used member tags: (table in ``MAP_SCHEMA``, method). ``y``
    grows downwards, like the screen; ``topic_id`` -1 = noise (in no topic)."""
    tags = pick_tags(members, emb.index, emb.counts, limit)
    rows = np.array([emb.index[t] for t in tags], dtype=np.int64)
    coords, method = layout(emb.normalized()[rows] if len(rows) else np.zeros((0, emb.dim)), seed)
    topic_of = dict(zip(members["tag"].tolist(), members["topic_id"].astype(int).tolist()))
    table = pa.table({
        "tag": pa.array(tags, pa.string()),
        "x": pa.array(coords[:, 0], pa.float32()),
        "y": pa.array(1.0 - coords[:, 1], pa.float32()),
        "topic_id": pa.array([topic_of[t] for t in tags], pa.int64()),
        "count": pa.array(emb.counts[rows].astype(np.int64) if len(rows) else np.zeros(0, np.int64), pa.int64()),
    }, schema=MAP_SCHEMA)
    return table.replace_schema_metadata({b"method": method.encode()}), method


def _pca(space: np.ndarray) -> np.ndarray:
    centred = space - space.mean(axis=0)
    if len(centred) < 2:
        return np.zeros((len(centred), 2))
    _, _, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    coords = centred @ vt[:2].T
    if coords.shape[1] < 2:
        coords = np.hstack([coords, np.zeros((len(coords), 2 - coords.shape[1]))])
    return coords
