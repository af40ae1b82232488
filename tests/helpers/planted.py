"""Artifacts planted directly in a store, as an upstream stage would have left them."""

from __future__ import annotations

import pyarrow.parquet as pq

from topictensor.artifacts import StageResult, run_stage


def planted(store, stage, tables=None, embeddings=None, extra=None):
    """An artifact of ``stage`` holding the given files (parquet ``tables`` by name, an Embeddings)."""
    def compute(ws):
        for name, table in (tables or {}).items():
            pq.write_table(table, ws.path(name))
        if embeddings is not None:
            embeddings.save(ws.root)
        return StageResult(extra=extra or {})
    return run_stage(store, stage, code="planted", params={"stage": stage}, inputs={}, compute=compute)
