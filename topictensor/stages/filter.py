"""Per-language tag filtering: keep thematic tags that enough distinct bloggers use.

A tag used by a handful of bloggers carries no shared meaning (one-off tags, a blogger's own
name), and the most frequent tags of a language are often non-thematic (``love``, ``instagood``):
those go to a curated blacklist, for which this stage writes the top tags as review candidates.

The stage decides on small tables only: the window's per-language tag statistics (posts and
distinct bloggers of every tag, merged from the partitions' summaries) and, for generic-tag
scores, the review candidates' co-occurrences counted in each prepared partition
(``topictensor.stages.cooccur``: each counted a superset of them) and summed. It writes ``kept.parquet`` (the kept tags) and ``review.parquet``;
the posts are filtered when the split is read (``topictensor.stages.split``), so a tag crossing the
threshold rewrites no partition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import PipelineConfig
from topictensor.stages.review import candidate_tags, review_rows, summed_cooccurrence

STAGE = "filter"
KEPT = "kept.parquet"


def filter_language(window: ArtifactRef | dict, cooccurrences: Sequence[ArtifactRef | dict], lang: str,
                    config: PipelineConfig) -> ArtifactRef:
    """The kept tags of ``lang`` (``kept.parquet``) and ``review.parquet`` of its top tags."""
    store = config.open_store()
    source = Artifact(store, window)
    fc = config.filter
    params = {
        "lang": lang,
        "min_bloggers": fc.threshold(lang),
        "blacklist": sorted(fc.blacklist_for(lang)),
        "review_top_n": fc.review_top_n,
        "generic": {"mode": fc.generic_mode_for(lang), "threshold": fc.generic_threshold,
                    "keep": sorted(fc.generic_keep_for(lang))},
    }
    generic = GenericDetection(**params["generic"])
    parts = [Artifact(store, ref) for ref in cooccurrences] if generic.mode != "off" else []

    def compute(ws: Workspace) -> StageResult:
        from topictensor.stages.window import tag_stats_for

        stats = tag_stats_for(source, lang)
        if stats is None:
            raise ValueError(f"window artifact {source.ref.key} has no tag statistics (an artifact of older code)")
        cooc = (summed_cooccurrence(parts, lang, candidate_tags(stats, params["review_top_n"]).to_pylist())
                if generic.mode != "off" else None)
        per_tag, review, counts = decide_tags(stats, min_bloggers=params["min_bloggers"],
                                              blacklist=set(params["blacklist"]),
                                              review_top_n=params["review_top_n"], generic=generic, cooccurrence=cooc)
        pq.write_table(per_tag.filter(per_tag.column("kept")).select(["tag"]), ws.path(KEPT))
        pq.write_table(review, ws.path("review.parquet"))
        return StageResult(counts=counts, extra={"cooccur": [a.ref.key for a in parts]} if parts else {})

    # Keyed by the prepared partitions counted, not by the cooccur artifacts: which earlier count a
    # partition's task reused (topictensor.stages.cooccur: any superset holding the candidates) does
    # not change the sums of the current candidates, so a store run week by week and a fresh one give
    # the same key. The counts used are recorded in the manifest's extra.
    counted = [a.input_ref("prepared") for a in parts]
    inputs = {"window": source.ref, **({"counted_partitions": counted} if parts else {})}
    return run_stage(store, STAGE, code=code_version(__name__, "topictensor.generic_tags", "topictensor.stages.review",
                                                        "topictensor.stages.cooccur", "topictensor.stages.window"),
                     params=params, inputs=inputs, compute=compute)


@dataclass(frozen=True)
class GenericDetection:
    """Generic-tag detection over the review candidates (``FilterConfig.generic_*``)."""

    mode: str = "off"  # off | suggest | apply
    threshold: float = 0.8
    keep: Sequence[str] = ()


def decide_tags(stats: pa.Table, *, min_bloggers: int, blacklist: set[str], review_top_n: int,
                generic: GenericDetection = GenericDetection(),
                cooccurrence: np.ndarray | None = None) -> tuple[pa.Table, pa.Table, dict[str, int]]:
    """The filter's decision on one language's ``stats`` (tag, posts, bloggers): (every tag with
    ``blacklisted`` and ``kept``, the review table, counts). Unless ``generic.mode`` is off,
    ``cooccurrence`` (posts carrying both of two review candidates, in :func:`topictensor.stages.review.candidate_tags` order)
    scores the candidates (``topictensor.generic_tags``); under ``apply`` those at or above the
    threshold are dropped too, except ``generic.keep``; the curated blacklist drops its tags whatever
    their score."""
    tags = stats.column("tag").combine_chunks()
    posts_per_tag = stats.column("posts").to_numpy().astype(np.int64)
    bloggers_per_tag = stats.column("bloggers").to_numpy().astype(np.int64)
    blacklisted = pc.is_in(tags, value_set=pa.array(sorted(blacklist), type=pa.string()))
    blacklisted_np = np.asarray(blacklisted.to_numpy(zero_copy_only=False), dtype=bool)
    keep_tag = (bloggers_per_tag >= min_bloggers) & ~blacklisted_np
    per_tag = pa.table({"tag": tags, "posts": posts_per_tag, "bloggers": bloggers_per_tag})
    reviewed = review_rows(per_tag, review_top_n)
    extra: dict[str, np.ndarray] = {}
    n_generic = n_auto = 0
    if generic.mode != "off" and len(reviewed):
        from topictensor.generic_tags import DECIDING_SCORE, generic_scores

        if cooccurrence is None or cooccurrence.shape != (len(reviewed), len(reviewed)):
            raise ValueError(f"generic-tag scores need the {len(reviewed)} review candidates' co-occurrences, got "
                             f"{None if cooccurrence is None else cooccurrence.shape}")
        scores = generic_scores(cooccurrence, posts_per_tag[reviewed])
        flagged = scores[DECIDING_SCORE] >= generic.threshold
        n_generic = int(flagged.sum())
        auto = np.zeros(len(tags), dtype=bool)
        if generic.mode == "apply":
            protected = np.isin(np.asarray(tags.take(pa.array(reviewed)).to_pylist(), dtype=object),
                                np.asarray(sorted(generic.keep), dtype=object))
            auto[reviewed[flagged & ~protected]] = True
            auto &= keep_tag  # counted only where it changed something
            keep_tag &= ~auto
            n_auto = int(auto.sum())
        for name, values in scores.items():
            full = np.full(len(tags), np.nan)
            full[reviewed] = values
            extra[name] = full
        extra["generic"] = np.zeros(len(tags), dtype=bool)
        extra["generic"][reviewed] = flagged
        extra["auto_blacklisted"] = auto
    per_tag = per_tag.append_column("blacklisted", blacklisted).append_column("kept", pa.array(keep_tag))
    for name, values in extra.items():
        per_tag = per_tag.append_column(name, pa.array(values))
    review = per_tag.take(pa.array(reviewed, type=pa.int64()))
    counts = {
        "tags_in": len(tags),
        "tags_kept": int(keep_tag.sum()),
        "tags_blacklisted": int(blacklisted_np.sum()),
        "tags_generic": n_generic,
        "tags_auto_blacklisted": n_auto,
        "occurrences_in": int(posts_per_tag.sum()),
        "occurrences_out": int(posts_per_tag[keep_tag].sum()),
    }
    return per_tag, review, counts
