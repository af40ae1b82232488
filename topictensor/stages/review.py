"""The filter's review candidates, shared by the cooccur stage that counts them per prepared
partition (``topictensor.stages.cooccur``) and the filter stage that scores them: which tags are
candidates (a language's ``review_top_n`` tags with most posts), the cooccur artifact's files and
schema, and the candidates' co-occurrences summed over the partitions. One module, so neither
stage imports the other."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from topictensor.artifacts import Artifact

# Per language: the counted tags (a superset of the candidates) in their order, and the posts carrying
# both of two of them (a < b: positions in that list).
COOC_SCHEMA = pa.schema([("a", pa.int32()), ("b", pa.int32()), ("posts", pa.int64())])
_LANG = re.compile(r"[A-Za-z0-9_-]{1,32}")


def _lang_part(lang: str) -> str:
    if not _LANG.fullmatch(lang):
        raise ValueError(f"language code {lang!r} cannot name a file (letters, digits, '_' and '-' only)")
    return f"lang={lang}.parquet"


def tags_file(lang: str) -> str:
    return f"tags/{_lang_part(lang)}"


def cooc_file(lang: str) -> str:
    return f"cooc/{_lang_part(lang)}"


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:32]


def candidate_tags(stats: pa.Table, review_top_n: int) -> pa.Array:
    """The review candidates: the ``review_top_n`` tags with most posts (ties by tag), in that order."""
    return stats.column("tag").combine_chunks().take(review_rows(stats, review_top_n))


def review_rows(stats: pa.Table, review_top_n: int) -> np.ndarray:
    """Row numbers of ``stats``' review candidates, most posts first (ties by tag)."""
    order = pc.sort_indices(stats.select(["tag", "posts"]), sort_keys=[("posts", "descending"), ("tag", "ascending")])
    return order.to_numpy()[:review_top_n]


def summed_cooccurrence(counted: Sequence[Artifact], lang: str, candidates: Sequence[str]) -> np.ndarray:
    """The n x n co-occurrence of ``lang``'s review candidates (in that order) over the cooccur
    artifacts of the prepared partitions, each of which counted a superset of them."""
    n = len(candidates)
    if not counted and n:
        raise ValueError(f"generic-tag scores of {lang!r} need the review candidates' co-occurrences, and no prepared "
                         "partition's count was given")
    want = pd.Index(list(candidates))
    total = np.zeros((n, n))
    for art in counted:
        if n == 0:
            break
        if tags_file(lang) not in art.files:
            raise ValueError(f"cooccur artifact {art.ref.key} counted no tags of {lang!r}: the window's languages and "
                             "the prepared partitions' counts disagree")
        tags = art.read_table(tags_file(lang)).column("tag").combine_chunks()
        position = pd.Index(np.asarray(tags.to_numpy(zero_copy_only=False), dtype=object))
        slot = want.get_indexer(position)  # superset position -> candidate index, -1 outside
        if int((slot >= 0).sum()) != n:
            missing = [t for t in candidates if t not in set(position)][:5]
            raise ValueError(f"cooccur artifact {art.ref.key} counted {len(position)} tags of {lang!r} without the "
                             f"review candidates {missing}: the window's tables and the prepared partitions disagree")
        table = pq.read_table(art.path(cooc_file(lang)))
        a = slot[table.column("a").to_numpy()]
        b = slot[table.column("b").to_numpy()]
        inside = (a >= 0) & (b >= 0)
        total += np.bincount(a[inside] * n + b[inside], weights=table.column("posts").to_numpy()[inside],
                             minlength=n * n).reshape(n, n)
    return total + total.T
