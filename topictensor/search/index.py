"""The ANN backend: nearest blogger vectors by cosine through an nmslib HNSW graph.

This module is the only one that knows the library and its files: what decides a graph (its key
parameters, :func:`key_params`), how it is built from a search config (:func:`build`), what it
saves (``index.nmslib`` + ``index.nmslib.dat``: graph and data, nmslib's own format, and
``index.json``: parameters, row count, the vectors artifact it indexes) and how it is loaded from
wherever a store keeps those files (:func:`read_params`, :func:`load`). Swapping the ANN library
means changing this module only.

An index answers ``search(query, k) -> (rows, cosines)``, best first, rows being positions in the
blogger table it was built from (``topictensor.search.bloggers.VectorIndex``);
``topictensor.search.bloggers.rank_bloggers`` re-ranks exactly what it returns.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from topictensor.vectors import unit_rows

logging.getLogger("nmslib").setLevel(logging.WARNING)  # before nmslib is imported anywhere

if TYPE_CHECKING:
    from topictensor.search.params import SearchConfig

INDEX_FILE = "index.nmslib"
DATA_FILE = INDEX_FILE + ".dat"  # nmslib reads it from next to INDEX_FILE
PARAMS_FILE = "index.json"
FILES = (INDEX_FILE, DATA_FILE, PARAMS_FILE)
METHOD = "hnsw"
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


class HnswIndex:
    """nmslib's HNSW graph (space ``cosinesimil``: distance = 1 - cosine)."""

    method = METHOD

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
        native = nmslib.init(method=METHOD, space=SPACE, data_type=nmslib.DataType.DENSE_VECTOR)
        if len(data):
            native.addDataPointBatch(data)
        threads = threads or os.cpu_count() or 1
        native.createIndex({"M": m, "efConstruction": ef_construction, "post": 0, "indexThreadQty": threads},
                           print_progress=False)
        params = {"space": SPACE, "method": METHOD, "M": m, "efConstruction": ef_construction,
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
        native = nmslib.init(method=params.get("method", METHOD), space=params.get("space", SPACE),
                             data_type=nmslib.DataType.DENSE_VECTOR)
        native.loadIndex(str(index_path), load_data=True)
        merged = dict(params)
        if ef_search is not None:
            merged["ef_search"] = ef_search
        return cls(native, int(params["size"]), merged)


def key_params(section: "SearchConfig") -> dict[str, Any]:
    """What decides the graph (a build's artifact key); efSearch and the thread count are query/how
    settings, not part of it."""
    return {"method": METHOD, "space": SPACE, "M": section.hnsw_m, "efConstruction": section.ef_construction}


def build(vectors: np.ndarray, section: "SearchConfig") -> HnswIndex:
    """The index over ``vectors`` with the ``search`` section's graph, query and thread settings."""
    return HnswIndex.build(vectors, m=section.hnsw_m, ef_construction=section.ef_construction,
                           ef_search=section.ef_search, threads=section.index_threads)


def read_params(path_of: Callable[[str], Path]) -> dict[str, Any]:
    """The saved parameters; ``path_of(name)``: the local path of one of the index's ``FILES``
    (an artifact's ``path``)."""
    return json.loads(Path(path_of(PARAMS_FILE)).read_text())


def load(path_of: Callable[[str], Path], params: dict[str, Any] | None = None,
         ef_search: int | None = None) -> HnswIndex:
    """The saved index whose ``FILES`` are at ``path_of(name)``. nmslib loads ``<index>.dat`` from
    next to ``<index>``; a store's cache may keep the two apart (S3 downloads): they are then linked
    side by side in a scratch folder that lives as long as the process."""
    params = read_params(path_of) if params is None else params
    index_path, data_path = Path(path_of(INDEX_FILE)), Path(path_of(DATA_FILE))
    if Path(str(index_path) + ".dat") != data_path:
        from topictensor.scratch import scratch_dir

        folder = scratch_dir("index-links")  # lives as long as the model: tagged, so no cleanup takes it
        (folder / index_path.name).symlink_to(index_path)
        (folder / (index_path.name + ".dat")).symlink_to(data_path)
        index_path = folder / index_path.name
    return HnswIndex.load(index_path, params, ef_search=ef_search)


def _unit(v: np.ndarray) -> np.ndarray:
    q = np.asarray(v, dtype=np.float32).reshape(-1)
    n = float(np.linalg.norm(q))
    return q / n if n > 0 else q


