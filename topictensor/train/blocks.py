"""The trainer's side of the kernel interface: the kernels' arguments built in one place, each
thread's scratch buffers, the compile warm-up, and the queue of blocks the threads take.

``KernelInputs`` holds what every block shares (the matrices, the corpus, the hyperparameters);
``KernelInputs.run_block`` adds the block's own range, seed and learning rates. The training
(trainer.py) and the warm-up (:func:`compile_kernels`) both go through it, so the kernels are
compiled for exactly the argument types training uses.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from topictensor.train import kernels
from topictensor.train.params import TrainConfig
from topictensor.train.sampler import AliasTable, build_alias_table


def settings(cfg: TrainConfig) -> kernels.Settings:
    """The hyperparameters the kernels read, from the config (mode and loss as kernel codes)."""
    return kernels.Settings(
        mode=kernels.MODES[cfg.mode], loss=kernels.LOSSES[cfg.loss], negatives=int(cfg.negatives),
        margin=float(cfg.margin), temperature=float(cfg.temperature), adagrad=bool(cfg.adagrad),
        max_context=int(cfg.max_context), both_directions=bool(cfg.both_directions),
    )


def row_state(mat: np.ndarray) -> np.ndarray:
    """Per row: Adagrad accumulator 0 and the cached norm |row| (before the first epoch)."""
    state = np.zeros((mat.shape[0], 2), dtype=np.float32)
    state[:, 1] = np.linalg.norm(mat, axis=1)
    return state


_PAD_BYTES = 256  # beyond a cache line (64 B) and the adjacent-line prefetcher's pair (128 B)


def _padded(shape: tuple[int, ...], dtype) -> np.ndarray:
    """A zeroed C-contiguous array with ``_PAD_BYTES`` of unused memory on both sides."""
    itemsize = np.dtype(dtype).itemsize
    pad = _PAD_BYTES // itemsize
    size = int(np.prod(shape))
    raw = np.zeros(size + 2 * pad, dtype=dtype)
    return raw[pad:pad + size].reshape(shape)


class ThreadBuffers:
    """One thread's scratch arrays for train_block (:class:`kernels.Scratch`) and its running totals.

    Each array sits in its own padded allocation: small arrays of two threads allocated one after
    the other would otherwise share a cache line, and writes to them every example would bounce
    that line between the cores (false sharing)."""

    def __init__(self, dim: int, vocab_size: int, max_post: int, negatives: int) -> None:
        self.scratch = kernels.Scratch(
            buf=_padded((2, dim), np.float32),
            kept=_padded((max(max_post, 1),), np.int64),
            neg_i=_padded((2, negatives), np.int32),
            neg_f=_padded((2, negatives), np.float32),
            marks=_padded((vocab_size,), np.int32),
            stamp=_padded((1,), np.int64),
            out=_padded((3,), np.float64),
        )
        self.totals = np.zeros(3, dtype=np.float64)  # loss, examples, tags since the last reset


@dataclass(frozen=True)
class KernelInputs:
    """Everything the blocks of one training share (the kernels' arguments but the block's own)."""

    model: kernels.Model
    corpus: kernels.Corpus
    hp: kernels.Settings

    @classmethod
    def build(cls, lhs: np.ndarray, rhs: np.ndarray, acc_l: np.ndarray, acc_r: np.ndarray, *,
              offsets: np.ndarray, ids: np.ndarray, weights: np.ndarray, perm: np.ndarray,
              keep_prob: np.ndarray, table: AliasTable, cfg: TrainConfig) -> "KernelInputs":
        return cls(
            model=kernels.Model(lhs, rhs, acc_l, acc_r),
            corpus=kernels.Corpus(offsets, ids, weights, perm, keep_prob, table.prob, table.alias),
            hp=settings(cfg),
        )

    def buffers(self, max_post: int) -> ThreadBuffers:
        """A fresh thread's buffers sized for these inputs."""
        lhs = self.model.lhs
        return ThreadBuffers(lhs.shape[1], lhs.shape[0], max_post, self.hp.negatives)

    def run_block(self, mine: ThreadBuffers, start: int, stop: int, seed: np.uint64,
                  lr_start: float, lr_end: float) -> None:
        """Train on ``perm[start:stop]`` with the calling thread's buffers; adds to its totals."""
        kernels.train_block(self.model, self.corpus, self.hp, mine.scratch, start, stop, seed,
                            float(lr_start), float(lr_end))
        mine.totals += mine.scratch.out

    def shuffle(self, lo: int, hi: int, seed: np.uint64) -> None:
        kernels.shuffle_slice(self.corpus.perm, lo, hi, seed)


def _warmup_inputs() -> KernelInputs:
    """A two-tag, one-post training with the argument types of a real one."""
    lhs = np.full((2, 2), 0.1, dtype=np.float32)
    acc = row_state(lhs)
    cfg = TrainConfig(mode="pair", dim=2, negatives=1, margin=0.05, temperature=0.1, adagrad=False)
    return KernelInputs.build(
        lhs, lhs, acc, acc, offsets=np.array([0, 2], dtype=np.int64), ids=np.array([0, 1], dtype=np.int32),
        weights=np.ones(2, dtype=np.float32), perm=np.zeros(1, dtype=np.int64),
        keep_prob=np.ones(2, dtype=np.float32), table=build_alias_table(np.ones(2)), cfg=cfg,
    )


def compile_kernels() -> float:
    """Compile (or load from NUMBA_CACHE_DIR) the kernels on a 2-tag dummy; returns seconds.

    Called before the epoch loop so that epoch timings and tags/s measure training, not the JIT.
    """
    t = time.perf_counter()
    inputs = _warmup_inputs()
    inputs.shuffle(0, 1, np.uint64(1))
    inputs.run_block(inputs.buffers(2), 0, 1, np.uint64(1), 0.0, 0.0)
    return time.perf_counter() - t


def kernels_cached() -> bool:
    """Whether numba's cache holds the trainer's kernels for this source (a load, not a compile).

    Reads numba's own index file of each cached entry point; False when in doubt."""
    try:
        return all(Path(d._cache._cache_file._index_path).is_file() and bool(d._cache._cache_file._load_index())
                   for d in (kernels.train_block, kernels.shuffle_slice))
    except Exception:  # noqa: BLE001 - numba's internals moved: say "compiling", the safe message
        return False


def run_dynamic(pool: ThreadPoolExecutor | None, threads: list[ThreadBuffers],
                jobs: list[Callable[[ThreadBuffers], None]]) -> None:
    """Run ``jobs`` (each given the calling thread's buffers): in order on one thread, or taken
    from a shared queue by every thread until it is empty."""
    if pool is None:
        for job in jobs:
            job(threads[0])
        return
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for job in jobs:
        todo.put(job)

    def worker(mine: ThreadBuffers) -> None:
        while True:
            try:
                job = todo.get_nowait()
            except queue.Empty:
                return
            job(mine)

    for future in [pool.submit(worker, t) for t in threads]:
        future.result()  # re-raises a kernel's error here
