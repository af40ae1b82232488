"""Per-language tag filtering: keep thematic tags that enough distinct bloggers use.

A tag used by a handful of bloggers carries no shared meaning (one-off tags, a blogger's own
name), and the most frequent tags of a language are often non-thematic (``love``, ``instagood``):
those go to a curated blacklist, for which this stage writes the top tags as review candidates.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import PipelineConfig

STAGE = "filter"


def filter_language(normalized: ArtifactRef | dict, lang: str, config: PipelineConfig) -> ArtifactRef:
    """Posts of bloggers of ``lang`` with only the kept tags; plus ``review.parquet`` of top tags."""
    store = config.open_store()
    source = Artifact(store, normalized)
    fc = config.filter
    params = {
        "lang": lang,
        "min_bloggers": fc.threshold(lang),
        "blacklist": sorted(fc.blacklist_for(lang)),
        "review_top_n": fc.review_top_n,
    }

    def compute(ws: Workspace) -> StageResult:
        posts = pq.read_table(source.path("posts.parquet"), filters=[("lang", "=", lang)])
        kept_posts, review, counts = filter_posts(
            posts, min_bloggers=params["min_bloggers"], blacklist=set(params["blacklist"]),
            review_top_n=params["review_top_n"],
        )
        pq.write_table(kept_posts, ws.path("posts.parquet"))
        pq.write_table(review, ws.path("review.parquet"))
        return StageResult(counts=counts)

    return run_stage(store, STAGE, code=code_version(__name__), params=params,
                     inputs={"normalized": source.ref}, compute=compute)


def filter_posts(posts: pa.Table, *, min_bloggers: int, blacklist: set[str], review_top_n: int):
    """Pure core of the stage, on an Arrow table with ``blogger_id`` and ``tags`` columns."""
    tags = posts.column("tags").combine_chunks()
    flat = pc.list_flatten(tags)
    parent = pc.list_parent_indices(tags)
    bloggers = pc.take(posts.column("blogger_id"), parent)
    occurrences = pa.table({"tag": flat, "blogger_id": bloggers, "post": parent})
    per_tag = occurrences.group_by("tag").aggregate([("post", "count"), ("blogger_id", "count_distinct")])
    per_tag = per_tag.rename_columns(["tag", "posts", "bloggers"])
    blacklisted = pc.is_in(per_tag.column("tag"), value_set=pa.array(sorted(blacklist), type=pa.string()))
    keep = pc.and_(pc.greater_equal(per_tag.column("bloggers"), min_bloggers), pc.invert(blacklisted))
    per_tag = per_tag.append_column("blacklisted", blacklisted).append_column("kept", keep)

    kept_tags = per_tag.filter(keep).column("tag")
    mask = pc.is_in(flat, value_set=kept_tags)
    kept_flat = pc.filter(flat, mask)
    kept_parent = pc.filter(parent, mask).to_numpy()
    lengths = _bincount(kept_parent, len(posts))
    import numpy as np

    offsets = np.zeros(len(posts) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    new_tags = pa.ListArray.from_arrays(pa.array(offsets), kept_flat)
    out = posts.set_column(posts.schema.get_field_index("tags"), "tags", new_tags)
    out = out.filter(pc.greater(pa.array(lengths), 0))

    review = per_tag.sort_by([("posts", "descending"), ("tag", "ascending")]).slice(0, review_top_n)
    counts = {
        "posts_in": len(posts),
        "posts_out": len(out),
        "bloggers_in": len(pc.unique(posts.column("blogger_id"))),
        "bloggers_out": len(pc.unique(out.column("blogger_id"))) if len(out) else 0,
        "tags_in": len(per_tag),
        "tags_kept": len(kept_tags),
        "tags_blacklisted": int(pc.sum(blacklisted).as_py() or 0),
        "occurrences_in": len(flat),
        "occurrences_out": len(kept_flat),
    }
    return out, review, counts


def _bincount(indices, n: int):
    import numpy as np

    return np.bincount(np.asarray(indices, dtype=np.int64), minlength=n).astype(np.int32)
