"""A count-based start for the trainer: PPMI of the post-level co-occurrence counts, truncated SVD.

The same construction as the PPMI-SVD peer of ``benchmarks/bench_trainer.py`` (context
smoothing 0.75, vectors U * sqrt(S)), built from the encoded posts the trainer reads, with each
pair counted by the product of its occurrences' weights (as the kernels weight an example).
"""

from __future__ import annotations

import numpy as np

from topictensor.train.vocab import EncodedPosts

# Pairs materialised at once (per post-length group): bounds the temporary arrays.
_PAIR_BATCH = 4_000_000


def cooccurrence_matrix(posts: EncodedPosts, vocab_size: int):
    """Symmetric sparse [V, V] float64 matrix: sum over posts of w_i * w_j for each pair of
    occurrences of two distinct tags."""
    from scipy import sparse

    lengths = posts.post_lengths()
    starts = posts.offsets[:-1]
    # Each batch of pairs is summed into the matrix at once, so memory holds the distinct pairs
    # plus one batch, not every pair occurrence of the corpus.
    total = sparse.csr_matrix((vocab_size, vocab_size), dtype=np.float64)
    for n in np.unique(lengths):
        if n < 2:
            continue
        which = np.flatnonzero(lengths == n)
        step = max(1, _PAIR_BATCH // int(n * n))
        for lo in range(0, len(which), step):
            sel = starts[which[lo:lo + step]][:, None] + np.arange(n)[None, :]
            ids = posts.ids[sel].astype(np.int64)
            w = posts.weights[sel].astype(np.float64)
            a = np.repeat(ids, n, axis=1).ravel()
            b = np.tile(ids, (1, n)).ravel()
            ww = (np.repeat(w, n, axis=1) * np.tile(w, (1, n))).ravel()
            keep = (a != b) & (ww > 0)
            total = total + sparse.coo_matrix((ww[keep], (a[keep], b[keep])),
                                              shape=(vocab_size, vocab_size)).tocsr()
    total.sum_duplicates()
    return total


def ppmi_svd_vectors(posts: EncodedPosts, vocab_size: int, dim: int, seed: int = 0,
                     smoothing: float = 0.75) -> np.ndarray:
    """float32 [V, dim]: U * sqrt(S) of the PPMI matrix's top ``dim`` singular vectors (columns
    past the matrix's rank, and rows of tags without any positive PMI, are zero)."""
    from scipy import sparse
    from sklearn.utils.extmath import randomized_svd

    counts = cooccurrence_matrix(posts, vocab_size)
    out = np.zeros((vocab_size, dim), dtype=np.float32)
    total = counts.sum()
    if total <= 0:
        return out
    row_sum = np.asarray(counts.sum(axis=1)).ravel()
    ctx = np.asarray(counts.sum(axis=0)).ravel() ** smoothing
    ctx = ctx / ctx.sum()
    coo = counts.tocoo()
    pmi = np.log((coo.data / total) / ((row_sum[coo.row] / total) * ctx[coo.col]))
    keep = pmi > 0
    ppmi = sparse.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=counts.shape)
    k = min(dim, vocab_size - 1)
    if k < 1 or ppmi.nnz == 0:
        return out
    u, s, _ = randomized_svd(ppmi, n_components=k, random_state=seed)
    out[:, :k] = (u * np.sqrt(s)).astype(np.float32)
    return out
