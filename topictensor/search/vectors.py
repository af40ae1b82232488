"""Building the blogger vectors (the ``blogger_vectors`` stage's engine): one vector per blogger.

Blogger vector: the sum, over every tag use in every post of the blogger, of the tag's unit vector
times the use's weight, then unit-normalised. The weights are the reweight stage's habit weights
(``search.vector_weights = "reweight"``, the default): a tag the blogger puts in every post counts
like ~sqrt(uses), so a habitual ``#mycity`` does not drown what their posts are about. Tags the
model does not know are skipped; a blogger with no known tag gets no vector (and is not ranked).
Rows are sorted by language, then id, so each language is one contiguous block (fast exact
filtering, see :func:`topictensor.search.bloggers.rank_bloggers`). The table it writes
(columns ``topictensor.search.table.COLUMNS``) is read back by :class:`topictensor.search.table.BloggerTable`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from topictensor.embeddings import Embeddings


def compute_blogger_vectors(posts: pa.Table, bloggers: pa.Table | None, emb: Embeddings,
                            weighting: str = "reweight") -> pa.Table:
    """One row per blogger with at least one tag known to the model (columns: ``COLUMNS``).

    ``posts``: blogger_id, tags, likes and (for ``weighting="reweight"``) weights aligned with tags
    (the reweight stage's table). ``bloggers``: normalize's bloggers table (username, followers,
    lang, posts, likes_total); a blogger missing from it gets values computed from ``posts``.
    The same as :class:`BloggerVectorSums` fed the table's batches.
    """
    sums = BloggerVectorSums(emb, weighting)
    for batch in posts.to_batches(max_chunksize=100_000):
        sums.add(pa.Table.from_batches([batch], schema=posts.schema))
    return sums.table(bloggers)


class BloggerVectorSums:
    """The blogger vectors over posts streamed batch by batch: per blogger, the running sum of its
    tag uses' weighted unit vectors, tag uses, posts, likes and posts per language, and the summed
    weight of each (blogger, tag) pair (:meth:`weight_matrix`: the one definition of the weights the
    vectors and the explanations' profiles are built from). Memory is bloggers x dim (float64 sums)
    plus the distinct (blogger, tag) pairs, whatever the number of posts, beside the model's float32
    unit vectors; each batch multiplies only the rows of the bloggers and tags it holds."""

    def __init__(self, emb: Embeddings, weighting: str = "reweight", tags=None):
        """``tags``: :func:`tag_vocabulary` of ``emb``, when several sums share one model."""
        from topictensor.vocabulary import Vocabulary

        if weighting not in ("reweight", "uniform"):
            raise ValueError(f"unknown weighting {weighting!r}: use 'reweight' or 'uniform'")
        self.emb, self.weighting = emb, weighting
        self.unit = emb.normalized()  # float32, the model's one cached copy; products are float64
        self.tags = tags if tags is not None else tag_vocabulary(emb)
        self.ids, self.langs = Vocabulary(), Vocabulary()
        self.summed = np.zeros((0, emb.dim), dtype=np.float64)
        self.tag_uses = np.zeros(0, dtype=np.int64)
        self.post_counts = np.zeros(0, dtype=np.int64)
        self.likes_sum = np.zeros(0, dtype=np.float64)
        self.lang_counts = np.zeros((0, 0), dtype=np.int64)
        self.posts = 0
        self._weights = None  # compacted (blogger, tag) weight sums: scipy CSR
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._pending_nnz = 0

    def _grow(self) -> None:
        n, have = len(self.ids), len(self.tag_uses)
        if n > have:
            size = max(n, 2 * have, 1024)
            self.summed = np.concatenate([self.summed, np.zeros((size - have, self.emb.dim))])
            self.tag_uses, self.post_counts = np.pad(self.tag_uses, (0, size - have)), np.pad(self.post_counts, (0, size - have))
            self.likes_sum = np.pad(self.likes_sum, (0, size - have))
            self.lang_counts = np.pad(self.lang_counts, ((0, size - have), (0, 0)))
        if len(self.langs) > self.lang_counts.shape[1]:
            self.lang_counts = np.pad(self.lang_counts, ((0, 0), (0, len(self.langs) - self.lang_counts.shape[1])))

    def add(self, posts: pa.Table) -> None:
        from scipy import sparse

        from topictensor.stages import streaming

        for column in ("blogger_id", "tags", "likes") + (("weights",) if self.weighting == "reweight" else ()):
            if column not in posts.column_names:
                raise ValueError(f"posts table lacks column {column!r} (has {posts.column_names})")
        if not posts.num_rows:
            return
        post_blogger = self.ids.codes(posts.column("blogger_id"))
        flat, parent = streaming.list_parts(posts.column("tags"))
        tag_rows = self.tags.codes(flat) if len(flat) else np.zeros(0, dtype=np.int64)
        if self.weighting == "reweight":
            weights = pc.list_flatten(posts.column("weights").combine_chunks()).to_numpy(zero_copy_only=False)
            if len(weights) != len(tag_rows):
                raise ValueError(f"posts: {len(weights)} weights for {len(tag_rows)} tags (must be aligned)")
        else:
            weights = np.ones(len(tag_rows), dtype=np.float32)
        lang_code = None
        if "lang" in posts.column_names:
            lang = posts.column("lang")
            stated = np.asarray(pc.and_(pc.is_valid(lang), pc.not_equal(pc.fill_null(lang, ""), ""))
                                .to_numpy(zero_copy_only=False), dtype=bool)
            if stated.any():
                lang_code = (np.flatnonzero(stated), self.langs.codes(pc.filter(lang, pa.array(stated))))
        self._grow()
        known = tag_rows < len(self.emb)
        use_blogger = post_blogger[parent[known]]
        rows, local = np.unique(use_blogger, return_inverse=True)  # only this batch's bloggers
        cols, col = np.unique(tag_rows[known], return_inverse=True)  # and only its tags' rows
        uses = sparse.csr_matrix((weights[known].astype(np.float64), (local, col)), shape=(len(rows), len(cols)))
        self.summed[rows] += np.asarray(uses @ used_rows(self.unit, cols))
        uses = uses.tocoo()
        self._pending.append((rows[uses.row], cols[uses.col].astype(np.int64), uses.data))
        self._pending_nnz += uses.nnz
        if self._pending_nnz > max(1 << 20, 2 * (self._weights.nnz if self._weights is not None else 0)):
            self.weight_matrix()  # compact: memory stays ~2x the distinct pairs
        self.tag_uses[: len(self.ids)] += np.bincount(use_blogger, minlength=len(self.ids))
        self.post_counts[: len(self.ids)] += np.bincount(post_blogger, minlength=len(self.ids))
        likes = posts.column("likes").to_numpy().astype(np.float64)
        self.likes_sum[: len(self.ids)] += np.bincount(post_blogger, weights=likes, minlength=len(self.ids))
        if lang_code is not None:
            np.add.at(self.lang_counts, (post_blogger[lang_code[0]], lang_code[1]), 1)
        self.posts += posts.num_rows

    def weight_matrix(self):
        """scipy CSR (bloggers x tags; rows in ``self.ids`` order): the summed weight of each
        blogger's uses of each tag, the weights its vector is the normalised sum of."""
        from scipy import sparse

        shape = (len(self.ids), len(self.emb))
        parts = [self._weights.tocoo()] if self._weights is not None else []
        parts += [sparse.coo_matrix((w, (r, c)), shape=shape) for r, c, w in self._pending]
        if not parts:
            return sparse.csr_matrix(shape, dtype=np.float64)
        merged = parts[0].copy()
        merged.resize(shape)
        for part in parts[1:]:
            part.resize(shape)
            merged = merged + part
        self._weights, self._pending, self._pending_nnz = sparse.csr_matrix(merged), [], 0
        self._weights.sum_duplicates()
        return self._weights

    def table(self, bloggers: pa.Table | None) -> pa.Table:
        n = len(self.ids)
        ids = self.ids.values().to_pylist()
        summed, tag_uses = self.summed[:n], self.tag_uses[:n]
        norms = np.linalg.norm(summed, axis=1)
        keep = np.flatnonzero(norms > 1e-12)
        keep = keep[np.argsort(np.asarray(ids, dtype=object)[keep].astype(str), kind="stable")]
        vectors = (summed[keep] / norms[keep, None]).astype(np.float32)
        lang_values = self.langs.values().to_pylist()
        counts = self.lang_counts[:n]
        post_lang = [lang_values[int(np.argmax(c))] if c.any() else "und" for c in counts] if counts.shape[1] \
            else ["und"] * n
        meta = _metadata(bloggers)
        rows = {"blogger_id": [], "username": [], "lang": [], "followers": [], "likes": [], "likes_total": [],
                "posts": []}
        for i in keep.tolist():
            bid = ids[i]
            m = meta.get(bid)
            n_posts = int(m["posts"]) if m and m["posts"] else int(self.post_counts[i])
            total = int(m["likes_total"]) if m and m["likes_total"] is not None else int(self.likes_sum[i])
            rows["blogger_id"].append(bid)
            rows["username"].append(m["username"] if m and m["username"] else bid)
            rows["lang"].append(m["lang"] if m and m["lang"] else post_lang[i])
            rows["followers"].append(int(m["followers"] or 0) if m else 0)
            rows["likes"].append(total / n_posts if n_posts else 0.0)
            rows["likes_total"].append(total)
            rows["posts"].append(n_posts)
        # Rows grouped by language (then by id): a language filter is then a slice of the table and of
        # the index's rows, one contiguous matrix-vector product (BloggerTable._group_by_language).
        order = sorted(range(len(keep)), key=lambda i: (str(rows["lang"][i] or "").lower(), rows["blogger_id"][i]))
        rows = {name: [values[i] for i in order] for name, values in rows.items()}
        vectors, keep = vectors[order], keep[order]
        flat_vectors = pa.array(vectors.reshape(-1), type=pa.float32())
        offsets = pa.array(np.arange(len(keep) + 1, dtype=np.int32) * self.emb.dim)
        return pa.table({
            "blogger_id": pa.array(rows["blogger_id"], type=pa.string()),
            "username": pa.array(rows["username"], type=pa.string()),
            "lang": pa.array(rows["lang"], type=pa.string()),
            "followers": pa.array(rows["followers"], type=pa.int64()),
            "likes": pa.array(rows["likes"], type=pa.float64()),
            "likes_total": pa.array(rows["likes_total"], type=pa.int64()),
            "posts": pa.array(rows["posts"], type=pa.int64()),
            "tags": pa.array(tag_uses[keep].astype(np.int64), type=pa.int64()),
            "vector": pa.ListArray.from_arrays(offsets, flat_vectors),
        })


def tag_vocabulary(emb: Embeddings):
    """The model's tags as a :class:`~topictensor.vocabulary.Vocabulary` (row i = tag i)."""
    from topictensor.vocabulary import Vocabulary

    return Vocabulary(pa.array(emb.tags.tolist(), type=pa.string()))


def used_rows(unit: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``unit[cols]`` in float64: the only tag rows a product over those columns needs (``cols``
    sorted, so a matrix re-indexed onto them sums each row's terms in the same order as over all
    tags, and gives the same floats), never a float64 copy of every tag vector."""
    return unit[cols].astype(np.float64)


def _metadata(bloggers: pa.Table | None) -> dict[str, dict]:
    if bloggers is None:
        return {}
    wanted = [c for c in ("blogger_id", "username", "followers", "lang", "posts", "likes_total")
              if c in bloggers.column_names]
    out = {}
    for row in bloggers.select(wanted).to_pylist():
        row.setdefault("posts", None)
        row.setdefault("likes_total", None)
        row.setdefault("username", None)
        row.setdefault("followers", 0)
        row.setdefault("lang", None)
        out[row["blogger_id"]] = row
    return out

