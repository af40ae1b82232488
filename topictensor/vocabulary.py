"""The one vocabulary class: dense int ids for distinct strings (tags, blogger ids, languages).

Two uses of the same mapping:
- growing, in the stages' streaming passes (``topictensor.stages.streaming``): :meth:`codes` gives
  every value of a batch its id, new values the next ids in order of first appearance, so memory
  is the vocabulary, not the rows;
- fixed, with counts, for training (``topictensor.train.vocab.build_vocabulary``): tags ordered by
  count, a tag's id its row in every matrix; :attr:`tags`, :attr:`counts` and :attr:`index` read
  it, and it refuses to grow (its counts would no longer match).

Lookups go through a pandas index (its hash table is built once) plus a dict of the values added
since it was built; the index is rebuilt when that dict outgrows it, so growth is amortised. A
batch is mapped by its distinct values only: a dictionary-coded column (as read from parquet)
needs no hashing of its rows at all, a plain one is dictionary-encoded first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


class Vocabulary:
    """Dense int ids for distinct strings; ``counts`` (one per value) makes it a fixed, counted one."""

    def __init__(self, values: Sequence[str] | pa.Array | np.ndarray = (), counts: np.ndarray | None = None) -> None:
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if isinstance(values, pa.Array):
            values = values.to_numpy(zero_copy_only=False)
        self._index = pd.Index(np.asarray(values, dtype=object))
        if not self._index.is_unique:
            raise ValueError("Vocabulary values must be distinct")
        if counts is not None:
            counts = np.asarray(counts, dtype=np.int64)
            if counts.shape != (len(self._index),):
                raise ValueError(f"Vocabulary: {len(self._index)} values but {len(counts)} counts")
        self._counts = counts
        self._added: dict[str, int] = {}
        self._last: tuple[pa.Array, np.ndarray] | None = None
        self._tags: np.ndarray | None = None
        self._dict: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self._index) + len(self._added)

    def __contains__(self, value: object) -> bool:
        return value in self._added or value in self._index

    # --- reading ---------------------------------------------------------------------------------

    @property
    def tags(self) -> np.ndarray:
        """The values in id order, as an object array of str."""
        if self._tags is None or len(self._tags) != len(self):
            tags = np.empty(len(self), dtype=object)
            tags[: len(self._index)] = self._index.to_numpy()
            tags[len(self._index):] = list(self._added)
            self._tags = tags
        return self._tags

    @property
    def counts(self) -> np.ndarray:
        """int64 occurrences of each value in the corpus it was built from (a counted vocabulary only)."""
        if self._counts is None:
            raise AttributeError("this vocabulary has no counts (it was not built from a corpus)")
        return self._counts

    @property
    def index(self) -> dict[str, int]:
        """value -> id, as a dict (built on first use)."""
        if self._dict is None or len(self._dict) != len(self):
            self._dict = {t: i for i, t in enumerate(self.tags.tolist())}
        return self._dict

    def values(self) -> pa.Array:
        """The values in id order, as an arrow string array."""
        return pa.array(self.tags.tolist(), type=pa.string())

    # --- mapping batches -------------------------------------------------------------------------

    def codes(self, array: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """int64 id of every value (nulls are not allowed); unseen values get new ids."""
        if self._counts is not None:
            raise ValueError("a counted vocabulary is fixed: its ids are rows of a trained matrix")
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        if not pa.types.is_dictionary(array.type):
            array = pc.dictionary_encode(array)
        dictionary = array.dictionary
        if self._last is not None and self._last[0].equals(dictionary):
            lookup = self._last[1]  # batches of one row group share its dictionary
        else:
            lookup = self._lookup(dictionary)
            self._last = (dictionary, lookup)
        indices = array.indices.to_numpy(zero_copy_only=False)
        return lookup[indices] if len(lookup) else np.zeros(len(indices), dtype=np.int64)

    def _lookup(self, dictionary: pa.Array) -> np.ndarray:
        strings = np.asarray(dictionary.to_numpy(zero_copy_only=False), dtype=object)
        lookup = self._index.get_indexer(strings).astype(np.int64)
        missing = np.flatnonzero(lookup < 0)
        if len(missing):
            added, base = self._added, len(self._index)
            lookup[missing] = [added.setdefault(v, base + len(added)) for v in strings[missing]]
            if len(added) > max(len(self._index), 1024):
                self._index = self._index.append(pd.Index(list(added), dtype=object))
                self._added = {}
        return lookup
