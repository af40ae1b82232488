"""Nearest blogger vectors by cosine: an nmslib HNSW index, and an exact numpy twin.

Both answer ``search(query, k) -> (rows, cosines)``, best first, rows being positions in the
blogger table the index was built from; ``topictensor.search.bloggers.rank_bloggers`` re-ranks
what they return. Saved as ``index.nmslib`` + ``index.nmslib.dat`` (graph and data, nmslib's own
format) and ``index.json`` (parameters, row count, the vectors artifact it indexes).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from topictensor.vectors import unit_rows

logging.getLogger("nmslib").setLevel(logging.WARNING)  # before nmslib is imported anywhere

INDEX_FILE = "index.nmslib"
PARAMS_FILE = "index.json"
SPACE = "cosinesimil"


# The nmslib wheel is built without SIMD and its C++ extension writes this notice to file
# descriptor 2 when it is imported (three lines, on every command and every task that loads an
# index). It says nothing an operator can act on, so it is dropped; anything else the import
# writes there is passed through.
_BANNER_LINES = ("Your CPU supports instructions that this binary was not compiled to use",
                 "For maximum performance, you can install NMSLIB from sources",
                 "pip install --no-binary :all: nmslib")


def import_nmslib():
    """Import nmslib with its logger at WARNING and without its import-time banner on stderr."""
    logging.getLogger("nmslib").setLevel(logging.WARNING)
    if "nmslib" in sys.modules:
        return sys.modules["nmslib"]
    with _stderr_captured() as captured:
        import nmslib
    kept = [line for line in captured() if not line.strip().startswith(_BANNER_LINES)]
    if kept:
        sys.stderr.write("\n".join(kept) + "\n")
    return nmslib


@contextlib.contextmanager
def _stderr_captured():
    """Point file descriptor 2 at a temporary file for the block (C++ writes bypass sys.stderr);
    yields a function returning the captured lines once the block has ended."""
    lines: list[str] = []
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (e.g. replaced by a StringIO)
        fd = 2
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            yield lambda: lines
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            lines.extend(tmp.read().decode("utf-8", "replace").splitlines())


class ExactIndex:
    """Brute force over unit rows: exact, and fast enough up to tens of thousands of vectors."""

    method = "exact"

    def __init__(self, vectors: np.ndarray):
        self.vectors = unit_rows(vectors)

    def __len__(self) -> int:
        return len(self.vectors)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = _unit(query)
        sims = self.vectors @ q
        k = max(0, min(k, len(sims)))
        if k == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        top = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
        top = top[np.lexsort((top, -sims[top]))]
        return top.astype(np.int64), sims[top]


class HnswIndex:
    """nmslib's HNSW graph (space ``cosinesimil``: distance = 1 - cosine)."""

    method = "hnsw"

    def __init__(self, native: Any, size: int, params: dict[str, Any]):
        self._native = native
        self._size = size
        self.params = dict(params)
        self._ef = 0
        self.set_ef(int(params.get("ef_search", 200)))

    def __len__(self) -> int:
        return self._size

    @classmethod
    def build(cls, vectors: np.ndarray, *, m: int = 16, ef_construction: int = 200, ef_search: int = 200,
              threads: int = 0) -> "HnswIndex":
        nmslib = import_nmslib()
        data = unit_rows(vectors)
        native = nmslib.init(method="hnsw", space=SPACE, data_type=nmslib.DataType.DENSE_VECTOR)
        if len(data):
            native.addDataPointBatch(data)
        threads = threads or os.cpu_count() or 1
        native.createIndex({"M": m, "efConstruction": ef_construction, "post": 0, "indexThreadQty": threads},
                           print_progress=False)
        params = {"space": SPACE, "method": "hnsw", "M": m, "efConstruction": ef_construction,
                  "ef_search": ef_search, "size": len(data), "dim": int(data.shape[1]) if data.ndim == 2 else 0}
        return cls(native, len(data), params)

    def set_ef(self, ef: int) -> None:
        if ef != self._ef:
            self._native.setQueryTimeParams({"efSearch": int(ef)})
            self._ef = int(ef)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = max(0, min(k, self._size))
        if k == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        # efSearch below k would cap the answer at efSearch results: raise it for large k.
        self.set_ef(max(int(self.params.get("ef_search", 200)), k))
        rows, distances = self._native.knnQuery(_unit(query), k=k)
        return rows.astype(np.int64), (1.0 - distances).astype(np.float32)

    def save(self, directory: str | Path, extra: dict[str, Any] | None = None) -> list[Path]:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self._native.saveIndex(str(d / INDEX_FILE), save_data=True)
        (d / PARAMS_FILE).write_text(json.dumps({**self.params, **(extra or {})}, indent=2, sort_keys=True))
        return sorted(p for p in d.iterdir() if p.name.startswith(INDEX_FILE) or p.name == PARAMS_FILE)

    @classmethod
    def load(cls, index_path: str | Path, params: dict[str, Any], ef_search: int | None = None) -> "HnswIndex":
        """Load ``index_path`` (its ``.dat`` data file must sit next to it)."""
        nmslib = import_nmslib()
        native = nmslib.init(method="hnsw", space=params.get("space", SPACE),
                             data_type=nmslib.DataType.DENSE_VECTOR)
        native.loadIndex(str(index_path), load_data=True)
        merged = dict(params)
        if ef_search is not None:
            merged["ef_search"] = ef_search
        return cls(native, int(params["size"]), merged)


def _unit(v: np.ndarray) -> np.ndarray:
    q = np.asarray(v, dtype=np.float32).reshape(-1)
    n = float(np.linalg.norm(q))
    return q / n if n > 0 else q


