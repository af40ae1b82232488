"""Reducers: vectors -> a few dimensions where density clustering works.

HDBSCAN's density estimate degrades in 100 dimensions (every distance looks alike), so the seed
(and BERTopic) first reduce with UMAP. The interface is one method so tests can swap in PCA or the
identity, which cost nothing, while production uses UMAP.

umap-learn and pynndescent are numba code, and most of their functions are not marked
``cache=True``: every fresh process (every Airflow clusters task) compiled them again.
:func:`import_umap` turns numba's on-disk cache on for those functions before their first call,
so only the first run on a machine compiles (``benchmarks/bench_clusters_cold.py``; the figures
are in the README).
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import Protocol

import numpy as np

from topictensor.topics.params import TopicsConfig

log = logging.getLogger(__name__)


class Reducer(Protocol):
    name: str

    def fit_transform(self, vectors: np.ndarray) -> np.ndarray:
        """Rows in, the same rows in the reduced space out (float32)."""


class IdentityReducer:
    """No reduction: for tests with planted clusters already separable in the input space."""

    name = "none"

    def fit_transform(self, vectors: np.ndarray) -> np.ndarray:
        return np.asarray(vectors, dtype=np.float32)


class PcaReducer:
    """Linear reduction (deterministic, instant): a baseline and a test stand-in for UMAP."""

    name = "pca"

    def __init__(self, n_components: int = 5, seed: int = 0):
        self.n_components = n_components
        self.seed = seed

    def fit_transform(self, vectors: np.ndarray) -> np.ndarray:
        from sklearn.decomposition import PCA

        k = min(self.n_components, vectors.shape[0], vectors.shape[1])
        return PCA(n_components=k, random_state=self.seed).fit_transform(vectors).astype(np.float32)


class UmapReducer:
    """UMAP with the cosine metric, seeded (a fixed random_state also makes it single-threaded,
    which is what makes a rerun give the same topics)."""

    name = "umap"

    def __init__(self, n_components: int = 5, n_neighbors: int = 15, min_dist: float = 0.0, seed: int = 0):
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.seed = seed

    def fit_transform(self, vectors: np.ndarray) -> np.ndarray:
        n = vectors.shape[0]
        # UMAP's spectral initialisation needs more points than dimensions + 1; below that the
        # input is tiny and the identity loses nothing.
        if n <= self.n_components + 2:
            log.info("umap: only %d points, skipping the reduction", n)
            return np.asarray(vectors, dtype=np.float32)
        from topictensor import numba_cache

        log.info("umap: %d vectors of %d dims to %d (the first run on a machine compiles umap's numba code, "
                 "30-60 s, into %s; later runs load it)", n, vectors.shape[1], self.n_components,
                 numba_cache.cache_dir())
        started = time.perf_counter()
        umap = import_umap()
        model = umap.UMAP(
            n_components=self.n_components,
            n_neighbors=max(2, min(self.n_neighbors, n - 1)),
            min_dist=self.min_dist,
            metric="cosine",
            random_state=self.seed,
            init="spectral" if n > 4 * self.n_components else "random",
        )
        with warnings.catch_warnings():
            # "n_jobs overridden to 1 by setting random_state": intended, see the class docstring.
            warnings.filterwarnings("ignore", message=".*n_jobs.*")
            out = model.fit_transform(vectors).astype(np.float32)
        log.info("umap: done in %.1f s", time.perf_counter() - started)
        return out


def import_umap():
    """umap-learn, with numba's on-disk cache enabled on every jitted function of umap and
    pynndescent that lacks it (they are compiled on first call, so this must precede it)."""
    import umap

    enabled = _enable_numba_caching(("umap", "pynndescent"))
    if enabled:
        log.debug("numba caching enabled on %d functions of umap and pynndescent", enabled)
    return umap


def _enable_numba_caching(packages: tuple[str, ...]) -> int:
    """Give every module-level numba dispatcher of ``packages`` that has no cache numba's file
    cache (what ``@njit(cache=True)`` does). Returns how many; 0 when numba's internals differ."""
    import sys

    try:
        from numba.core.caching import NullCache
        from numba.core.dispatcher import Dispatcher
    except ImportError:  # another numba layout: umap still works, it just compiles every time
        return 0
    enabled = 0
    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] not in packages:
            continue
        for value in list(vars(module).values()):
            if isinstance(value, Dispatcher) and isinstance(getattr(value, "_cache", None), NullCache):
                try:
                    value.enable_caching()
                except Exception:  # noqa: BLE001 - uncachable function: it compiles as before
                    continue
                enabled += 1
    return enabled


def make_reducer(cfg: TopicsConfig) -> Reducer:
    if cfg.reducer == "umap":
        return UmapReducer(cfg.n_components, cfg.n_neighbors, cfg.min_dist, cfg.seed)
    if cfg.reducer == "pca":
        return PcaReducer(cfg.n_components, cfg.seed)
    return IdentityReducer()
