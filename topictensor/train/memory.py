"""Memory estimate of a training job, checked before anything large is allocated.

A worker that runs out of memory midway is killed without a useful log line; refusing up front
with "needs X, has Y, mostly the embedding matrix" tells the operator which knob to turn.
"""

from __future__ import annotations

import os

from dataclasses import dataclass

from topictensor.errors import ResourceError
from topictensor.train.params import TrainConfig
from topictensor.train.threads import resolve_threads

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
    each; with length_power a second weights array, 4 B/occurrence), post order 8 B/post, alias table 8 B/tag, V*4 per thread (which tags are in the
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
        "length-weighted weights (length_power)": occ * _F32 if cfg.length_power > 0 else 0,
        "post order": posts * _I64,
        "sampling table": v * (_F32 + _I32),
        "post marks (per thread)": resolve_threads(cfg) * v * _I32,
        "overhead": _OVERHEAD,
    }
    return MemoryEstimate(bytes_total=sum(breakdown.values()), breakdown=breakdown)


def available_memory(cgroup_root: str = "/sys/fs/cgroup") -> int:
    """What this process may still allocate: MemAvailable from /proc/meminfo (psutil elsewhere),
    capped by the container's cgroup headroom. Inside a container /proc/meminfo shows the host, so
    without the cap the check would pass and the kernel would kill the worker instead."""
    host = _host_available()
    headroom = cgroup_headroom(cgroup_root)
    return host if headroom is None else min(host, headroom)


def _host_available() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import psutil

    return int(psutil.virtual_memory().available)


_UNLIMITED = 1 << 60  # cgroup v1 reports "no limit" as a huge number (close to 2**63)


def cgroup_headroom(root: str = "/sys/fs/cgroup") -> int | None:
    """Limit minus usage of this cgroup (v2: memory.max/current; v1: memory.limit_in_bytes/
    usage_in_bytes), or None when there is no limit or no cgroup memory files."""
    for limit_name, usage_name in (("memory.max", "memory.current"),
                                   ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes"),
                                   ("memory.limit_in_bytes", "memory.usage_in_bytes")):
        try:
            with open(os.path.join(root, limit_name)) as f:
                limit_text = f.read().strip()
            with open(os.path.join(root, usage_name)) as f:
                usage = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if limit_text == "max":
            return None
        limit = int(limit_text)
        return None if limit >= _UNLIMITED else max(limit - usage, 0)
    return None


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
