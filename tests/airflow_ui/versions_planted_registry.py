"""A small model registry with three versions whose differences are known, written with the
registry and artifact functions themselves (no training), for the versions-view tests.

  v1 (2026-01-05, quality 0.200): tags bmw audi car pizza pasta;   topics 0 cars, 1 food
  v2 (2026-01-12, quality 0.240): + tesla apple iphone, - pasta;   topic 0 cars (+tesla), 1 died, 2 phones born
  v3 (2026-01-19, quality 0.220): + pasta burger;                  topics 0, 2, 3 food born again
Each was promoted by the pipeline in turn: v3 is in production, a rollback would go to v2.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from topictensor.artifacts import StageResult, run_stage
from topictensor.registry import Registry
from topictensor.store import LocalStore

VERSIONS = {
    "v1": {"created_at": "2026-01-05T03:00:00+00:00", "quality": 0.200, "run_id": "scheduled__2026-01-05T00:00:00+00:00",
           "tags": {"bmw": 90, "audi": 70, "car": 120, "pizza": 60, "pasta": 40},
           "topics": {0: ("cars", ["bmw", "audi", "car"]), 1: ("food", ["pizza", "pasta"])}},
    "v2": {"created_at": "2026-01-12T03:00:00+00:00", "quality": 0.240, "run_id": "scheduled__2026-01-12T00:00:00+00:00",
           "tags": {"bmw": 95, "audi": 72, "car": 130, "pizza": 61, "tesla": 33, "apple": 50, "iphone": 45},
           "topics": {0: ("cars", ["bmw", "audi", "car", "tesla"]), 2: ("phones", ["apple", "iphone"])}},
    "v3": {"created_at": "2026-01-19T03:00:00+00:00", "quality": 0.220, "run_id": "manual__2026-01-19T03:00:00+00:00",
           "tags": {"bmw": 99, "audi": 75, "car": 131, "pizza": 66, "tesla": 35, "apple": 52, "iphone": 47,
                    "pasta": 12, "burger": 20},
           "topics": {0: ("cars", ["bmw", "audi", "car", "tesla"]), 2: ("phones", ["apple", "iphone"]),
                      3: ("food", ["pizza", "pasta", "burger"])}},
}


def plant_registry(store_dir: Path) -> Registry:
    """Write the three versions into a local store at ``store_dir`` and promote them in order."""
    store = LocalStore(store_dir)
    registry = Registry(store)
    for vid, spec in VERSIONS.items():
        train = run_stage(store, "train", code="planted", params={"version": vid}, inputs={},
                          compute=lambda ws, spec=spec: _write_embeddings(ws, spec["tags"]))
        clusters = run_stage(store, "clusters", code="planted", params={"version": vid}, inputs={"train": train},
                             compute=lambda ws, spec=spec: _write_topics(ws, spec["topics"]))
        registry.write_version({
            "version": vid,
            "created_at": spec["created_at"],
            "run_id": spec["run_id"],
            "stages": {"train": [{"stage": "train", "key": train.key}],
                       "clusters": [{"stage": "clusters", "key": clusters.key}]},
            "metrics": {"quality": spec["quality"]},
            "counts": {"train": {"vocabulary": len(spec["tags"])},
                       "split": {"train_posts": 1000 + 100 * int(vid[1]), "heldout_posts": 50},
                       "blogger_vectors": {"bloggers": 40},
                       "clusters": {"topics": len(spec["topics"])}},
        })
        registry.promote(vid, by="pipeline", reason=f"pipeline run {spec['run_id']}")
    return registry


def _write_embeddings(ws, tags: dict[str, int]) -> StageResult:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(tags), 4)).astype(np.float32)
    table = pa.table({"tag": list(tags), "count": list(tags.values()),
                      "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), 4)})
    pq.write_table(table, ws.path("embeddings.parquet"))
    ws.path("model.json").write_text(json.dumps({"dim": 4}))
    return StageResult(counts={"vocabulary": len(tags)}, metrics={"train_seconds": 1.5})


def _write_topics(ws, topics: dict[int, tuple[str, list[str]]]) -> StageResult:
    pq.write_table(pa.table({"topic_id": list(topics), "label": [label for label, _ in topics.values()],
                             "size": [len(members) for _, members in topics.values()]}), ws.path("topics.parquet"))
    rows = [(tag, tid) for tid, (_, members) in topics.items() for tag in members]
    pq.write_table(pa.table({"tag": [t for t, _ in rows], "topic_id": [i for _, i in rows],
                             "strength": [1.0] * len(rows), "soft": [False] * len(rows)}), ws.path("members.parquet"))
    return StageResult(counts={"topics": len(topics)})


def write_config(path: Path, store_dir: Path) -> Path:
    """A topictensor.yaml that points at the planted store (what TOPICTENSOR_CONFIG names)."""
    path.write_text(f"store:\n  uri: {store_dir}\ngate:\n  min_quality: 0.15\n")
    return path
