"""The explorer's 2-D map of tags coloured by topic, as the service serves it.

The layout is computed once per model version by the clusters stage (``map.parquet``, see
``topictensor.topics.map``) and read from the artifact; ``/topics/map?limit=N`` serves the N most
used tags of it with their stored positions, so no request ever lays a map out. A version
published before the stage wrote the map is laid out once, at the size the stage would use, and
kept for as long as the version is served (every ``limit`` is a subset of that one layout).

:class:`VersionTopics` is what the service holds of one version's clusters artifact (topics,
members, tree, map), read when the version is loaded and swapped with it
(``topictensor.service.holder.ServedModel``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from topictensor.topics.map import MAP_FILE, layout, map_table, pick_tags  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 2000
MAX_LIMIT = 10_000
STAGE = "clusters"  # the stage whose artifact holds a version's topics, tree and map


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


class VersionTopics:
    """One version's topics (pandas ``table`` and ``members``), ``tree`` and map."""

    def __init__(self, version: str | None, table, members, tree: dict[str, Any],
                 stored_map: TopicMap | None, embeddings):
        self.version = version
        self.table, self.members, self.tree = table, members, tree
        self._embeddings = embeddings  # for the layout of a version without a stored map
        self._map: tuple[TopicMap, dict[str, Any]] | None = None
        if stored_map is not None:
            self._map = (stored_map, {"source": "clusters artifact", "seconds": 0.0})
        self._lock = threading.Lock()

    @classmethod
    def load(cls, registry, version: str | None, embeddings) -> "VersionTopics | None":
        """The topics of ``version`` (None when it has no clusters artifact), read in full."""
        manifest = registry.get_version(version)
        if not manifest.get("stages", {}).get(STAGE):
            return None
        started = time.perf_counter()
        art = registry.artifact(version, STAGE)
        stored = stored_topic_map(art)
        out = cls(version, art.read_table("topics.parquet").to_pandas(), art.read_table("members.parquet").to_pandas(),
                  art.read_json("tree.json"), stored, embeddings)
        if stored is not None:
            out._map = (stored, {"source": "clusters artifact", "seconds": round(time.perf_counter() - started, 3)})
        return out

    def topic_map(self) -> tuple[TopicMap, dict[str, Any]]:
        """The version's map and where it came from; laid out here once for a version without a
        stored one (one layout at a time: a second request waits and finds it done)."""
        if self._map is None:
            with self._lock:
                if self._map is None:
                    from topictensor.topics.params import TopicsConfig

                    started = time.perf_counter()
                    cfg = TopicsConfig()
                    layout = build_topic_map(self._embeddings, self.members, cfg.explorer_map_tags, cfg.seed)
                    log.info("topic map of version %s: %d tags laid out in %.1f s", self.version, len(layout.tags),
                             time.perf_counter() - started)
                    self._map = (layout, {"source": "laid out by the service (the version's clusters artifact "
                                                    "has no map)", "seconds": round(time.perf_counter() - started, 3)})
        return self._map

    def warm_map(self) -> None:
        """Lay the map out in the background, if it has to be laid out (the explorer was opened)."""
        if self._map is not None or self._lock.locked():
            return

        def work() -> None:
            try:
                self.topic_map()
            except Exception as exc:  # /topics/map will tell the user
                log.info("no topic map for version %s: %s", self.version, exc)

        threading.Thread(target=work, name="topic-map", daemon=True).start()
