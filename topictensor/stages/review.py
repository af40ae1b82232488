"""The filter's review candidates, shared by the cooccur stage that counts them per prepared
partition and the filter stage that scores them: which tags are candidates (a language's
``review_top_n`` tags with most posts), the cooccur artifact's file and schema, and their
co-occurrences summed over the partitions. One module, so neither stage imports the other."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from topictensor.artifacts import Artifact

COOC = "cooc.parquet"
COOC_SCHEMA = pa.schema([("lang", pa.string()), ("a", pa.int32()), ("b", pa.int32()), ("posts", pa.int64())])


def candidate_tags(stats: pa.Table, review_top_n: int) -> pa.Array:
    """The review candidates: the ``review_top_n`` tags with most posts (ties by tag), in that order."""
    return stats.column("tag").combine_chunks().take(review_rows(stats, review_top_n))


def review_rows(stats: pa.Table, review_top_n: int) -> np.ndarray:
    """Row numbers of ``stats``' review candidates, most posts first (ties by tag)."""
    order = pc.sort_indices(stats.select(["tag", "posts"]), sort_keys=[("posts", "descending"), ("tag", "ascending")])
    return order.to_numpy()[:review_top_n]


def summed_cooccurrence(prepared: Sequence[Artifact], lang: str, n: int) -> np.ndarray:
    """The n x n co-occurrence of ``lang``'s review candidates over the prepared partitions."""
    if not prepared and n:
        raise ValueError(f"generic-tag scores of {lang!r} need the review candidates' co-occurrences, and no prepared "
                         "partition's count was given")
    total = np.zeros((n, n))
    for art in prepared:
        got = art.manifest.get("extra", {}).get("candidates", {}).get(lang)
        if got != n:
            raise ValueError(f"cooccur artifact {art.ref.key} counted {got} review candidates of {lang!r}, "
                             f"the filter has {n}: the window's tables and the prepared partitions disagree")
        table = pq.read_table(art.path(COOC), filters=[("lang", "=", lang)])
        a, b = table.column("a").to_numpy(), table.column("b").to_numpy()
        np.add.at(total, (a, b), table.column("posts").to_numpy().astype(np.float64))
    return total + total.T
