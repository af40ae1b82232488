"""The numba kernels of the trainer (StarSpace's objective on cosine similarity).

Lock-free (Hogwild) SGD: threads take blocks of the shuffled post order from a shared queue
(trainer.py) and write the shared matrices without locks, as StarSpace and word2vec do;
collisions on a row are rare and harmless to convergence. The kernels are plain ``nogil``
functions called from Python threads, not numba ``parallel`` loops: a parallel loop splits the
work statically, so one thread slowed by other load on the machine made the whole epoch wait
(README: "Why the trainer and topics code is shaped so"); a queue of small blocks lets the faster
thread take more of them, as gensim's job queue does. Everything here is array-in/array-out so it can be cached on disk
(``cache=True``) and reused by a fresh process without recompiling.

The interface is ``train_block(model, corpus, hp, scratch, start, stop, seed, lr_start, lr_end)``
and ``shuffle_slice``: four named tuples (:class:`Model`, :class:`Corpus`, :class:`Settings`,
:class:`Scratch`, built by ``blocks.KernelInputs``) and the block's own range, seed and learning
rates. ``train_block`` unpacks them once per block; below it the per-example ``_example`` takes
plain arrays.

Why one module of ~450 lines: numba's on-disk cache checks only the source file of the function
it compiled, so a kernel calling a helper kept in another file would go on loading a stale
compiled copy of that helper after the helper's file changed. Everything the kernels call lives
here, and nothing else does.

An example is a left vector l (one tag's row, or for cbow the weighted sum of the post's other
tags), a positive right tag r+ and ``negatives`` candidates r- drawn from the alias table,
redrawn when they fall inside the post (they would push apart true neighbours).
- hinge (StarSpace): loss = sum over candidates of max(0, margin - cos(l, r+) + cos(l, r-)); the
  gradient is averaged over the violating candidates, and only they are updated.
- softmax: cross-entropy of r+ against the candidates over logits cos / temperature.
Optimiser: SGD with StarSpace's Adagrad, one accumulator per row (the mean squared gradient).

Weights: the loss and every gradient of an example are multiplied by its weight ``ex_w``:
- skipgram / pair: ex_w = w(left occurrence) * w(right occurrence);
- cbow: l = sum_j w_j * E[j] over the other tags of the post, ex_w = w(held-out tag), and
  row j of the left side receives w_j times the gradient of l.
So an occurrence of weight 0 never moves its tag's row, and such tags are never drawn as
negatives (the sampler is built from weighted counts).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

# How a post's kept tags are paired, and the loss; the config's names map to them here only.
MODE_SKIPGRAM = 0
MODE_CBOW = 1
MODE_PAIR = 2
MODES = {"skipgram": MODE_SKIPGRAM, "cbow": MODE_CBOW, "pair": MODE_PAIR}
LOSS_HINGE = 0
LOSS_SOFTMAX = 1
LOSSES = {"hinge": LOSS_HINGE, "softmax": LOSS_SOFTMAX}


# The kernels' arguments, grouped by who owns them (numba passes named tuples by value, unpacked
# at no cost). trainer.py builds them in one place (``blocks.KernelInputs``) for the training and
# for the compile warm-up alike.
class Model(NamedTuple):
    """The shared matrices every thread writes (Hogwild): lhs/rhs are one array unless
    separate_rhs; acc_* hold per row [Adagrad accumulator, cached norm] (see _update_row)."""

    lhs: np.ndarray  # float32 [V, dim]
    rhs: np.ndarray  # float32 [V, dim]
    acc_l: np.ndarray  # float32 [V, 2]
    acc_r: np.ndarray  # float32 [V, 2]


class Corpus(NamedTuple):
    """Read-only inputs: the posts in CSR form, the shuffled post order and the per-tag tables."""

    offsets: np.ndarray  # int64 [n_posts + 1]
    ids: np.ndarray  # int32 [n_occurrences]
    weights: np.ndarray  # float32 [n_occurrences]
    perm: np.ndarray  # int64: post order (shuffled in place every epoch by shuffle_slice)
    keep_prob: np.ndarray  # float32 [V]: frequent-tag subsampling
    alias_prob: np.ndarray  # float32 [V]: the negative sampler's alias table
    alias_idx: np.ndarray  # int32 [V]


class Settings(NamedTuple):
    """The hyperparameters the kernels read (from TrainConfig: ``blocks.settings``)."""

    mode: int  # MODE_*
    loss: int  # LOSS_*
    negatives: int
    margin: float
    temperature: float
    adagrad: bool
    max_context: int  # skipgram: other tags paired with each tag at most (0 = all)
    both_directions: bool  # skipgram: every ordered pair instead of each unordered pair once


class Scratch(NamedTuple):
    """One thread's buffers (never shared: the kernels write them freely)."""

    buf: np.ndarray  # float32 [2, dim]: the left vector and its gradient
    kept: np.ndarray  # int64 [longest post]: the kept occurrences of the current post
    neg_i: np.ndarray  # int32 [2, negatives]: drawn candidates, then the scored ones
    neg_f: np.ndarray  # float32 [2, negatives]: their cosines and norms
    marks: np.ndarray  # int32 [V]: stamp of the post a tag was last seen in
    stamp: np.ndarray  # int64 [1]: the thread's current stamp
    out: np.ndarray  # float64 [3]: loss sum, examples, tag occurrences of the last block

_EPS = 1e-12
_NEG_TRIES = 5  # redraws when a negative falls inside the post (it would push apart true neighbours)


@njit(cache=True, nogil=True, error_model="numpy")
def _next(state):
    """xorshift64*: one 64-bit draw; state is a 1-element uint64 array owned by one thread."""
    x = state[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    state[0] = x
    return x * np.uint64(2685821657736338717)


@njit(cache=True, nogil=True, error_model="numpy")
def _rand_below(state, n):
    """Uniform in [0, n) for n < 2**32 by multiply-shift (Lemire), no division."""
    return np.int64(((_next(state) >> np.uint64(32)) * np.uint64(n)) >> np.uint64(32))


@njit(cache=True, nogil=True, error_model="numpy")
def _rand_unit(state):
    return np.float64(_next(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True, error_model="numpy")
def _draw_negative(state, alias_prob, alias_idx, marks, stamp):
    """A tag from the alias table that is not in the current post (marks[tag] == stamp), or -1
    after a few failed tries. One 64-bit draw gives both the bucket (high half) and the coin
    (low half)."""
    v = np.uint64(alias_prob.shape[0])
    for _ in range(_NEG_TRIES):
        x = _next(state)
        b = np.int64(((x >> np.uint64(32)) * v) >> np.uint64(32))
        coin = np.float32(x & np.uint64(0xFFFFFFFF)) * np.float32(2.3283064e-10)
        cand = b if coin < alias_prob[b] else alias_idx[b]
        if marks[cand] != stamp:
            return cand
    return -1


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _update_row(mat, state, row, grad, scale, lr, adagrad):
    """row -= lr * scale * grad, then refresh the row's cached norm.

    ``state[row, 0]`` is the Adagrad accumulator, one per row as in StarSpace (the mean squared
    gradient); ``state[row, 1]`` caches |row| so that scoring a negative costs one dot product.
    """
    dim = mat.shape[1]
    step = lr * scale
    if adagrad:
        s = np.float32(0.0)
        for d in range(dim):
            s += grad[d] * grad[d]
        state[row, 0] += s * (scale * scale / dim)
        step = step / np.sqrt(state[row, 0] + 1e-8)
    step32 = np.float32(step)
    sq = np.float32(0.0)
    for d in range(dim):
        x = mat[row, d] - step32 * grad[d]
        mat[row, d] = x
        sq += x * x
    state[row, 1] = np.sqrt(sq)


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _update_right_row(mat, state, row, lvec, a, b, dot, l_sq, scale, lr, adagrad):
    """_update_row for a right-hand row r with the gradient g = a*l - b*r, fused: g is never
    written out, and Adagrad's |g|^2 = a^2|l|^2 + b^2|r|^2 - 2ab(l.r) comes from the norms and
    the dot product already known (two passes over the row fewer per updated candidate)."""
    dim = mat.shape[1]
    rn = state[row, 1]
    step = lr * scale
    if adagrad:
        sq_grad = a * a * l_sq + b * b * rn * rn - 2.0 * a * b * dot
        if sq_grad < 0.0:
            sq_grad = 0.0
        state[row, 0] += sq_grad * (scale * scale / dim)
        step = step / np.sqrt(state[row, 0] + 1e-8)
    keep = np.float32(1.0 + step * b)
    pull = np.float32(step * a)
    sq = np.float32(0.0)
    for d in range(dim):
        x = keep * mat[row, d] - pull * lvec[d]
        mat[row, d] = x
        sq += x * x
    state[row, 1] = np.sqrt(sq)


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _norm(v):
    s = np.float32(0.0)
    for d in range(v.shape[0]):
        s += v[d] * v[d]
    return np.sqrt(s)


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _example(lhs, rhs, acc_l, acc_r, ids, weights, kept, m, left_pos, right_pos, ex_w,
             loss_kind, margin, temperature, lr, adagrad,
             lvec, grad_l, cands, n_cands, neg_ids, neg_cos, neg_norm):
    """One training example against the negative candidates ``cands[:n_cands]``; returns its
    (unweighted) loss. ``left_pos == -1`` means cbow's rest-of-post (the kept occurrences
    ``kept[:m]`` other than ``right_pos``). Called once per example, so it takes plain arrays: a
    named tuple unpacked here would cost reference counting on every call (README: "Why the trainer
    and topics code is shaped so")."""
    dim = lhs.shape[1]
    pos = ids[right_pos]
    # Left vector.
    if left_pos >= 0:
        li = ids[left_pos]
        for d in range(dim):
            lvec[d] = lhs[li, d]
    else:
        for d in range(dim):
            lvec[d] = 0.0
        for q in range(m):
            k = kept[q]
            if k != right_pos and ids[k] != pos:
                wk = weights[k]  # float32
                row = ids[k]
                for d in range(dim):
                    lvec[d] += wk * lhs[row, d]
    ln = _norm(lvec)
    if ln < _EPS:
        return 0.0
    rp_norm = acc_r[pos, 1]
    if rp_norm < _EPS:
        rp_norm = _EPS
    dot = np.float32(0.0)
    for d in range(dim):
        dot += lvec[d] * rhs[pos, d]
    cos_p = dot / (ln * rp_norm)

    # Score the negatives.
    n_neg = 0
    for c in range(n_cands):
        cand = cands[c]
        cn = acc_r[cand, 1]
        if cn < _EPS:
            cn = _EPS
        dot = np.float32(0.0)
        for d in range(dim):
            dot += lvec[d] * rhs[cand, d]
        neg_ids[n_neg] = cand
        neg_cos[n_neg] = dot / (ln * cn)
        neg_norm[n_neg] = cn
        n_neg += 1
    if n_neg == 0:
        return 0.0

    # Coefficients: dL/dcos for the positive (c_p) and each negative (neg_cos reused as c_k).
    loss = 0.0
    inv_t = 1.0 / temperature
    zmax = 0.0
    if loss_kind == LOSS_HINGE:
        n_viol = 0
        for k in range(n_neg):
            viol = margin - cos_p + neg_cos[k]
            if viol > 0.0:
                loss += viol
                neg_ids[n_viol] = neg_ids[k]
                neg_norm[n_viol] = neg_norm[k]
                neg_cos[n_viol] = neg_cos[k]
                n_viol += 1
        if n_viol == 0:
            return 0.0
        # StarSpace averages the gradient over the violating negatives.
        c_p = -1.0
        n_neg = n_viol
        coef_neg = 1.0 / n_viol
        use_softmax = False
    else:
        zmax = cos_p * inv_t
        for k in range(n_neg):
            z = neg_cos[k] * inv_t
            if z > zmax:
                zmax = z
        denom = np.exp(cos_p * inv_t - zmax)
        for k in range(n_neg):
            denom += np.exp(neg_cos[k] * inv_t - zmax)
        p0 = np.exp(cos_p * inv_t - zmax) / denom
        loss = -np.log(max(p0, 1e-30))
        c_p = (p0 - 1.0) * inv_t
        coef_neg = inv_t / denom  # times exp(z_k - zmax) per negative
        use_softmax = True

    # grad_l = c_p * dcos_p/dl + sum_k c_k * dcos_k/dl, with dcos(l,r)/dl = (r/|r| - cos*l/|l|)/|l|
    # and dcos(l,r)/dr = (l/|l| - cos*r/|r|)/|r|. Coefficients are folded into float32 scalars
    # so that the inner loops are multiply-adds (no divisions, no float64) and vectorise.
    # The -b*l terms of all candidates are summed first and applied once at the end.
    a = np.float32(c_p / (ln * rp_norm))
    b_total = c_p * cos_p / (ln * ln)
    for d in range(dim):
        grad_l[d] = a * rhs[pos, d]
    for k in range(n_neg):
        if use_softmax:
            ck = coef_neg * np.exp(neg_cos[k] * inv_t - zmax)
        else:
            ck = coef_neg
        nid = neg_ids[k]
        nn = neg_norm[k]
        ncos = neg_cos[k]
        a = np.float32(ck / (ln * nn))
        b_total += ck * ncos / (ln * ln)
        for d in range(dim):
            grad_l[d] += a * rhs[nid, d]
        _update_right_row(rhs, acc_r, nid, lvec, ck / (ln * nn), ck * ncos / (nn * nn), ncos * ln * nn,
                          ln * ln, ex_w, lr, adagrad)
    _update_right_row(rhs, acc_r, pos, lvec, c_p / (ln * rp_norm), c_p * cos_p / (rp_norm * rp_norm),
                      cos_p * ln * rp_norm, ln * ln, ex_w, lr, adagrad)
    b32 = np.float32(b_total)
    for d in range(dim):
        grad_l[d] -= b32 * lvec[d]
    if left_pos >= 0:
        _update_row(lhs, acc_l, ids[left_pos], grad_l, ex_w, lr, adagrad)
    else:
        for q in range(m):
            k = kept[q]
            if k != right_pos and ids[k] != pos and weights[k] > 0.0:
                _update_row(lhs, acc_l, ids[k], grad_l, ex_w * weights[k], lr, adagrad)
    return loss


@njit(cache=True, nogil=True, error_model="numpy")
def _draw_candidates(state, alias_prob, alias_idx, marks, stamp, cands, negatives):
    """Fill cands with up to ``negatives`` tags not in the post; returns how many."""
    n = 0
    for _ in range(negatives):
        cand = _draw_negative(state, alias_prob, alias_idx, marks, stamp)
        if cand >= 0:
            cands[n] = cand
            n += 1
    return n


@njit(cache=True, nogil=True, error_model="numpy")
def shuffle_slice(perm, lo, hi, seed):
    """Fisher-Yates shuffle of ``perm[lo:hi]`` in place with its own RNG (one call per thread)."""
    state = np.empty(1, dtype=np.uint64)
    state[0] = seed | np.uint64(1)
    n = hi - lo
    for i in range(n - 1, 0, -1):
        j = _rand_below(state, i + 1)
        tmp = perm[lo + i]
        perm[lo + i] = perm[lo + j]
        perm[lo + j] = tmp


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def train_block(model, corpus, hp, scratch, start, stop, seed, lr_start, lr_end):
    """Train on the posts ``corpus.perm[start:stop]`` (one block; the caller's threads take blocks
    from a shared queue, so a thread slowed down by other load takes fewer of them). ``scratch``
    belongs to the calling thread.

    Each tag occurrence is kept with probability keep_prob[tag] (frequent-tag subsampling,
    redrawn every epoch); the post's kept occurrences are then paired by ``hp.mode``. The
    learning rate moves linearly from lr_start to lr_end across the block. Writes the loss sum,
    the number of examples and the number of tag occurrences seen to ``scratch.out[0:3]``.
    """
    state = np.empty(1, dtype=np.uint64)
    state[0] = seed | np.uint64(1)
    # Unpacked once per block: the per-example function takes plain arguments.
    lhs, rhs, acc_l, acc_r = model
    offsets, ids, weights, perm, keep_prob, alias_prob, alias_idx = corpus
    mode, loss_kind, negatives, margin, temperature, adagrad, max_context, both_directions = hp
    lvec, grad_l = scratch.buf[0], scratch.buf[1]
    cands, neg_ids, neg_cos, neg_norm = scratch.neg_i[0], scratch.neg_i[1], scratch.neg_f[0], scratch.neg_f[1]
    kept, marks = scratch.kept, scratch.marks
    stamp = scratch.stamp[0]
    span = max(stop - start, 1)
    loss_sum = 0.0
    n_ex = 0
    n_tags = 0
    for t in range(start, stop):
        lr = lr_start + (lr_end - lr_start) * ((t - start) / span)
        p = perm[t]
        lo = offsets[p]
        hi = offsets[p + 1]
        n_tags += hi - lo
        # Stamp the post's tags so that negatives can be checked against the post in O(1).
        if stamp >= 2147483646:
            marks[:] = 0
            stamp = 0
        stamp += 1
        for k in range(lo, hi):
            marks[ids[k]] = stamp
        m = 0
        for k in range(lo, hi):
            kp = keep_prob[ids[k]]
            if kp >= 1.0 or _rand_unit(state) < kp:
                kept[m] = k
                m += 1
        if m < 2:
            continue
        # The pairing modes are branches of this loop, not helpers: as helpers (even inlined by
        # numba) pair mode trained ~9% slower (README, "Why the trainer ... is shaped so").
        if mode == MODE_SKIPGRAM:
            # Each kept tag against the other kept tags (at most max_context of them, drawn at
            # random); without both_directions each unordered pair once, in a random direction.
            capped = max_context > 0 and m - 1 > max_context
            n_right = max_context if capped else m
            for a in range(m):
                for c in range(n_right):
                    if capped:
                        b = _rand_below(state, m - 1)
                        if b >= a:
                            b += 1
                    else:
                        b = c
                    if not both_directions and not capped and b <= a:
                        continue  # each unordered pair once ...
                    i = kept[a]
                    j = kept[b]
                    if not both_directions and (_next(state) & np.uint64(1)) == np.uint64(1):
                        i, j = j, i  # ... in a random direction
                    if i == j or ids[i] == ids[j]:
                        continue
                    w = weights[i] * weights[j]
                    if w <= 0.0:
                        continue
                    n_c = _draw_candidates(state, alias_prob, alias_idx, marks, stamp, cands, negatives)
                    loss_sum += _example(lhs, rhs, acc_l, acc_r, ids, weights, kept, m, i, j, w,
                                         loss_kind, margin, temperature, lr, adagrad,
                                         lvec, grad_l, cands, n_c, neg_ids, neg_cos, neg_norm)
                    n_ex += 1
        elif mode == MODE_CBOW:
            # The rest of the post against each kept tag.
            for b in range(m):
                j = kept[b]
                w = weights[j]
                if w <= 0.0:
                    continue
                n_c = _draw_candidates(state, alias_prob, alias_idx, marks, stamp, cands, negatives)
                loss_sum += _example(lhs, rhs, acc_l, acc_r, ids, weights, kept, m, -1, j, w,
                                     loss_kind, margin, temperature, lr, adagrad,
                                     lvec, grad_l, cands, n_c, neg_ids, neg_cos, neg_norm)
                n_ex += 1
        else:
            # pair: m random ordered pairs of distinct kept tags.
            for _ in range(m):
                a = _rand_below(state, m)
                b = _rand_below(state, m - 1)
                if b >= a:
                    b += 1
                i = kept[a]
                j = kept[b]
                if ids[i] == ids[j]:
                    continue
                w = weights[i] * weights[j]
                if w <= 0.0:
                    continue
                n_c = _draw_candidates(state, alias_prob, alias_idx, marks, stamp, cands, negatives)
                loss_sum += _example(lhs, rhs, acc_l, acc_r, ids, weights, kept, m, i, j, w,
                                     loss_kind, margin, temperature, lr, adagrad,
                                     lvec, grad_l, cands, n_c, neg_ids, neg_cos, neg_norm)
                n_ex += 1
    scratch.stamp[0] = stamp
    scratch.out[0] = loss_sum
    scratch.out[1] = n_ex
    scratch.out[2] = n_tags
