"""Normalize: canonical tags per post and one language per blogger, given to each of their posts.

Tags go through ``topictensor.tags`` (the same rule the query side uses), so a theme typed as
``#Café`` finds the tag ``cafe`` that training saw. Language is a property of the blogger, not of
a post: per-language models are trained on the posts of that language's bloggers. A blogger's
language is the one the bloggers file gives, else the majority ``lang`` of their posts, else what
the identifier reads in their captions and tags, else ``normalize.fallback_language``.

Output: ``posts/lang=<lang>/part-0.parquet`` (one file per language, rows in ingest's order, so a
``filter[lang]`` task reads only its language) and ``bloggers.parquet``. Posts are streamed in
batches (see ``topictensor.stages.streaming``); held in memory are the bloggers table and, only
for bloggers without a given language, their language votes and the texts for the identifier.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import NormalizeConfig, PipelineConfig
from topictensor.langid import LanguageIdentifier, identifier_for
from topictensor.stages import streaming
from topictensor.stages.streaming import LanguageWriters, ReadColumns, Vocabulary
from topictensor.tags import normalize_tag_column

log = logging.getLogger(__name__)

STAGE = "normalize"
POSTS_PER_BLOGGER_FOR_DETECTION = 20  # enough text to be sure; the identifier caps the length anyway

POSTS_SCHEMA = pa.schema([
    ("post_id", pa.string()),
    ("blogger_id", pa.string()),
    ("created_at", pa.timestamp("us", tz="UTC")),
    ("tags", pa.list_(pa.string())),
    ("likes", pa.int64()),
    ("lang", pa.string()),
])
BLOGGERS_SCHEMA = pa.schema([
    ("blogger_id", pa.string()),
    ("username", pa.string()),
    ("followers", pa.int64()),
    ("lang", pa.string()),
    ("lang_source", pa.string()),
    ("lang_confidence", pa.float64()),
    ("posts", pa.int64()),
    ("likes_total", pa.int64()),
])
_INPUT_COLUMNS = ["post_id", "blogger_id", "created_at", "tags", "likes", "lang", "caption"]


def language_posts_file(lang: str) -> str:
    """Name of the normalized posts of one language inside the artifact."""
    return f"posts/lang={lang}/part-0.parquet"


def normalize(raw: ArtifactRef | dict, config: PipelineConfig) -> ArtifactRef:
    """Ingested posts/bloggers -> normalised posts (non-empty tag lists, one file per language)
    and bloggers with a language."""
    store = config.open_store()
    source = Artifact(store, raw)

    def compute(ws: Workspace) -> StageResult:
        path = source.path("posts.parquet")
        bloggers = source.read_table("bloggers.parquet", columns=["blogger_id", "username", "followers", "lang"])
        writers = LanguageWriters(lambda lang: ws.path(language_posts_file(lang)), POSTS_SCHEMA)
        try:
            out_bloggers, counts, extra = normalize_batches(
                lambda columns: streaming.parquet_batches(path, columns, dictionary=("blogger_id", "tags"))(),
                bloggers, config.normalize, lambda table: _write_by_language(writers, table),
            )
        finally:
            writers.close()
        pq.write_table(out_bloggers, ws.path("bloggers.parquet"))
        return StageResult(counts=counts, extra=extra)

    return run_stage(store, STAGE,
                     code=code_version(__name__, "topictensor.tags", "topictensor.langid", "topictensor.stages.streaming"),
                     params=config.normalize, inputs={"raw": source.ref}, compute=compute)


def _write_by_language(writers: LanguageWriters, table: pa.Table) -> None:
    langs = table.column("lang")
    for lang in pc.unique(langs).to_pylist():
        writers.write(lang, table.filter(pc.equal(langs, lang)))


def normalize_tables(posts: pa.Table, bloggers: pa.Table, params: NormalizeConfig,
                     identifier: LanguageIdentifier | None = None
                     ) -> tuple[pa.Table, pa.Table, dict[str, int], dict[str, Any]]:
    """Pure core of the stage on in-memory Arrow tables in ingest's schema: (posts in input order,
    bloggers, counts, extra). A blogger's ``posts`` and ``likes_total`` count their kept posts
    (those with at least one valid tag)."""
    parts: list[pa.Table] = []

    def batches(columns):
        return streaming.table_batches(posts.select([c for c in columns if c in posts.column_names]))()

    out_bloggers, counts, extra = normalize_batches(batches, bloggers, params, parts.append, identifier)
    out_posts = pa.concat_tables(parts) if parts else POSTS_SCHEMA.empty_table()
    return out_posts, out_bloggers, counts, extra


def normalize_batches(read: ReadColumns, bloggers: pa.Table, params: NormalizeConfig,
                      write: Callable[[pa.Table], None], identifier: LanguageIdentifier | None = None
                      ) -> tuple[pa.Table, dict[str, int], dict[str, Any]]:
    """The stage over posts streamed by ``read(columns)`` (an iterator of batches, callable again
    for each pass): normalised posts of each batch go to ``write`` in input order."""
    languages = blogger_languages(read, bloggers, params, identifier)
    blogger_ids = bloggers.column("blogger_id")
    positions = Vocabulary(blogger_ids.combine_chunks() if isinstance(blogger_ids, pa.ChunkedArray) else blogger_ids)
    lang_of_blogger = pa.array(languages["lang"].to_numpy(dtype=object), type=pa.string())
    n_bloggers = len(blogger_ids)
    post_counts = np.zeros(n_bloggers, dtype=np.int64)
    likes_total = np.zeros(n_bloggers, dtype=np.int64)
    posts_by_lang: dict[str, int] = {}
    tag_counts = {"tags_in": 0, "tags_out": 0, "tags_invalid": 0, "tags_duplicate": 0}
    kept = dropped = 0

    for batch in read(["post_id", "blogger_id", "created_at", "tags", "likes"]):
        position = positions.codes(batch.column("blogger_id"))
        unknown = position >= n_bloggers
        if unknown.any():
            missing = pc.filter(streaming.plain_strings(batch.column("blogger_id")), pa.array(unknown))
            raise ValueError("posts of bloggers missing from bloggers.parquet (ingest guarantees this): "
                             f"{missing.to_pylist()[:5]}")
        tags = batch.column("tags")
        norm = normalize_tag_column(streaming.plain_tags(tags) if tags.null_count else tags, params.max_tag_length)
        for name in tag_counts:
            tag_counts[name] += getattr(norm, name)
        has_tags = pc.greater(pc.list_value_length(norm.tags), 0)
        has_tags_np = np.asarray(has_tags.to_numpy(zero_copy_only=False), dtype=bool)
        out = pa.table({
            "post_id": streaming.plain_strings(batch.column("post_id")),
            "blogger_id": streaming.plain_strings(batch.column("blogger_id")),
            "created_at": batch.column("created_at"),
            "tags": norm.tags,
            "likes": batch.column("likes"),
            "lang": lang_of_blogger.take(pa.array(position)),
        }, schema=POSTS_SCHEMA).filter(has_tags)
        kept_position = position[has_tags_np]
        np.add.at(post_counts, kept_position, 1)
        np.add.at(likes_total, kept_position,
                  np.asarray(out.column("likes").to_numpy(), dtype=np.int64))
        for lang, n in pd.Series(out.column("lang").to_numpy()).value_counts().items():
            posts_by_lang[lang] = posts_by_lang.get(lang, 0) + int(n)
        kept += out.num_rows
        dropped += int((~has_tags_np).sum())
        if out.num_rows:
            write(out)

    out_bloggers = pa.table({
        "blogger_id": blogger_ids,
        "username": bloggers.column("username"),
        "followers": bloggers.column("followers"),
        "lang": lang_of_blogger,
        "lang_source": pa.array(languages["source"].to_numpy(dtype=object), type=pa.string()),
        "lang_confidence": pa.array(languages["confidence"].to_numpy(dtype=np.float64)),
        "posts": pa.array(post_counts),
        "likes_total": pa.array(likes_total),
    }, schema=BLOGGERS_SCHEMA)

    bloggers_by_lang = languages["lang"].value_counts()
    ordered = sorted(set(posts_by_lang) | set(bloggers_by_lang.index),
                     key=lambda lang: (-int(posts_by_lang.get(lang, 0)), lang))
    for lang in ordered:
        log.info("normalize: language %s: %d bloggers, %d posts", lang,
                 int(bloggers_by_lang.get(lang, 0)), int(posts_by_lang.get(lang, 0)))
    source_counts = languages["source"].value_counts()
    counts = {
        "posts": kept,
        "bloggers": out_bloggers.num_rows,
        **tag_counts,
        "posts_dropped_empty": dropped,
        "bloggers_detected": int(source_counts.get("detected", 0)),
        "bloggers_fallback": int(source_counts.get("fallback", 0)),
    }
    counts.update({f"bloggers_{lang}": int(n) for lang, n in bloggers_by_lang.items()})
    extra = {
        "languages": [lang for lang in ordered if posts_by_lang.get(lang, 0) > 0],
        "posts_by_language": {lang: int(posts_by_lang.get(lang, 0)) for lang in ordered},
        "lang_sources": {str(k): int(v) for k, v in source_counts.items()},
    }
    return out_bloggers, counts, extra


def blogger_languages(read: ReadColumns, bloggers: pa.Table, params: NormalizeConfig,
                      identifier: LanguageIdentifier | None = None) -> pd.DataFrame:
    """One row per blogger (bloggers' order): lang, source ('given'|'posts'|'detected'|'fallback'),
    confidence (1 for given, the majority's share for posts, the identifier's score otherwise).

    The posts are read only for bloggers without a given language: one pass for the votes of
    their posts' ``lang``, and one more for the texts of those left without a vote."""
    ids = bloggers.column("blogger_id").to_pandas()
    out = pd.DataFrame({
        "blogger_id": ids,
        "lang": pd.Series(bloggers.column("lang").to_pandas(), dtype=object),
        "source": "given",
        "confidence": 1.0,
    })
    out["lang"] = out["lang"].where(out["lang"].notna(), None)
    todo = out["lang"].isna()

    # Majority of the posts' own lang, ties broken alphabetically so reruns agree.
    if todo.any():
        votes = _language_votes(read, out.loc[todo, "blogger_id"])
        if len(votes):
            votes["share"] = votes["n"] / votes.groupby("blogger_id")["n"].transform("sum")
            best = votes.sort_values(["blogger_id", "n", "lang"], ascending=[True, False, True]) \
                .drop_duplicates("blogger_id").set_index("blogger_id")
            found = todo & out["blogger_id"].isin(best.index)
            out.loc[found, "lang"] = best.loc[out.loc[found, "blogger_id"], "lang"].to_numpy()
            out.loc[found, "source"] = "posts"
            out.loc[found, "confidence"] = best.loc[out.loc[found, "blogger_id"], "share"].to_numpy()
            todo &= ~found

    if todo.any():
        wanted = out.loc[todo, "blogger_id"]
        texts = _texts_for_detection(read, wanted)
        identifier = identifier or identifier_for(tuple(params.detect_languages))
        results = identifier.detect_many([texts.get(b, []) for b in wanted])
        codes = [code for code, _ in results]
        out.loc[todo, "lang"] = [code if code else params.fallback_language for code in codes]
        out.loc[todo, "source"] = ["detected" if code else "fallback" for code in codes]
        out.loc[todo, "confidence"] = [confidence for _, confidence in results]
    return out


def _language_votes(read: ReadColumns, blogger_ids: pd.Series) -> pd.DataFrame:
    """(blogger_id, lang, n): how many posts of each of these bloggers carry each ``lang``."""
    wanted = pa.array(blogger_ids.to_numpy(dtype=object), pa.string())
    parts = []
    for batch in read(["blogger_id", "lang"]):
        table = pa.table({"blogger_id": streaming.plain_strings(batch.column("blogger_id")),
                          "lang": streaming.plain_strings(batch.column("lang"))})
        table = table.filter(pc.and_(pc.is_valid(table.column("lang")),
                                     pc.is_in(table.column("blogger_id"), value_set=wanted)))
        if table.num_rows:
            parts.append(table.group_by(["blogger_id", "lang"]).aggregate([("lang", "count")]))
    if not parts:
        return pd.DataFrame({"blogger_id": [], "lang": [], "n": []})
    votes = pa.concat_tables(parts).group_by(["blogger_id", "lang"]).aggregate([("lang_count", "sum")])
    return votes.to_pandas().rename(columns={"lang_count_sum": "n"})


def _texts_for_detection(read: ReadColumns, blogger_ids: pd.Series) -> dict[str, list[str]]:
    """Captions and tags (``#`` dropped, ``_`` read as a space) of the first posts of each blogger."""
    wanted = pa.array(blogger_ids.to_numpy(dtype=object), pa.string())
    seen: dict[str, int] = {}
    texts: dict[str, list[str]] = {}
    for batch in read(["blogger_id", "caption", "tags"]):
        subset = pa.table({"blogger_id": streaming.plain_strings(batch.column("blogger_id")),
                           "caption": batch.column("caption"),
                           "tags": streaming.plain_tags(batch.column("tags"))})
        subset = subset.filter(pc.is_in(subset.column("blogger_id"), value_set=wanted))
        if not subset.num_rows:
            continue
        tag_text = pc.binary_join(subset.column("tags"), " ")
        tag_text = pc.replace_substring(pc.replace_substring(tag_text, "#", ""), "_", " ")
        text = pc.binary_join_element_wise(pc.fill_null(subset.column("caption"), ""), pc.fill_null(tag_text, ""), " ")
        for blogger, piece in zip(subset.column("blogger_id").to_pylist(), pc.utf8_trim_whitespace(text).to_pylist()):
            rank = seen.get(blogger, 0)
            seen[blogger] = rank + 1
            if rank < POSTS_PER_BLOGGER_FOR_DETECTION and piece:
                texts.setdefault(blogger, []).append(piece)
    return texts
