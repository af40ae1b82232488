"""Why a blogger ranks: the tags of theirs that make up their relevance to a theme.

The blogger vector is a weighted sum of unit tag vectors, unit-normalised
(``topictensor.search.vectors``): ``v_b = sum_t w_bt u_t / N_b`` with ``N_b = ||sum_t w_bt u_t||``.
For a unit theme ``q`` the relevance therefore decomposes exactly over the blogger's tags::

    cos(q, v_b) = sum_t  p_bt * (q . u_t),      p_bt = w_bt / N_b   (the tag's profile weight)

Tag ``t`` contributes ``p_bt * (q . u_t)``; its share of the relevance is that over ``cos(q, v_b)``.

Stored, bounded: the blogger_vectors stage keeps each blogger's ``search.profile_tags`` largest
profile weights (``profile_tags`` / ``profile_weights`` columns of ``bloggers.parquet``) and, in
``profile_rest``, the largest weight it left out. At query time every listed contribution is exact;
the tags not stored add up to ``relevance - sum(listed)`` (also exact, reported as ``other``), and
no single one of them can contribute more than ``profile_rest`` (since ``|q . u_t| <= 1``) -- so a
listed tag whose contribution exceeds ``profile_rest`` is certainly among the blogger's true top
contributors. The same stored profile serves tag exclusions (bloggers who use a tag) in
:mod:`topictensor.search.bloggers`.

The weights are the ones the vectors are summed with (``BloggerVectorSums.weight_matrix``); the
stage still checks the reconstruction against the stored float32 vectors (:func:`profile_columns`
returns the worst cosine gap).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from topictensor.embeddings import Embeddings

PROFILE_COLUMNS = ("profile_tags", "profile_weights", "profile_rest")


def tag_weight_matrix(posts: pa.Table, emb: Embeddings, weighting: str = "reweight"):
    """``(blogger ids, scipy CSR matrix bloggers x tags)`` of summed tag-use weights: entry (b, t) is
    the total weight of blogger b's uses of tag t (the weights the blogger vectors are summed with:
    :meth:`topictensor.search.vectors.BloggerVectorSums.weight_matrix`, the one definition)."""
    from topictensor.search.vectors import BloggerVectorSums

    sums = BloggerVectorSums(emb, weighting)
    sums.add(posts)
    return sums.ids.values().to_pylist(), sums.weight_matrix()


def profile_columns(posts: pa.Table, emb: Embeddings, blogger_ids: list[str], vectors: np.ndarray,
                    weighting: str, keep: int) -> tuple[dict[str, pa.Array], float]:
    """The ``PROFILE_COLUMNS`` for ``blogger_ids`` (rows of the blogger table, in its order), and the
    largest gap ``1 - cos(reconstructed vector, stored vector)`` over them (0 up to rounding when the
    weights are the ones the vectors were built with).

    Each blogger keeps their ``keep`` largest profile weights ``p_bt = w_bt / N_b``, largest first
    (ties by tag), and ``profile_rest`` = the largest weight not kept (0 when all are kept)."""
    ids, matrix = tag_weight_matrix(posts, emb, weighting)
    return profiles_from_weights(ids, matrix, emb, blogger_ids, vectors, keep)


def profiles_from_weights(ids: list[str], matrix, emb: Embeddings, blogger_ids: list[str], vectors: np.ndarray,
                          keep: int) -> tuple[dict[str, pa.Array], float]:
    """:func:`profile_columns` from a weight matrix already summed (rows: ``ids``), as the
    blogger_vectors stage has it from streaming the posts once."""
    position = {bid: i for i, bid in enumerate(ids)}
    missing = [b for b in blogger_ids if b not in position]
    if missing:
        raise ValueError(f"{len(missing)} bloggers of the table have no posts, e.g. {missing[:3]}")
    from scipy import sparse

    from topictensor.search.vectors import used_rows

    rows = matrix[np.asarray([position[b] for b in blogger_ids], dtype=np.int64)]
    cols, col = np.unique(rows.indices, return_inverse=True)  # only the tags these rows use
    compact = sparse.csr_matrix((rows.data, col.reshape(-1).astype(rows.indices.dtype), rows.indptr),
                                shape=(rows.shape[0], len(cols)))
    summed = np.asarray(compact @ used_rows(emb.normalized(), cols))
    norms = np.linalg.norm(summed, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    stored = np.asarray(vectors, dtype=np.float64)
    gap = float(np.max(1.0 - np.einsum("ij,ij->i", summed / safe[:, None], stored))) if len(stored) else 0.0
    out_tags, out_weights, rest = [], [], np.zeros(len(blogger_ids), dtype=np.float32)
    for i in range(len(blogger_ids)):
        lo, hi = rows.indptr[i], rows.indptr[i + 1]
        cols, w = rows.indices[lo:hi], rows.data[lo:hi] / safe[i]
        order = np.lexsort((cols, -w))
        out_tags.append([str(emb.tags[c]) for c in cols[order[:keep]]])
        out_weights.append(w[order[:keep]].astype(np.float32))
        if len(order) > keep:
            rest[i] = w[order[keep]]
    columns = {
        "profile_tags": pa.array(out_tags, type=pa.list_(pa.string())),
        "profile_weights": pa.array([x.tolist() for x in out_weights], type=pa.list_(pa.float32())),
        "profile_rest": pa.array(rest, type=pa.float32()),
    }
    return columns, max(gap, 0.0)


class Profiles:
    """The stored profile of every blogger row, as flat arrays (CSR: ``offsets`` into ``codes`` and
    ``weights``; ``codes`` index ``vocabulary``)."""

    def __init__(self, table: pa.Table):
        tags = table.column("profile_tags").combine_chunks()
        weights = table.column("profile_weights").combine_chunks()
        self.offsets = tags.offsets.to_numpy().astype(np.int64) - int(tags.offsets[0].as_py() or 0)
        encoded = pc.dictionary_encode(pc.list_flatten(tags))
        self.codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32)
        self.vocabulary = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
        self.code = {t: i for i, t in enumerate(self.vocabulary.tolist())}
        self.weights = pc.list_flatten(weights).to_numpy(zero_copy_only=False).astype(np.float32)
        if len(self.weights) != len(self.codes):
            raise ValueError(f"profile_weights ({len(self.weights)}) and profile_tags ({len(self.codes)}) "
                             "are not aligned")
        self.rest = table.column("profile_rest").to_numpy().astype(np.float32)

    def of(self, row: int) -> tuple[list[str], np.ndarray]:
        lo, hi = self.offsets[row], self.offsets[row + 1]
        return self.vocabulary[self.codes[lo:hi]].tolist(), self.weights[lo:hi]

    def rows_with(self, tags: list[str]) -> np.ndarray:
        """Table rows whose stored profile holds any of ``tags`` (sorted, unique). One scan of the
        stored codes: ~75 ms at 1M bloggers x 32 tags (benchmarks/bench_explain.py --scale)."""
        wanted = np.asarray(sorted({self.code[t] for t in tags if t in self.code}), dtype=np.int32)
        if not len(wanted):
            return np.zeros(0, dtype=np.int64)
        chosen = np.zeros(len(self.vocabulary), dtype=bool)
        chosen[wanted] = True
        hit = chosen[self.codes]
        if not len(hit):
            return np.zeros(0, dtype=np.int64)
        # any() per blogger in one pass; a blogger with an empty profile holds nothing.
        starts = np.minimum(self.offsets[:-1], len(hit) - 1)
        per_row = np.logical_or.reduceat(hit, starts) & (np.diff(self.offsets) > 0)
        return np.flatnonzero(per_row).astype(np.int64)


@dataclass(frozen=True)
class Contribution:
    tag: str
    weight: float  # the tag's profile weight p_bt
    cosine: float  # q . u_t
    contribution: float  # p_bt * (q . u_t)
    share: float  # contribution / relevance

    def to_dict(self) -> dict:
        return {"tag": self.tag, "contribution": round(self.contribution, 6), "share": round(self.share, 4),
                "weight": round(self.weight, 6), "cosine": round(self.cosine, 6)}


@dataclass(frozen=True)
class Explanation:
    """The ``tags`` contributing most to ``relevance``; ``other`` = what every unlisted tag adds up to
    (stored but not shown, and not stored); ``bound`` = the most any tag not stored can contribute."""

    relevance: float
    tags: list[Contribution]
    other: float
    bound: float

    def to_dict(self) -> dict:
        return {"tags": [c.to_dict() for c in self.tags], "other": round(self.other, 6),
                "other_share": round(self.other / self.relevance, 4) if self.relevance else 0.0,
                "unstored_bound": round(self.bound, 6)}


def explain(profiles: Profiles, row: int, query: np.ndarray, relevance: float, emb: Embeddings,
            top: int) -> Explanation:
    """The ``top`` tags of blogger ``row`` contributing most to ``relevance`` = cos(query, blogger);
    ``query`` must be a unit vector in the embeddings' space."""
    tags, weights = profiles.of(row)
    known = [(t, float(w)) for t, w in zip(tags, weights) if t in emb.index]
    if not known:
        return Explanation(relevance, [], relevance, float(profiles.rest[row]))
    unit = emb.normalized()[[emb.index[t] for t, _ in known]].astype(np.float64)
    cosines = unit @ np.asarray(query, dtype=np.float64)
    contributions = np.asarray([w for _, w in known]) * cosines
    order = np.lexsort(([t for t, _ in known], -contributions))[:top]
    listed = [Contribution(known[i][0], known[i][1], float(cosines[i]), float(contributions[i]),
                           float(contributions[i] / relevance) if relevance else 0.0) for i in order]
    other = relevance - sum(c.contribution for c in listed)
    return Explanation(relevance, listed, float(other), float(profiles.rest[row]))
