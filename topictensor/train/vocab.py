"""Tag vocabulary and the flat (CSR) encoding of posts that the numba kernels read.

Posts become three flat arrays (offsets, ids, weights) instead of Python lists so that a
corpus of millions of posts costs a few bytes per tag occurrence and crosses into numba
without conversion.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from topictensor.vocabulary import Vocabulary

__all__ = ["Vocabulary", "EncodedPosts", "build_vocabulary", "build_vocabulary_arrow", "encode_posts",
           "encode_arrow", "encode_table"]


def _ordered(counter: dict[str, int], min_count: int) -> Vocabulary:
    """The training vocabulary: tags ordered by count (desc, then tag), each with its count."""
    items = [(t, c) for t, c in counter.items() if c >= min_count]
    items.sort(key=lambda tc: (-tc[1], tc[0]))
    tags = np.empty(len(items), dtype=object)
    tags[:] = [t for t, _ in items]
    counts = np.fromiter((c for _, c in items), dtype=np.int64, count=len(items))
    return Vocabulary(tags, counts)


def build_vocabulary(tag_lists: Iterable[Sequence[str]], min_count: int = 1) -> Vocabulary:
    """Count tags over posts; keep those seen at least ``min_count`` times."""
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    counter: Counter[str] = Counter()
    for tags in tag_lists:
        if tags is not None:
            counter.update(tags)
    return _ordered(counter, min_count)


def build_vocabulary_arrow(list_array: pa.Array | pa.ChunkedArray, min_count: int = 1) -> Vocabulary:
    """Same as :func:`build_vocabulary` for a pyarrow ``list<string>`` column, without Python loops."""
    values = _flat_values(list_array)
    vc = pc.value_counts(values.drop_null())
    tags = vc.field("values").to_pylist()
    counts = vc.field("counts").to_numpy().astype(np.int64)
    return _ordered(dict(zip(tags, counts.tolist())), min_count)


@dataclass(frozen=True, eq=False)
class EncodedPosts:
    """Posts in CSR form: post p owns ids[offsets[p]:offsets[p+1]] and the same slice of weights."""

    offsets: np.ndarray  # int64 [n_posts + 1]
    ids: np.ndarray  # int32 [n_occurrences]
    weights: np.ndarray  # float32 [n_occurrences]

    def __post_init__(self) -> None:
        if self.offsets.ndim != 1 or len(self.offsets) < 1 or self.offsets[0] != 0:
            raise ValueError("EncodedPosts.offsets must be 1-D, start at 0")
        if self.offsets[-1] != len(self.ids) or len(self.ids) != len(self.weights):
            raise ValueError(
                f"EncodedPosts: offsets end at {self.offsets[-1]}, ids has {len(self.ids)}, "
                f"weights has {len(self.weights)}; all three must agree"
            )

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_occurrences(self) -> int:
        return len(self.ids)

    def post_lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


def encode_posts(
    tag_lists: Iterable[Sequence[str]],
    vocab: Vocabulary,
    weight_lists: Iterable[Sequence[float]] | None = None,
) -> EncodedPosts:
    """Encode posts as vocabulary ids, dropping unknown tags (and their weights).

    ``weight_lists`` gives one weight per tag occurrence (default 1.0); a post whose weight list
    has a different length than its tag list is an error naming the post.
    """
    index = vocab.index
    ids: list[int] = []
    weights: list[float] = []
    offsets = [0]
    weight_iter = iter(weight_lists) if weight_lists is not None else None
    for row, tags in enumerate(tag_lists):
        tags = tags if tags is not None else ()
        if weight_iter is not None:
            try:
                ws = next(weight_iter)
            except StopIteration:
                raise ValueError(f"weight_lists has fewer posts than tag_lists (ends at post {row})") from None
            ws = ws if ws is not None else ()
            if len(ws) != len(tags):
                raise ValueError(
                    f"post {row}: {len(tags)} tags but {len(ws)} weights; weights must be one per tag"
                )
        else:
            ws = None
        for k, tag in enumerate(tags):
            i = index.get(tag)
            if i is not None:
                ids.append(i)
                weights.append(1.0 if ws is None else float(ws[k]))
        offsets.append(len(ids))
    if weight_iter is not None and next(weight_iter, None) is not None:
        raise ValueError(f"weight_lists has more posts than tag_lists ({len(offsets) - 1})")
    w = np.asarray(weights, dtype=np.float32)
    _check_weights(w)
    return EncodedPosts(
        offsets=np.asarray(offsets, dtype=np.int64),
        ids=np.asarray(ids, dtype=np.int32),
        weights=w,
    )


def _check_weights(w: np.ndarray) -> None:
    if len(w) and (not np.all(np.isfinite(w)) or float(w.min()) < 0):
        bad = int(np.flatnonzero(~np.isfinite(w) | (w < 0))[0])
        raise ValueError(f"weights must be finite and >= 0; occurrence {bad} has {w[bad]!r}")


def _as_list_array(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks else pa.array([], type=arr.type)
    if pa.types.is_large_list(arr.type):
        arr = arr.cast(pa.list_(arr.type.value_type))
    if not pa.types.is_list(arr.type):
        raise ValueError(f"expected a list<...> column, got {arr.type}")
    return arr


def _flat_values(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    return pc.list_flatten(_as_list_array(arr))


def encode_arrow(
    list_array: pa.Array | pa.ChunkedArray,
    vocab: Vocabulary,
    weights_array: pa.Array | pa.ChunkedArray | None = None,
) -> EncodedPosts:
    """Vectorised :func:`encode_posts` for a pyarrow ``list<string>`` column (nulls = no tags)."""
    lists = _as_list_array(list_array)
    n = len(lists)
    values = pc.list_flatten(lists)
    parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    vocab_arr = pa.array(vocab.tags.tolist(), type=pa.string())
    pos = pc.index_in(values.cast(pa.string()), value_set=vocab_arr)
    known = pos.is_valid().to_numpy(zero_copy_only=False)
    ids = pos.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int32)[known]
    if weights_array is not None:
        wl = _as_list_array(weights_array)
        if len(wl) != n:
            raise ValueError(f"weights column has {len(wl)} rows but tags column has {n}")
        tag_len = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)
        w_len = pc.fill_null(pc.list_value_length(wl), 0).to_numpy(zero_copy_only=False)
        if not np.array_equal(tag_len, w_len):
            row = int(np.flatnonzero(tag_len != w_len)[0])
            raise ValueError(
                f"post {row}: {tag_len[row]} tags but {w_len[row]} weights; weights must be one per tag"
            )
        wv = pc.list_flatten(wl).cast(pa.float32()).fill_null(1.0)
        weights = wv.to_numpy(zero_copy_only=False).astype(np.float32)[known]
        _check_weights(weights)
    else:
        weights = np.ones(len(ids), dtype=np.float32)
    per_post = np.bincount(parents[known], minlength=n) if n else np.zeros(0, np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(per_post, out=offsets[1:])
    return EncodedPosts(offsets=offsets, ids=ids, weights=weights)


def encode_table(table: pa.Table, min_count: int = 1) -> tuple[Vocabulary, EncodedPosts]:
    """The training vocabulary of a posts table's ``tags`` list column (tags used at least
    ``min_count`` times) and the posts encoded with it, with the ``weights`` column when there is one."""
    tags = table.column("tags")
    weights = table.column("weights") if "weights" in table.column_names else None
    vocab = build_vocabulary_arrow(tags, min_count)
    return vocab, encode_arrow(tags, vocab, weights)
