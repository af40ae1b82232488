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

# A count's tags (per language: a superset of the candidates, in its order) and, per language, the
# posts carrying both of two of them (a < b: positions in that language's list).
TAGS = "tags.parquet"
TAGS_SCHEMA = pa.schema([("lang", pa.string()), ("tag", pa.string())])
COOC_SCHEMA = pa.schema([("a", pa.int32()), ("b", pa.int32()), ("posts", pa.int64())])
_LANG = re.compile(r"[A-Za-z0-9_-]{1,32}")
_COUNTED: dict[str, pa.Array] = {}  # a count's tag list by its digest (content-addressed: safe to share)


def cooc_file(lang: str) -> str:
    if not _LANG.fullmatch(lang):
        raise ValueError(f"language code {lang!r} cannot name a file (letters, digits, '_' and '-' only)")
    return f"cooc/lang={lang}.parquet"


def counted_tags(art: Artifact, lang: str) -> pa.Array:
    """The tags a cooccur artifact counted for ``lang``, in position order (read once per list)."""
    key = art.manifest.get("params", {}).get("superset", {}).get(lang)
    if key is None:
        raise ValueError(f"cooccur artifact {art.ref.key} counted no tags of {lang!r}: the window's languages and "
                         "the prepared partitions' counts disagree")
    if key not in _COUNTED:
        table = pq.read_table(art.path(TAGS))
        for name in set(table.column("lang").to_pylist()):
            tags = table.filter(pc.equal(table.column("lang"), name)).column("tag").combine_chunks()
            _COUNTED[digest(tags.to_pylist())] = tags
        if key not in _COUNTED:
            raise ValueError(f"cooccur artifact {art.ref.key}: its {TAGS} does not hold the tags its key names "
                             f"for {lang!r}")
    return _COUNTED[key]


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
    if n == 0:
        return np.zeros((0, 0))
    want = pd.Index(list(candidates))
    slots: dict[str, np.ndarray] = {}  # superset digest -> candidate index of each position (-1 outside)
    cells, weights = [], []
    for art in counted:
        key = art.manifest.get("params", {}).get("superset", {}).get(lang)
        if key not in slots:
            tags = counted_tags(art, lang)
            slot = want.get_indexer(pd.Index(np.asarray(tags.to_numpy(zero_copy_only=False), dtype=object)))
            if int((slot >= 0).sum()) != n:
                inside = set(tags.to_pylist())
                missing = [t for t in candidates if t not in inside][:5]
                raise ValueError(f"cooccur artifact {art.ref.key} counted {len(tags)} tags of {lang!r} without the "
                                 f"review candidates {missing}: the window's tables and the prepared partitions "
                                 "disagree")
            slots[key] = slot
        slot = slots[key]
        table = pq.read_table(art.path(cooc_file(lang)))
        a = slot[table.column("a").to_numpy()]
        b = slot[table.column("b").to_numpy()]
        inside = (a >= 0) & (b >= 0)
        cells.append(a[inside].astype(np.int64) * n + b[inside])
        weights.append(table.column("posts").to_numpy()[inside])
    total = np.bincount(np.concatenate(cells), weights=np.concatenate(weights), minlength=n * n).reshape(n, n)
    return total + total.T
