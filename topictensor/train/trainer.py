"""Train tag embeddings: validation, memory check, the epoch loop around the numba kernels, logging."""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from topictensor import numba_cache
from topictensor.train.blocks import KernelInputs, compile_kernels, kernels_cached, row_state, run_dynamic
from topictensor.train.memory import check_memory, estimate_memory
from topictensor.train.params import TrainConfig
from topictensor.train.sampler import build_alias_table, sampling_weights
from topictensor.train.threads import resolve_threads
from topictensor.train.vocab import EncodedPosts, Vocabulary
from topictensor.vectors import unit_rows

log = logging.getLogger("topictensor.train")

__all__ = ["TrainResult", "train"]

# Tag occurrences between two progress reports within an epoch (a big corpus logs every chunk).
CHUNK_OCCURRENCES = 4_000_000
# Blocks per thread and chunk: the unit threads take from the queue. Enough of them that the
# threads finish an epoch together (the last block is the idle tail), few enough that the Python
# call per block stays negligible; measured in the README ("Why the trainer and topics code is
# shaped so").
BLOCKS_PER_THREAD = 32


@dataclass
class TrainResult:
    vectors: np.ndarray  # float32 [V, dim], row i is vocab.tags[i]
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)
    threads: int = 1
    jit_seconds: float = 0.0
    adagrad: np.ndarray | None = None  # float32 [V]: each row's Adagrad accumulator at the end (for a warm start)


def keep_probabilities(counts: np.ndarray, threshold: float) -> np.ndarray:
    """word2vec's subsampling: an occurrence of a tag with corpus share f is kept with probability
    min(1, sqrt(t/f) + t/f); 0 disables it (every occurrence kept)."""
    counts = np.asarray(counts, dtype=np.float64)
    if threshold <= 0:
        return np.ones(len(counts), dtype=np.float32)
    share = counts / max(counts.sum(), 1e-300)
    ratio = np.divide(threshold, share, out=np.full_like(share, np.inf), where=share > 0)
    return np.minimum(1.0, np.sqrt(ratio) + ratio).astype(np.float32)


def length_weights(posts: EncodedPosts, power: float) -> np.ndarray:
    """The occurrence weights the kernels train with: ``posts.weights`` times (n-1)**(-power/2)
    for every occurrence of a post with n tags, so that a pair of two occurrences weighs
    (n-1)**-power times their own weights (a post of 1 tag trains nothing: factor 1); power 0
    returns ``posts.weights`` itself."""
    if power == 0:
        return posts.weights
    lengths = posts.post_lengths().astype(np.float64)
    factor = np.power(np.maximum(lengths - 1.0, 1.0), -power / 2.0)
    return (posts.weights * np.repeat(factor, posts.post_lengths())).astype(np.float32)


def _normal(rng: np.random.Generator, sd: float, shape: tuple[int, int]) -> np.ndarray:
    """normal(0, sd) drawn directly in float32 (no float64 temporary of the whole matrix)."""
    out = rng.standard_normal(size=shape, dtype=np.float32)
    out *= np.float32(sd)
    return out


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


def _block_seeds(seed: int, epoch: int, chunk: int, n: int) -> np.ndarray:
    """One RNG seed per block (or per shuffled slice, chunk -1), reproducible from the config's seed."""
    return np.random.default_rng([seed, epoch, chunk + 1]).integers(1, 2**63 - 1, size=n, dtype=np.uint64)


def _lr_at(cfg: TrainConfig, progress: float) -> float:
    if not cfg.lr_decay:
        return cfg.lr
    return cfg.lr * max(1e-4, 1.0 - progress)


def _epoch_posts(posts: EncodedPosts, trainable: np.ndarray, weighted_counts: np.ndarray,
                 cfg: TrainConfig) -> np.ndarray:
    """The posts one epoch trains on: every trainable post once, and with ``rare_boost`` the
    posts holding a tag of weighted count below ``rare_count`` rare_boost more times."""
    if cfg.rare_boost == 0:
        return trainable
    rare_tag = weighted_counts < cfg.rare_count
    cumulative = np.concatenate([[0], np.cumsum(rare_tag[posts.ids])])
    per_post = cumulative[posts.offsets[1:]] - cumulative[posts.offsets[:-1]]
    boosted = trainable[per_post[trainable] > 0]
    log.info("rare_boost: %d of %d posts hold a tag of count < %d; each trained %d times per epoch",
             len(boosted), len(trainable), cfg.rare_count, 1 + cfg.rare_boost)
    return np.concatenate([trainable] + [boosted] * cfg.rare_boost)


def _ppmi_start(posts: EncodedPosts, V: int, cfg: TrainConfig, random_rows: np.ndarray) -> np.ndarray:
    """PPMI-SVD vectors with each row scaled to the norm of a random row (init_sd * sqrt(dim)),
    so that the learning rate means the same as from a random start; a tag without any positive
    PMI keeps its random row."""
    from topictensor.train.ppmi import ppmi_svd_vectors

    t = time.perf_counter()
    start = ppmi_svd_vectors(posts, V, cfg.dim, seed=cfg.seed)
    norms = np.linalg.norm(start, axis=1, keepdims=True)
    target = np.float32(cfg.init_sd * math.sqrt(cfg.dim))
    out = np.where(norms > 0, start * (target / np.where(norms > 0, norms, 1.0)), random_rows).astype(np.float32)
    log.info("init ppmi_svd: %d x %d in %.2fs (%d rows without positive PMI start random)",
             V, cfg.dim, time.perf_counter() - t, int((norms[:, 0] == 0).sum()))
    return np.ascontiguousarray(out)


def train(
    posts: EncodedPosts,
    vocab: Vocabulary,
    cfg: TrainConfig,
    *,
    init_vectors: np.ndarray | None = None,
    init_adagrad: np.ndarray | None = None,
    progress: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Learn one vector per vocabulary tag from the posts' co-occurrences (see kernels.py for the
    objective and how weights enter). ``progress`` is called after every epoch with its history row.
    ``init_vectors`` (a warm start's, see :func:`topictensor.train.warm.warm_init`) seeds the shared matrix, and ``init_adagrad`` its
    rows' Adagrad accumulators (a warm start continues the previous optimiser: rows it has
    trained a lot take small steps, new rows large ones); with ``separate_rhs`` the
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
    cached = kernels_cached()
    if cached:
        log.info("loading the trainer's compiled kernels from the numba cache (%s)", numba_cache.cache_dir())
    else:
        log.info("compiling the trainer's numba kernels: about 15-20 s, once per machine (cached in %s)",
                 numba_cache.cache_dir())
    jit_seconds = compile_kernels()
    log.info("kernels ready in %.2fs (%s)", jit_seconds, "loaded from the cache" if cached else "compiled")

    rng = np.random.default_rng(cfg.seed)
    if init_vectors is None:
        lhs = _normal(rng, cfg.init_sd, (V, dim))
        if cfg.init == "ppmi_svd":
            lhs = _ppmi_start(posts, V, cfg, lhs)
    else:
        lhs = np.array(init_vectors, dtype=np.float32, order="C", copy=True)
    # Per row: [Adagrad accumulator, cached norm] (see kernels._update_row).
    acc_l = row_state(lhs)
    if init_adagrad is not None:
        if np.shape(init_adagrad) != (V,):
            raise ValueError(f"init_adagrad has shape {np.shape(init_adagrad)}, expected ({V},) = (vocabulary size,)")
        acc_l[:, 0] = np.maximum(np.nan_to_num(np.asarray(init_adagrad, dtype=np.float32)), 0.0)
    if cfg.separate_rhs:
        rhs = _normal(rng, cfg.init_sd, (V, dim))
        acc_r = row_state(rhs)
    else:
        rhs = lhs
        acc_r = acc_l

    weighted_counts = np.bincount(posts.ids, weights=posts.weights, minlength=V)
    table = build_alias_table(sampling_weights(weighted_counts, cfg.neg_power, cfg.neg_mix))

    # Each thread shuffles its own slice of the post order every epoch; posts stay in their slice
    # (the slices come from one global random permutation) so the shuffle runs in parallel.
    # rare_boost: the posts holding a rare tag appear 1 + rare_boost times in the order.
    order = _epoch_posts(posts, trainable, weighted_counts, cfg)
    perm = order[rng.permutation(len(order))]
    slices = np.linspace(0, len(perm), n_threads + 1).astype(np.int64)
    occ_per_epoch = int(posts.post_lengths()[order].sum())
    n_chunks = max(1, math.ceil(occ_per_epoch / CHUNK_OCCURRENCES))
    per_slice = BLOCKS_PER_THREAD
    keep_prob = keep_probabilities(weighted_counts, cfg.subsample)
    lengths = posts.post_lengths()
    inputs = KernelInputs.build(lhs, rhs, acc_l, acc_r, offsets=posts.offsets, ids=posts.ids,
                                weights=length_weights(posts, cfg.length_power),
                                perm=perm, keep_prob=keep_prob, table=table, cfg=cfg)
    threads = [inputs.buffers(int(lengths.max())) for _ in range(n_threads)]
    pool = ThreadPoolExecutor(n_threads, thread_name_prefix="train") if n_threads > 1 else None

    def block_job(start: int, stop: int, seed: np.uint64, lr_start: float, lr_end: float):
        return lambda mine: inputs.run_block(mine, start, stop, seed, lr_start, lr_end)

    def shuffle_job(lo: int, hi: int, seed: np.uint64):
        return lambda mine: inputs.shuffle(lo, hi, seed)

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
    try:
        for epoch in range(cfg.epochs):
            t_ep = time.perf_counter()
            seeds = _block_seeds(cfg.seed, epoch, -1, n_threads)
            run_dynamic(pool, threads, [shuffle_job(int(slices[s]), int(slices[s + 1]), seeds[s])
                                         for s in range(n_threads)])
            for t in threads:
                t.totals[:] = 0
            for chunk in range(n_chunks):
                step = epoch * n_chunks + chunk
                seeds = _block_seeds(cfg.seed, epoch, chunk, n_threads * per_slice)
                jobs = []
                # Block k of every slice before block k + 1 of any: the queue runs roughly in
                # post-order position, so the learning rate of a block matches its place.
                for k in range(per_slice):
                    for s in range(n_threads):
                        size = int(slices[s + 1] - slices[s])
                        c_lo = int(slices[s]) + size * chunk // n_chunks
                        c_hi = int(slices[s]) + size * (chunk + 1) // n_chunks
                        lo = c_lo + (c_hi - c_lo) * k // per_slice
                        hi = c_lo + (c_hi - c_lo) * (k + 1) // per_slice
                        if hi > lo:
                            frac = (step + k / per_slice) / total_steps
                            frac_end = (step + (k + 1) / per_slice) / total_steps
                            jobs.append(block_job(lo, hi, seeds[k * n_threads + s],
                                                  _lr_at(cfg, frac), _lr_at(cfg, frac_end)))
                run_dynamic(pool, threads, jobs)
                ep_loss, ep_ex, ep_tags = (float(x) for x in sum(t.totals for t in threads))
                ep_ex, ep_tags = int(ep_ex), int(ep_tags)
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
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
        if bar is not None:
            bar.close()

    vectors = (unit_rows(lhs) + unit_rows(rhs)).astype(np.float32) if cfg.separate_rhs else lhs
    return TrainResult(
        vectors=vectors,
        history=history,
        seconds=time.perf_counter() - t0,
        config=cfg.model_dump(),
        threads=n_threads,
        jit_seconds=jit_seconds,
        adagrad=acc_l[:, 0].copy(),
    )
