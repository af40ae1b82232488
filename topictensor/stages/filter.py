"""Per-language tag filtering: keep thematic tags that enough distinct bloggers use.

A tag used by a handful of bloggers carries no shared meaning (one-off tags, a blogger's own
name), and the most frequent tags of a language are often non-thematic (``love``, ``instagood``):
those go to a curated blacklist, for which this stage writes the top tags as review candidates.

Bounded memory (see ``topictensor.stages.streaming``): the language's posts are read twice in
batches. The first pass counts posts per tag (vocab-sized) and spills the distinct
(blogger, tag) pairs to disk bucketed by blogger, so "distinct bloggers per tag" is summed bucket
by bucket; the second pass drops the tags that did not make it, keeping the rows' order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import PipelineConfig
from topictensor.stages import streaming
from topictensor.stages.streaming import Batches, BucketSpill, Vocabulary

STAGE = "filter"
_TAG_BITS = 31  # a (blogger, tag) pair is one int64: blogger code << 31 | tag code


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
        "generic": {"mode": fc.generic_mode_for(lang), "threshold": fc.generic_threshold,
                    "keep": sorted(fc.generic_keep_for(lang))},
    }

    def compute(ws: Workspace) -> StageResult:
        from topictensor.stages.normalize import language_posts_file
        from topictensor.stages.window import tag_stats_for

        path = source.path(language_posts_file(lang))
        schema = pq.ParquetFile(path).schema_arrow
        with pq.ParquetWriter(ws.path("posts.parquet"), schema, **streaming.WRITE_OPTIONS) as writer:
            review, counts = filter_batches(
                streaming.parquet_batches(path, dictionary=("blogger_id", "tags")),
                lambda table: writer.write_table(table.cast(schema)),
                min_bloggers=params["min_bloggers"], blacklist=set(params["blacklist"]),
                review_top_n=params["review_top_n"], occurrences=streaming.parquet_values(path, "tags"),
                generic=GenericDetection(**params["generic"]), stats=tag_stats_for(source, lang),
            )
        pq.write_table(review, ws.path("review.parquet"))
        return StageResult(counts=counts)

    return run_stage(store, STAGE, code=code_version(__name__, "topictensor.stages.streaming", "topictensor.vocabulary", "topictensor.generic_tags"),
                     params=params,
                     inputs={"normalized": source.ref}, compute=compute)


@dataclass(frozen=True)
class GenericDetection:
    """Generic-tag detection over the review candidates (``FilterConfig.generic_*``)."""

    mode: str = "off"  # off | suggest | apply
    threshold: float = 0.8
    keep: Sequence[str] = ()


def filter_posts(posts: pa.Table, *, min_bloggers: int, blacklist: set[str], review_top_n: int,
                 generic: GenericDetection = GenericDetection()):
    """Pure core of the stage on an in-memory Arrow table with ``blogger_id`` and ``tags`` columns:
    (kept posts, review table, counts)."""
    kept: list[pa.Table] = []
    occurrences = int(pc.sum(pc.list_value_length(posts.column("tags"))).as_py() or 0)
    review, counts = filter_batches(streaming.table_batches(posts), kept.append, min_bloggers=min_bloggers,
                                    blacklist=blacklist, review_top_n=review_top_n, occurrences=occurrences,
                                    generic=generic)
    out = pa.concat_tables(kept).cast(posts.schema) if kept else posts.schema.empty_table()
    return out, review, counts


def filter_batches(batches: Batches, write: Callable[[pa.Table], None], *, min_bloggers: int,
                   blacklist: set[str], review_top_n: int, occurrences: int,
                   generic: GenericDetection = GenericDetection(),
                   stats: pa.Table | None = None) -> tuple[pa.Table, dict[str, int]]:
    """Stream ``batches`` twice: per-tag counts, then the posts with only kept tags go to ``write``
    (posts left without a tag are dropped). ``occurrences`` sizes the spill's buckets.
    ``stats`` (tag, posts, bloggers: the window stage's, merged from partition summaries) replaces
    the counting pass. Unless ``generic.mode`` is off, a pass before the writing one counts the review
    candidates' co-occurrences and scores them (``topictensor.generic_tags``); under ``apply`` those at
    or above the threshold are dropped too, except ``generic.keep``; the curated blacklist drops its
    tags whatever their score."""
    if stats is not None:
        return _filter_with_stats(batches, write, stats, min_bloggers=min_bloggers, blacklist=blacklist,
                                  review_top_n=review_top_n, generic=generic)
    tags_vocab, bloggers_vocab = Vocabulary(), Vocabulary()
    posts_per_tag = np.zeros(0, dtype=np.int64)
    posts_in = occurrences_in = 0
    with BucketSpill(streaming.bucket_count(occurrences), np.int64, name="filter-pairs") as spill:
        for batch in batches():
            flat, parent = streaming.list_parts(batch.column("tags"))
            tag_codes = tags_vocab.codes(flat)
            blogger_codes = bloggers_vocab.codes(batch.column("blogger_id"))
            posts_per_tag = _add_counts(posts_per_tag, tag_codes, len(tags_vocab))
            pairs = streaming.sorted_unique((blogger_codes[parent] << _TAG_BITS) | tag_codes)
            spill.append((pairs >> _TAG_BITS) % spill.buckets, pairs)
            posts_in += batch.num_rows
            occurrences_in += len(flat)
        bloggers_per_tag = np.zeros(len(tags_vocab), dtype=np.int64)
        for bucket in range(spill.buckets):
            pairs = streaming.sorted_unique(spill.read(bucket))  # a blogger's pairs are all in one bucket: exact
            bloggers_per_tag += np.bincount(pairs & ((1 << _TAG_BITS) - 1), minlength=len(tags_vocab))

    review, counts = _write_kept(batches, write, tags_vocab, bloggers_vocab, posts_per_tag, bloggers_per_tag,
                                 min_bloggers=min_bloggers, blacklist=blacklist, review_top_n=review_top_n,
                                 generic=generic)
    counts.update(posts_in=posts_in, occurrences_in=occurrences_in)
    return review, counts


def _filter_with_stats(batches: Batches, write: Callable[[pa.Table], None], stats: pa.Table, *,
                       min_bloggers: int, blacklist: set[str], review_top_n: int,
                       generic: GenericDetection) -> tuple[pa.Table, dict[str, int]]:
    tags_vocab = Vocabulary(stats.column("tag").combine_chunks())
    return _write_kept(batches, write, tags_vocab, Vocabulary(),
                       stats.column("posts").to_numpy().astype(np.int64),
                       stats.column("bloggers").to_numpy().astype(np.int64),
                       min_bloggers=min_bloggers, blacklist=blacklist, review_top_n=review_top_n, generic=generic)


def _write_kept(batches: Batches, write: Callable[[pa.Table], None], tags_vocab: Vocabulary,
                bloggers_vocab: Vocabulary, posts_per_tag: np.ndarray, bloggers_per_tag: np.ndarray, *,
                min_bloggers: int, blacklist: set[str], review_top_n: int,
                generic: GenericDetection = GenericDetection()) -> tuple[pa.Table, dict[str, int]]:
    """The writing pass, given every tag's post and distinct-blogger counts."""
    tags = tags_vocab.values()
    blacklisted = pc.is_in(tags, value_set=pa.array(sorted(blacklist), type=pa.string()))
    blacklisted_np = np.asarray(blacklisted.to_numpy(zero_copy_only=False), dtype=bool)
    keep_tag = (bloggers_per_tag >= min_bloggers) & ~blacklisted_np
    per_tag = pa.table({"tag": tags, "posts": posts_per_tag[:len(tags)], "bloggers": bloggers_per_tag})
    review_rows = pc.sort_indices(per_tag, sort_keys=[("posts", "descending"), ("tag", "ascending")]) \
        .to_numpy()[:review_top_n]
    extra: dict[str, np.ndarray] = {}
    n_generic = n_auto = 0
    if generic.mode != "off" and len(review_rows):
        from topictensor.generic_tags import DECIDING_SCORE, cooccurrence, generic_scores

        candidate = np.full(len(tags_vocab), -1, dtype=np.int64)
        candidate[review_rows] = np.arange(len(review_rows))
        cooc = np.zeros((len(review_rows), len(review_rows)))
        for batch in batches():
            flat, parent = streaming.list_parts(batch.column("tags"))
            codes = tags_vocab.codes(flat) if len(flat) else np.zeros(0, dtype=np.int64)
            codes = np.where(codes < len(candidate), candidate[np.minimum(codes, len(candidate) - 1)], -1)
            inside = codes >= 0  # a review candidate (a tag without counts is caught by the writing pass)
            pairs = np.unique(parent[inside] * len(review_rows) + codes[inside])  # a tag once per post
            cooc += cooccurrence([(pairs // len(review_rows), pairs % len(review_rows))], len(review_rows))
        scores = generic_scores(cooc, posts_per_tag[review_rows])
        flagged = scores[DECIDING_SCORE] >= generic.threshold
        n_generic = int(flagged.sum())
        auto = np.zeros(len(tags_vocab), dtype=bool)
        if generic.mode == "apply":
            protected = np.isin(np.asarray(tags.take(pa.array(review_rows)).to_pylist(), dtype=object),
                                np.asarray(sorted(generic.keep), dtype=object))
            auto[review_rows[flagged & ~protected]] = True
            auto &= keep_tag  # counted only where it changed something
            keep_tag &= ~auto
            n_auto = int(auto.sum())
        for name, values in scores.items():
            full = np.full(len(tags_vocab), np.nan)
            full[review_rows] = values
            extra[name] = full
        extra["generic"] = np.zeros(len(tags_vocab), dtype=bool)
        extra["generic"][review_rows] = flagged
        extra["auto_blacklisted"] = auto
    per_tag = per_tag.append_column("blacklisted", blacklisted).append_column("kept", pa.array(keep_tag))
    for name, values in extra.items():
        per_tag = per_tag.append_column(name, pa.array(values))

    posts_in = posts_out = occurrences_in = occurrences_out = 0
    blogger_out = np.zeros(len(bloggers_vocab), dtype=bool)
    n_counted = len(tags_vocab)
    for batch in batches():
        flat, parent = streaming.list_parts(batch.column("tags"))
        codes = tags_vocab.codes(flat)
        if len(codes) and codes.max() >= n_counted:
            unknown = pc.filter(streaming.plain_strings(flat), pa.array(codes >= n_counted)).to_pylist()[:5]
            raise ValueError(f"tags without counts (the statistics do not match the posts): {unknown}")
        keep = keep_tag[codes] if len(flat) else np.zeros(0, dtype=bool)
        kept_flat = streaming.plain_strings(flat.filter(pa.array(keep)))
        lengths = np.bincount(parent[keep], minlength=batch.num_rows)
        offsets = np.zeros(batch.num_rows + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        columns = {name: streaming.plain_strings(batch.column(name)) for name in batch.schema.names}
        columns["tags"] = pa.ListArray.from_arrays(pa.array(offsets), kept_flat)
        has_tags = lengths > 0
        out = pa.table(columns).filter(pa.array(has_tags))
        blogger_codes = bloggers_vocab.codes(batch.column("blogger_id"))
        if len(blogger_out) < len(bloggers_vocab):
            blogger_out = np.pad(blogger_out, (0, len(bloggers_vocab) - len(blogger_out)))
        blogger_out[blogger_codes[has_tags]] = True
        posts_in += batch.num_rows
        occurrences_in += len(flat)
        posts_out += out.num_rows
        occurrences_out += len(kept_flat)
        if out.num_rows:
            write(out)

    review = per_tag.take(pa.array(review_rows, type=pa.int64()))
    counts = {
        "posts_in": posts_in,
        "posts_out": posts_out,
        "bloggers_in": len(bloggers_vocab),
        "bloggers_out": int(blogger_out.sum()),
        "tags_in": len(tags),
        "tags_kept": int(keep_tag.sum()),
        "tags_blacklisted": int(blacklisted_np.sum()),
        "tags_generic": n_generic,
        "tags_auto_blacklisted": n_auto,
        "occurrences_in": occurrences_in,
        "occurrences_out": occurrences_out,
    }
    return review, counts


def _add_counts(total: np.ndarray, codes: np.ndarray, size: int) -> np.ndarray:
    """``total`` (grown to ``size``) plus the number of times each code occurs."""
    if len(total) < size:
        total = np.concatenate([total, np.zeros(size - len(total), dtype=np.int64)])
    if len(codes):
        total += np.bincount(codes, minlength=size)
    return total
