"""A trained model as the rest of the system sees it: tags, their counts and one vector each.

Stored as one parquet file (tag, count, vector) so that a model is a single self-describing
artifact readable by pyarrow, pandas or DuckDB alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from topictensor.vectors import unit_rows

FILENAME = "embeddings.parquet"


class Embeddings:
    """Tag vectors with lookup and cosine nearest neighbours."""

    def __init__(self, tags: Iterable[str], counts: Iterable[int], vectors: np.ndarray) -> None:
        tags_list = list(tags)
        tags_arr = np.empty(len(tags_list), dtype=object)
        tags_arr[:] = tags_list
        self.tags = tags_arr
        self.counts = np.asarray(
            counts if isinstance(counts, np.ndarray) else list(counts), dtype=np.int64
        )
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.vectors.ndim != 2:
            raise ValueError(f"vectors must be 2-D, got shape {self.vectors.shape}")
        if not (len(self.tags) == len(self.counts) == self.vectors.shape[0]):
            raise ValueError(
                f"{len(self.tags)} tags, {len(self.counts)} counts and {self.vectors.shape[0]} vectors: "
                "they must be the same length"
            )
        self.index: dict[str, int] = {t: i for i, t in enumerate(tags_list)}
        if len(self.index) != len(tags_list):
            raise ValueError("tags must be unique")

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.tags)

    def __contains__(self, tag: object) -> bool:
        return tag in self.index

    def vector(self, tag: str) -> np.ndarray:
        try:
            return self.vectors[self.index[tag]]
        except KeyError:
            raise KeyError(f"tag {tag!r} is not in the embeddings ({len(self)} tags)") from None

    @cached_property
    def _unit(self) -> np.ndarray:
        return unit_rows(self.vectors)

    def normalized(self) -> np.ndarray:
        """Unit-length rows (zero rows stay zero); computed once."""
        return self._unit

    def neighbours(
        self, query: str | np.ndarray, k: int = 10, exclude: Iterable[str] = ()
    ) -> list[tuple[str, float]]:
        """The k tags most cosine-similar to a tag (itself excluded) or to a query vector."""
        skip = {self.index[t] for t in exclude if t in self.index}
        if isinstance(query, str):
            if query not in self.index:
                raise KeyError(f"tag {query!r} is not in the embeddings ({len(self)} tags)")
            skip.add(self.index[query])
            q = self._unit[self.index[query]]
        else:
            q = np.asarray(query, dtype=np.float32)
            if q.shape != (self.dim,):
                raise ValueError(f"query vector has shape {q.shape}, expected ({self.dim},)")
            norm = float(np.linalg.norm(q))
            q = q / norm if norm > 0 else q
        sims = self._unit @ q
        if skip:
            sims[list(skip)] = -np.inf
        k = max(0, min(k, len(self) - len(skip)))
        if k == 0:
            return []
        top = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
        top = top[np.lexsort((top, -sims[top]))]
        return [(str(self.tags[i]), float(sims[i])) for i in top[:k]]

    def save(self, directory: str | Path) -> Path:
        """Write ``<directory>/embeddings.parquet`` (tag string, count int64, vector fixed_size_list<float32>)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        flat = pa.array(self.vectors.reshape(-1), type=pa.float32())
        table = pa.table(
            {
                "tag": pa.array(self.tags.tolist(), type=pa.string()),
                "count": pa.array(self.counts, type=pa.int64()),
                "vector": pa.FixedSizeListArray.from_arrays(flat, self.dim),
            }
        )
        path = d / FILENAME
        pq.write_table(table, path)
        return path

    @classmethod
    def load(cls, path_or_dir: str | Path) -> Embeddings:
        """Read a file written by :meth:`save` (or any tag/count/vector parquet with list vectors)."""
        p = Path(path_or_dir)
        if p.is_dir():
            p = p / FILENAME
        if not p.exists():
            raise FileNotFoundError(f"no embeddings file at {p}")
        table = pq.read_table(p)
        missing = {"tag", "count", "vector"} - set(table.column_names)
        if missing:
            raise ValueError(f"{p}: missing column(s) {sorted(missing)}")
        col = table.column("vector").combine_chunks()
        n = len(col)
        if pa.types.is_fixed_size_list(col.type):
            dim = col.type.list_size
        else:
            lengths = col.value_lengths().to_numpy(zero_copy_only=False)
            dim = int(lengths[0]) if n else 0
            if n and not np.all(lengths == dim):
                row = int(np.flatnonzero(lengths != dim)[0])
                raise ValueError(f"{p}: row {row} has a vector of {lengths[row]} values, expected {dim}")
        values = col.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
        vectors = values.reshape(n, dim) if n else np.zeros((0, dim), dtype=np.float32)
        return cls(
            tags=table.column("tag").to_pylist(),
            counts=table.column("count").to_numpy(),
            vectors=vectors,
        )


def export_projector(emb: Embeddings, out_dir: str | Path) -> tuple[Path, Path]:
    """TensorFlow Embedding Projector files: vectors.tsv (no header) and metadata.tsv (tag, log_count, header)."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    vec_path = d / "vectors.tsv"
    meta_path = d / "metadata.tsv"
    np.savetxt(vec_path, emb.vectors, delimiter="\t", fmt="%.6g")
    with open(meta_path, "w", encoding="utf-8") as f:
        f.write("tag\tlog_count\n")
        for tag, count in zip(emb.tags.tolist(), emb.counts.tolist()):
            clean = str(tag).replace("\t", " ").replace("\n", " ")
            f.write(f"{clean}\t{math.log(count) if count > 0 else 0.0:.4f}\n")
    return vec_path, meta_path
