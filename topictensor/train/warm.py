"""Warm start: the starting matrix of a retraining from a previous model's vectors.

Known tags keep their previous vectors (and their Adagrad accumulators, when the model saved
them: rows the previous trainings moved a lot keep taking small steps while new rows take large
ones, as if the optimiser had never stopped), so the new model starts where the old one converged
and needs a few epochs instead of a full training (and tag and blogger vectors stay comparable from
one week to the next). A new tag does not start at random: it starts at the weighted mean
direction of the known tags it co-occurs with in the new posts, scaled to the typical row norm,
so its first epochs refine a good guess instead of searching the whole space. A new tag that
never meets a known tag starts at random like a cold one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit

from topictensor.train.vocab import EncodedPosts, Vocabulary
from topictensor.vectors import unit_rows


@dataclass(frozen=True)
class WarmStart:
    """A previous model to start from: its tags, their vectors, and where it came from (recorded
    in model.json, e.g. ``{"version": "ab12", "artifact": "train/KEY"}`` or ``{"path": DIR}``)."""

    tags: Sequence[str]
    vectors: np.ndarray  # float32 [len(tags), dim]
    source: dict[str, Any] = field(default_factory=dict)
    adagrad: np.ndarray | None = None  # float32 [len(tags)]: the optimiser's per-row state, when saved

    def __post_init__(self) -> None:
        shape = np.shape(self.vectors)
        if len(shape) != 2 or shape[0] != len(self.tags):
            raise ValueError(f"warm start: {len(self.tags)} tags but vectors of shape {shape}")
        if self.adagrad is not None and np.shape(self.adagrad) != (len(self.tags),):
            raise ValueError(f"warm start: {len(self.tags)} tags but Adagrad state of shape {np.shape(self.adagrad)}")

    @property
    def dim(self) -> int:
        return int(np.shape(self.vectors)[1])


@dataclass(frozen=True)
class WarmInit:
    """The starting matrix for the new vocabulary and what happened to each tag."""

    vectors: np.ndarray  # float32 [V, dim], row i is vocab.tags[i]
    adagrad: np.ndarray | None  # float32 [V]: previous accumulators, 0 for new tags (None: not saved)
    new_mask: np.ndarray  # bool [V]: tag absent from the previous model
    placed: int  # new tags initialised from co-occurring known tags
    vanished_tags: list[str]  # previous tags absent from the new vocabulary
    vanished_vectors: np.ndarray  # float32 [len(vanished_tags), dim]
    vanished_adagrad: np.ndarray | None = None

    def summary(self) -> dict[str, int]:
        return {"tags_kept": int((~self.new_mask).sum()), "tags_new": int(self.new_mask.sum()),
                "tags_new_placed": int(self.placed), "tags_vanished": len(self.vanished_tags)}


@njit(cache=True, nogil=True)
def _cooccurrence_sums(offsets, ids, weights, is_new, unit, out, mass):
    """For every new tag t: out[t] += w(t) * sum of w(k) * unit[k] over the known tags k of each
    post it appears in; mass[t] collects the weights summed."""
    dim = unit.shape[1]
    post_sum = np.zeros(dim, dtype=np.float32)
    for p in range(offsets.shape[0] - 1):
        lo, hi = offsets[p], offsets[p + 1]
        has_new = False
        for k in range(lo, hi):
            if is_new[ids[k]]:
                has_new = True
                break
        if not has_new:
            continue
        post_sum[:] = 0.0
        known_w = 0.0
        for k in range(lo, hi):
            t = ids[k]
            if not is_new[t]:
                w = weights[k]
                known_w += w
                for d in range(dim):
                    post_sum[d] += w * unit[t, d]
        if known_w <= 0.0:
            continue
        for k in range(lo, hi):
            t = ids[k]
            if is_new[t]:
                w = weights[k]
                mass[t] += w * known_w
                for d in range(dim):
                    out[t, d] += w * post_sum[d]


def warm_init(
    posts: EncodedPosts,
    vocab: Vocabulary,
    previous: WarmStart,
    rng: np.random.Generator,
    init_sd: float = 0.001,
) -> WarmInit:
    """Starting matrix for ``vocab`` from ``previous`` (see the module docstring)."""
    prev = np.ascontiguousarray(previous.vectors, dtype=np.float32)
    prev_index = {t: i for i, t in enumerate(list(previous.tags))}
    src = np.fromiter((prev_index.get(t, -1) for t in vocab.tags.tolist()), dtype=np.int64, count=len(vocab))
    new_mask = src < 0
    dim = prev.shape[1]
    init = rng.standard_normal(size=(len(vocab), dim), dtype=np.float32)
    init *= np.float32(init_sd)
    init[~new_mask] = prev[src[~new_mask]]
    adagrad = None
    if previous.adagrad is not None:
        prev_acc = np.asarray(previous.adagrad, dtype=np.float32)
        adagrad = np.zeros(len(vocab), dtype=np.float32)
        adagrad[~new_mask] = prev_acc[src[~new_mask]]

    placed = 0
    if new_mask.any() and (~new_mask).any():
        norms = np.linalg.norm(init, axis=1)
        unit = unit_rows(init)
        sums = np.zeros((len(vocab), dim), dtype=np.float32)
        mass = np.zeros(len(vocab), dtype=np.float64)
        _cooccurrence_sums(posts.offsets, posts.ids, posts.weights, new_mask, unit, sums, mass)
        reached = new_mask & (mass > 0)
        if reached.any():
            typical = float(np.median(norms[~new_mask]))
            direction = unit_rows(sums[reached])
            # A little noise keeps two new tags that met the same known tags from starting identical.
            noise = rng.standard_normal(size=direction.shape, dtype=np.float32) * np.float32(0.05 / np.sqrt(dim))
            init[reached] = (direction + noise) * np.float32(typical)
            placed = int(reached.sum())

    in_vocab = set(vocab.index)
    vanished = [t for t in previous.tags if t not in in_vocab]
    vanished_rows = np.fromiter((prev_index[t] for t in vanished), dtype=np.int64, count=len(vanished))
    return WarmInit(vectors=init, adagrad=adagrad, new_mask=new_mask, placed=placed, vanished_tags=vanished,
                    vanished_vectors=prev[vanished_rows] if len(vanished) else np.zeros((0, dim), np.float32),
                    vanished_adagrad=None if previous.adagrad is None
                    else np.asarray(previous.adagrad, dtype=np.float32)[vanished_rows])
