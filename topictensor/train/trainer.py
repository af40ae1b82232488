"""Train tag embeddings: validation, memory check, the epoch loop around the numba kernels, logging."""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np

from topictensor.train import kernels
from topictensor.train.memory import MemoryEstimate, check_memory, estimate_memory
from topictensor.train.params import TrainConfig
from topictensor.train.sampler import build_alias_table, sampling_weights
from topictensor.train.vocab import EncodedPosts, Vocabulary

log = logging.getLogger("topictensor.train")

__all__ = [
    "TrainResult",
    "train",
    "align_init",
    "estimate_memory",
    "check_memory",
    "MemoryEstimate",
    "resolve_threads",
]

# Tag occurrences per kernel call: bounds the time between two progress reports on a big corpus.
CHUNK_OCCURRENCES = 4_000_000

_MODES = {"skipgram": kernels.MODE_SKIPGRAM, "cbow": kernels.MODE_CBOW, "pair": kernels.MODE_PAIR}
_LOSSES = {"hinge": kernels.LOSS_HINGE, "softmax": kernels.LOSS_SOFTMAX}


@dataclass
class TrainResult:
    vectors: np.ndarray  # float32 [V, dim], row i is vocab.tags[i]
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)
    threads: int = 1
    jit_seconds: float = 0.0


def resolve_threads(cfg: TrainConfig) -> int:
    """deterministic -> 1; 0 -> all cores numba may use; else capped by numba's maximum."""
    if cfg.deterministic:
        return 1
    most = int(numba.config.NUMBA_NUM_THREADS)
    return most if cfg.threads == 0 else max(1, min(cfg.threads, most))


def keep_probabilities(counts: np.ndarray, threshold: float) -> np.ndarray:
    """word2vec's subsampling: an occurrence of a tag with corpus share f is kept with probability
    min(1, sqrt(t/f) + t/f); 0 disables it (every occurrence kept)."""
    counts = np.asarray(counts, dtype=np.float64)
    if threshold <= 0:
        return np.ones(len(counts), dtype=np.float32)
    share = counts / max(counts.sum(), 1e-300)
    ratio = np.divide(threshold, share, out=np.full_like(share, np.inf), where=share > 0)
    return np.minimum(1.0, np.sqrt(ratio) + ratio).astype(np.float32)


def _normal(rng: np.random.Generator, sd: float, shape: tuple[int, int]) -> np.ndarray:
    """normal(0, sd) drawn directly in float32 (no float64 temporary of the whole matrix)."""
    out = rng.standard_normal(size=shape, dtype=np.float32)
    out *= np.float32(sd)
    return out


def align_init(
    prev_tags: Sequence[str],
    prev_vectors: np.ndarray,
    new_tags: Sequence[str],
    rng: np.random.Generator,
    init_sd: float = 0.001,
) -> tuple[np.ndarray, np.ndarray]:
    """Initial matrix for ``new_tags`` from a previous model: known tags keep their vectors,
    others get normal(0, init_sd). Returns (init float32 [len(new_tags), dim], new_mask bool)."""
    prev_vectors = np.asarray(prev_vectors, dtype=np.float32)
    if prev_vectors.ndim != 2 or prev_vectors.shape[0] != len(prev_tags):
        raise ValueError(
            f"prev_vectors has shape {prev_vectors.shape} but there are {len(prev_tags)} prev_tags"
        )
    prev_index = {t: i for i, t in enumerate(list(prev_tags))}
    src = np.fromiter((prev_index.get(t, -1) for t in new_tags), dtype=np.int64, count=len(new_tags))
    new_mask = src < 0
    dim = prev_vectors.shape[1]
    init = _normal(rng, init_sd, (len(new_tags), dim))
    init[~new_mask] = prev_vectors[src[~new_mask]]
    return init, new_mask


def _validate(posts: EncodedPosts, vocab: Vocabulary, cfg: TrainConfig, init_vectors) -> np.ndarray:
    if len(vocab) == 0:
        raise ValueError("cannot train: the vocabulary is empty (no tag reached min_count)")
    if len(posts) == 0 or posts.n_occurrences == 0:
        raise ValueError("cannot train: the corpus is empty (no post has a tag in the vocabulary)")
    if len(posts.ids) != len(posts.weights):
        raise ValueError(
            f"cannot train: {len(posts.ids)} tag ids but {len(posts.weights)} weights; need one weight per tag"
        )
    lo, hi = int(posts.ids.min()), int(posts.ids.max())
    if lo < 0 or hi >= len(vocab):
        raise ValueError(f"cannot train: tag id {hi if hi >= len(vocab) else lo} outside vocabulary of {len(vocab)}")
    w = posts.weights
    if not np.all(np.isfinite(w)) or float(w.min()) < 0:
        raise ValueError("cannot train: weights must be finite and >= 0")
    lengths = posts.post_lengths()
    trainable = np.flatnonzero(lengths >= 2)
    if len(trainable) == 0:
        raise ValueError(
            f"cannot train: none of the {len(posts)} posts has 2 or more known tags; "
            "co-occurrence needs at least two tags in a post"
        )
    if init_vectors is not None:
        shape = np.shape(init_vectors)
        if shape != (len(vocab), cfg.dim):
            raise ValueError(
                f"init_vectors has shape {shape}, expected ({len(vocab)}, {cfg.dim}) = (vocabulary size, dim)"
            )
    return trainable.astype(np.int64)


def _seeds(seed: int, epoch: int, n_shards: int, chunk: int) -> np.ndarray:
    return np.array(
        [np.random.SeedSequence([seed, epoch, s, chunk]).generate_state(1, np.uint64)[0] for s in range(n_shards)],
        dtype=np.uint64,
    )


def compile_kernels() -> float:
    """Compile (or load from NUMBA_CACHE_DIR) the kernels on a 2-tag dummy; returns seconds.

    Called before the epoch loop so that epoch timings and tags/s measure training, not the JIT.
    """
    t = time.perf_counter()
    lhs = np.full((2, 2), 0.1, dtype=np.float32)
    acc = np.zeros((2, 2), dtype=np.float32)
    offsets = np.array([0, 2], dtype=np.int64)
    ids = np.array([0, 1], dtype=np.int32)
    weights = np.ones(2, dtype=np.float32)
    perm = np.zeros(1, dtype=np.int64)
    bounds = np.array([0, 1], dtype=np.int64)
    seeds = np.ones(1, dtype=np.uint64)
    table = build_alias_table(np.ones(2))
    kernels.init_row_state(lhs, acc)
    kernels.shuffle_shards(perm, bounds, seeds)
    kernels.train_chunk(
        lhs, lhs, acc, acc, offsets, ids, weights, perm, bounds, 0, 1, seeds,
        kernels.MODE_PAIR, kernels.LOSS_HINGE, 1, 0.05, 0.1, 0.0, 0.0, False, 0, False, table.prob, table.alias,
        np.ones(2, dtype=np.float32), np.zeros((1, 3, 2), dtype=np.float32),
        np.zeros((1, 2), dtype=np.int64), np.zeros((1, 2, 1), dtype=np.int32),
        np.zeros((1, 2, 1), dtype=np.float32), np.zeros((1, 2), dtype=np.int32), np.zeros(1, dtype=np.int64),
        np.zeros(1), np.zeros(1, dtype=np.int64),
        np.zeros(1, dtype=np.int64),
    )
    return time.perf_counter() - t


def _lr_at(cfg: TrainConfig, progress: float) -> float:
    if not cfg.lr_decay:
        return cfg.lr
    return cfg.lr * max(1e-4, 1.0 - progress)


def _unit_rows(m: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(n > 0, n, 1.0)


def train(
    posts: EncodedPosts,
    vocab: Vocabulary,
    cfg: TrainConfig,
    *,
    init_vectors: np.ndarray | None = None,
    progress: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Learn one vector per vocabulary tag from the posts' co-occurrences (see kernels.py for the
    objective and how weights enter). ``progress`` is called after every epoch with its history row.
    ``init_vectors`` (see :func:`align_init`) seeds the shared matrix; with ``separate_rhs`` the
    right-hand matrix still starts random. Raises ValueError on unusable input and
    ResourceError when the memory estimate does not fit."""
    t0 = time.perf_counter()
    trainable = _validate(posts, vocab, cfg, init_vectors)
    V, dim = len(vocab), cfg.dim
    estimate = estimate_memory(V, posts.n_occurrences, cfg, n_posts=len(posts))
    check_memory(estimate)
    log.info("training %d tags x %d dims on %d posts (%d trainable); memory estimate %s",
             V, dim, len(posts), len(trainable), estimate)

    n_threads = resolve_threads(cfg)
    numba.set_num_threads(n_threads)
    jit_seconds = compile_kernels()
    log.info("kernels ready in %.2fs (compile or load from the numba cache)", jit_seconds)
    n_shards = n_threads

    rng = np.random.default_rng(cfg.seed)
    if init_vectors is None:
        lhs = _normal(rng, cfg.init_sd, (V, dim))
    else:
        lhs = np.array(init_vectors, dtype=np.float32, order="C", copy=True)
    # Per row: [Adagrad accumulator, cached norm] (see kernels._update_row).
    acc_l = np.zeros((V, 2), dtype=np.float32)
    kernels.init_row_state(lhs, acc_l)
    if cfg.separate_rhs:
        rhs = _normal(rng, cfg.init_sd, (V, dim))
        acc_r = np.zeros((V, 2), dtype=np.float32)
        kernels.init_row_state(rhs, acc_r)
    else:
        rhs = lhs
        acc_r = acc_l

    weighted_counts = np.bincount(posts.ids, weights=posts.weights, minlength=V)
    table = build_alias_table(sampling_weights(weighted_counts, cfg.neg_power))

    perm = trainable[rng.permutation(len(trainable))]
    bounds = np.linspace(0, len(perm), n_shards + 1).astype(np.int64)
    occ_per_epoch = int(posts.post_lengths()[trainable].sum())
    n_chunks = max(1, math.ceil(occ_per_epoch / CHUNK_OCCURRENCES))

    keep_prob = keep_probabilities(weighted_counts, cfg.subsample)
    lengths = posts.post_lengths()
    bufs = np.zeros((n_shards, 3, dim), dtype=np.float32)
    kept = np.zeros((n_shards, int(lengths.max())), dtype=np.int64)
    neg_i = np.zeros((n_shards, 2, cfg.negatives), dtype=np.int32)
    neg_f = np.zeros((n_shards, 2, cfg.negatives), dtype=np.float32)
    marks = np.zeros((n_shards, V), dtype=np.int32)  # per thread: stamp of the post a tag was last seen in
    stamps = np.zeros(n_shards, dtype=np.int64)
    out_loss = np.zeros(n_shards, dtype=np.float64)
    out_ex = np.zeros(n_shards, dtype=np.int64)
    out_tags = np.zeros(n_shards, dtype=np.int64)

    bar = None
    if sys.stderr.isatty():
        try:
            from tqdm import tqdm

            bar = tqdm(total=cfg.epochs * n_chunks, desc="train", unit="chunk", file=sys.stderr)
        except ImportError:  # pragma: no cover
            bar = None

    history: list[dict[str, float]] = []
    t_train = time.perf_counter()
    total_steps = cfg.epochs * n_chunks
    for epoch in range(cfg.epochs):
        t_ep = time.perf_counter()
        kernels.shuffle_shards(perm, bounds, _seeds(cfg.seed, epoch, n_shards, 0))
        ep_loss = 0.0
        ep_ex = 0
        ep_tags = 0
        for chunk in range(n_chunks):
            step = epoch * n_chunks + chunk
            lr_start = _lr_at(cfg, step / total_steps)
            lr_end = _lr_at(cfg, (step + 1) / total_steps)
            kernels.train_chunk(
                lhs, rhs, acc_l, acc_r, posts.offsets, posts.ids, posts.weights, perm, bounds,
                chunk, n_chunks, _seeds(cfg.seed, epoch, n_shards, chunk + 1),
                _MODES[cfg.mode], _LOSSES[cfg.loss], cfg.negatives, cfg.margin, cfg.temperature,
                lr_start, lr_end, cfg.adagrad, cfg.max_context, cfg.both_directions, table.prob, table.alias, keep_prob,
                bufs, kept, neg_i, neg_f, marks, stamps, out_loss, out_ex, out_tags,
            )
            ep_loss += float(out_loss.sum())
            ep_ex += int(out_ex.sum())
            ep_tags += int(out_tags.sum())
            if bar is not None:
                bar.update(1)
            if n_chunks > 1 and chunk < n_chunks - 1:
                elapsed = time.perf_counter() - t_train
                done = (step + 1) / total_steps
                log.info(
                    "epoch %d/%d chunk %d/%d loss %.5f %.0f tags/s elapsed %.1fs eta %.1fs",
                    epoch + 1, cfg.epochs, chunk + 1, n_chunks, ep_loss / max(ep_ex, 1),
                    ep_tags / max(time.perf_counter() - t_ep, 1e-9), elapsed, elapsed / done * (1 - done),
                )
        if not np.isfinite(lhs).all():
            raise FloatingPointError(
                f"training diverged at epoch {epoch + 1} (non-finite vectors); lower lr ({cfg.lr}) or enable adagrad"
            )
        now = time.perf_counter()
        seconds = now - t_ep
        elapsed = now - t_train
        eta = elapsed / (epoch + 1) * (cfg.epochs - epoch - 1)
        row = {
            "epoch": epoch + 1,
            "loss": ep_loss / max(ep_ex, 1),
            "examples": ep_ex,
            "tags_per_s": ep_tags / seconds if seconds > 0 else float("inf"),
            "seconds": seconds,
            "lr": _lr_at(cfg, (epoch + 1) / cfg.epochs),
        }
        history.append(row)
        log.info(
            "epoch %d/%d loss %.5f %.0f tags/s elapsed %.1fs eta %.1fs",
            epoch + 1, cfg.epochs, row["loss"], row["tags_per_s"], elapsed, eta,
        )
        if bar is not None:
            bar.set_postfix(loss=f"{row['loss']:.4f}")
        if progress is not None:
            progress(dict(row))
    if bar is not None:
        bar.close()

    vectors = (_unit_rows(lhs) + _unit_rows(rhs)).astype(np.float32) if cfg.separate_rhs else lhs
    return TrainResult(
        vectors=vectors,
        history=history,
        seconds=time.perf_counter() - t0,
        config=cfg.model_dump(),
        threads=n_threads,
        jit_seconds=jit_seconds,
    )
