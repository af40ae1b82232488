"""The explorer's 2-D map of tags coloured by topic, as the service serves it.

The layout is computed once per model version by the clusters stage (``map.parquet``, see
``topictensor.topics.map``) and read from the artifact; ``/topics/map?limit=N`` serves the N most
used tags of it with their stored positions, so no request ever lays a map out. A version
published before the stage wrote the map is laid out once, at the size the stage would use, and
kept for as long as the version is served (every ``limit`` is a subset of that one layout).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from topictensor.topics.map import MAP_FILE, layout, map_table, pick_tags  # noqa: F401 (re-exported)

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

    @classmethod
    def from_table(cls, table: pa.Table) -> "TopicMap":
        meta = table.schema.metadata or {}
        return cls(tags=table.column("tag").to_pylist(),
                   x=table.column("x").to_numpy().astype(np.float64),
                   y=table.column("y").to_numpy().astype(np.float64),
                   topic_ids=table.column("topic_id").to_numpy().astype(np.int64),
                   counts=table.column("count").to_numpy().astype(np.int64),
                   method=meta.get(b"method", b"tsne").decode())

    def most_used(self, limit: int) -> "TopicMap":
        """The ``limit`` most used tags (count desc, then name), in the map's order, same positions."""
        if len(self.tags) <= limit:
            return self
        order = np.lexsort((np.array(self.tags, dtype=object).astype(str), -self.counts))
        keep = np.sort(order[:limit])
        return TopicMap(tags=[self.tags[i] for i in keep], x=self.x[keep], y=self.y[keep],
                        topic_ids=self.topic_ids[keep], counts=self.counts[keep], method=self.method)

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


def build_topic_map(emb: Any, members: pd.DataFrame, limit: int = DEFAULT_LIMIT, seed: int = 0) -> TopicMap:
    """Lay out the ``limit`` most used tags of a clusters artifact's members table (versions whose
    clusters artifact has no map: done once per version by the service)."""
    table, _ = map_table(emb, members, limit, seed)
    return TopicMap.from_table(table)


def stored_topic_map(artifact: Any) -> TopicMap | None:
    """The map the clusters stage stored in ``artifact``, or None for a version made before it did."""
    if MAP_FILE not in artifact.files:
        return None
    return TopicMap.from_table(artifact.read_table(MAP_FILE))
