"""Memory estimate of a training job, checked before anything large is allocated.

A worker that runs out of memory midway is killed without a useful log line; refusing up front
with "needs X, has Y, mostly the embedding matrix" tells the operator which knob to turn.
"""

from __future__ import annotations

from dataclasses import dataclass

from topictensor.errors import ResourceError
from topictensor.train.params import TrainConfig

_F32 = 4
_I32 = 4
_I64 = 8
# Headroom for Python, numba and temporaries (the quality metric, the parquet writer).
_OVERHEAD = 64 * 1024**2


@dataclass(frozen=True)
class MemoryEstimate:
    bytes_total: int
    breakdown: dict[str, int]

    def dominant(self) -> str:
        return max(self.breakdown, key=self.breakdown.__getitem__)

    def __str__(self) -> str:
        parts = ", ".join(f"{k} {_fmt(v)}" for k, v in sorted(self.breakdown.items(), key=lambda kv: -kv[1]))
        return f"{_fmt(self.bytes_total)} ({parts})"


def _fmt(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def estimate_memory(
    n_tags_vocab: int, n_occurrences: int, cfg: TrainConfig, n_posts: int | None = None
) -> MemoryEstimate:
    """Bytes the trainer will hold at its peak.

    ``n_posts`` defaults to ``n_occurrences`` (an upper bound: every post has at least one tag).
    Terms: embedding matrix V*dim*4 (x2 with separate_rhs, plus the V*dim*4 output combining
    both), row state (Adagrad accumulator and cached norm) V*8 per matrix, corpus (offsets 8 B/post, ids and weights 4 B/occurrence
    each), post order 8 B/post, alias table 8 B/tag, V*4 per thread (which tags are in the
    current post, for rejecting negatives in O(1)), and a fixed overhead.
    """
    v = int(n_tags_vocab)
    occ = int(n_occurrences)
    posts = occ if n_posts is None else int(n_posts)
    n_mats = 2 if cfg.separate_rhs else 1
    breakdown = {
        "embedding matrix": n_mats * v * cfg.dim * _F32,
        "output matrix": (v * cfg.dim * _F32) if cfg.separate_rhs else 0,
        "row state (adagrad, norm)": n_mats * v * 2 * _F32,
        "corpus arrays": (posts + 1) * _I64 + occ * (_I32 + _F32),
        "post order": posts * _I64,
        "sampling table": v * (_F32 + _I32),
        "post marks (per thread)": _threads(cfg) * v * _I32,
        "overhead": _OVERHEAD,
    }
    return MemoryEstimate(bytes_total=sum(breakdown.values()), breakdown=breakdown)


def _threads(cfg: TrainConfig) -> int:
    from topictensor.train.trainer import resolve_threads  # numba import deferred

    return resolve_threads(cfg)


def available_memory() -> int:
    """MemAvailable from /proc/meminfo, falling back to psutil on other systems."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import psutil

    return int(psutil.virtual_memory().available)


def check_memory(estimate: MemoryEstimate, available_bytes: int | None = None) -> None:
    """Raise ResourceError when the estimate does not fit in what is available."""
    avail = available_memory() if available_bytes is None else int(available_bytes)
    if estimate.bytes_total > avail:
        dom = estimate.dominant()
        raise ResourceError(
            f"training needs about {_fmt(estimate.bytes_total)} but only {_fmt(avail)} is available; "
            f"largest term: {dom} = {_fmt(estimate.breakdown[dom])}. "
            f"Breakdown: {estimate}. Lower dim, raise min_count, or use a bigger worker."
        )
