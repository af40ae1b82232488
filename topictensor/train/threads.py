"""How many threads a training uses (read by the trainer and by the memory estimate)."""

from __future__ import annotations

from topictensor.train.params import TrainConfig


def resolve_threads(cfg: TrainConfig) -> int:
    """deterministic -> 1; 0 -> all cores numba may use; else capped by numba's maximum."""
    if cfg.deterministic:
        return 1
    import numba  # deferred: the memory estimate is also made where numba is not loaded yet

    most = int(numba.config.NUMBA_NUM_THREADS)
    return most if cfg.threads == 0 else max(1, min(cfg.threads, most))
