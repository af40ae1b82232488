"""Normalize: canonical tags per post and one language per blogger, given to each of their posts.

Tags go through ``topictensor.tags`` (the same rule the query side uses), so a theme typed as
``#Café`` finds the tag ``cafe`` that training saw. Language is a property of the blogger, not of
a post: per-language models are trained on the posts of that language's bloggers. A blogger's
language is the one the bloggers file gives, else the majority ``lang`` of their posts, else what
the identifier reads in their captions and tags, else ``normalize.fallback_language``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import NormalizeConfig, PipelineConfig
from topictensor.langid import LanguageIdentifier, identifier_for
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


def normalize(raw: ArtifactRef | dict, config: PipelineConfig) -> ArtifactRef:
    """Ingested posts/bloggers -> normalised posts (non-empty tag lists) and bloggers with a language."""
    store = config.open_store()
    source = Artifact(store, raw)

    def compute(ws: Workspace) -> StageResult:
        posts = source.read_table("posts.parquet", columns=["post_id", "blogger_id", "created_at", "tags",
                                                            "likes", "lang", "caption"])
        bloggers = source.read_table("bloggers.parquet", columns=["blogger_id", "username", "followers", "lang"])
        out_posts, out_bloggers, counts, extra = normalize_tables(posts, bloggers, config.normalize)
        pq.write_table(out_posts, ws.path("posts.parquet"))
        pq.write_table(out_bloggers, ws.path("bloggers.parquet"))
        return StageResult(counts=counts, extra=extra)

    return run_stage(store, STAGE, code=code_version(__name__, "topictensor.tags", "topictensor.langid"),
                     params=config.normalize, inputs={"raw": source.ref}, compute=compute)


def normalize_tables(posts: pa.Table, bloggers: pa.Table, params: NormalizeConfig,
                     identifier: LanguageIdentifier | None = None
                     ) -> tuple[pa.Table, pa.Table, dict[str, int], dict[str, Any]]:
    """Pure core of the stage on Arrow tables in ingest's schema. A blogger's ``posts`` and
    ``likes_total`` count their kept posts (those with at least one valid tag)."""
    norm = normalize_tag_column(posts.column("tags"), params.max_tag_length)
    has_tags = _mask(pc.greater(pc.list_value_length(norm.tags), 0))

    languages = blogger_languages(posts, bloggers, params, identifier)
    blogger_ids = bloggers.column("blogger_id")
    position = pc.index_in(posts.column("blogger_id"), value_set=blogger_ids)
    if position.null_count:
        missing = pc.filter(posts.column("blogger_id"), pc.is_null(position)).to_pylist()[:5]
        raise ValueError(f"posts of bloggers missing from bloggers.parquet (ingest guarantees this): {missing}")
    post_lang = pa.array(languages["lang"].to_numpy(dtype=object), type=pa.string()).take(position)

    out_posts = pa.table({
        "post_id": posts.column("post_id"),
        "blogger_id": posts.column("blogger_id"),
        "created_at": posts.column("created_at"),
        "tags": norm.tags,
        "likes": posts.column("likes"),
        "lang": post_lang,
    }, schema=POSTS_SCHEMA).filter(pa.array(has_tags))

    per_blogger = (out_posts.group_by("blogger_id").aggregate([("post_id", "count"), ("likes", "sum")])
                   .to_pandas().set_index("blogger_id"))
    ids = blogger_ids.to_pandas()
    post_counts = per_blogger["post_id_count"].reindex(ids).fillna(0).to_numpy(dtype=np.int64)
    likes_total = per_blogger["likes_sum"].reindex(ids).fillna(0).to_numpy(dtype=np.int64)
    out_bloggers = pa.table({
        "blogger_id": blogger_ids,
        "username": bloggers.column("username"),
        "followers": bloggers.column("followers"),
        "lang": pa.array(languages["lang"].to_numpy(dtype=object), type=pa.string()),
        "lang_source": pa.array(languages["source"].to_numpy(dtype=object), type=pa.string()),
        "lang_confidence": pa.array(languages["confidence"].to_numpy(dtype=np.float64)),
        "posts": pa.array(post_counts),
        "likes_total": pa.array(likes_total),
    }, schema=BLOGGERS_SCHEMA)

    posts_by_lang = pd.Series(out_posts.column("lang").to_pandas()).value_counts()
    bloggers_by_lang = languages["lang"].value_counts()
    ordered = sorted(set(posts_by_lang.index) | set(bloggers_by_lang.index),
                     key=lambda lang: (-int(posts_by_lang.get(lang, 0)), lang))
    for lang in ordered:
        log.info("normalize: language %s: %d bloggers, %d posts", lang,
                 int(bloggers_by_lang.get(lang, 0)), int(posts_by_lang.get(lang, 0)))
    source_counts = languages["source"].value_counts()
    counts = {
        "posts": out_posts.num_rows,
        "bloggers": out_bloggers.num_rows,
        "tags_in": norm.tags_in,
        "tags_out": norm.tags_out,
        "tags_invalid": norm.tags_invalid,
        "tags_duplicate": norm.tags_duplicate,
        "posts_dropped_empty": int((~has_tags).sum()),
        "bloggers_detected": int(source_counts.get("detected", 0)),
        "bloggers_fallback": int(source_counts.get("fallback", 0)),
    }
    counts.update({f"bloggers_{lang}": int(n) for lang, n in bloggers_by_lang.items()})
    extra = {
        "languages": [lang for lang in ordered if posts_by_lang.get(lang, 0) > 0],
        "posts_by_language": {lang: int(posts_by_lang.get(lang, 0)) for lang in ordered},
        "lang_sources": {str(k): int(v) for k, v in source_counts.items()},
    }
    return out_posts, out_bloggers, counts, extra


def blogger_languages(posts: pa.Table, bloggers: pa.Table, params: NormalizeConfig,
                      identifier: LanguageIdentifier | None = None) -> pd.DataFrame:
    """One row per blogger (bloggers' order): lang, source ('given'|'posts'|'detected'|'fallback'),
    confidence (1 for given, the majority's share for posts, the identifier's score otherwise)."""
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
    post_langs = posts.select(["blogger_id", "lang"]).filter(pc.is_valid(posts.column("lang")))
    if todo.any() and post_langs.num_rows:
        votes = post_langs.group_by(["blogger_id", "lang"]).aggregate([("lang", "count")]).to_pandas()
        votes = votes.rename(columns={"lang_count": "n"})
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
        texts = _texts_for_detection(posts, wanted)
        identifier = identifier or identifier_for(tuple(params.detect_languages))
        results = identifier.detect_many([texts.get(b, []) for b in wanted])
        codes = [code for code, _ in results]
        out.loc[todo, "lang"] = [code if code else params.fallback_language for code in codes]
        out.loc[todo, "source"] = ["detected" if code else "fallback" for code in codes]
        out.loc[todo, "confidence"] = [confidence for _, confidence in results]
    return out


def _texts_for_detection(posts: pa.Table, blogger_ids: pd.Series) -> dict[str, list[str]]:
    """Captions and tags (``#`` dropped, ``_`` read as a space) of the first posts of each blogger."""
    subset = posts.select(["blogger_id", "caption", "tags"]).filter(
        pc.is_in(posts.column("blogger_id"), value_set=pa.array(blogger_ids.to_numpy(dtype=object), pa.string()))
    )
    frame = subset.select(["blogger_id"]).to_pandas()
    first = frame.groupby("blogger_id").cumcount().to_numpy() < POSTS_PER_BLOGGER_FOR_DETECTION
    subset = subset.filter(pa.array(first))
    tag_text = pc.binary_join(subset.column("tags"), " ")
    tag_text = pc.replace_substring(pc.replace_substring(tag_text, "#", ""), "_", " ")
    text = pc.binary_join_element_wise(pc.fill_null(subset.column("caption"), ""), pc.fill_null(tag_text, ""), " ")
    texts: dict[str, list[str]] = {}
    for blogger, piece in zip(subset.column("blogger_id").to_pylist(), pc.utf8_trim_whitespace(text).to_pylist()):
        if piece:
            texts.setdefault(blogger, []).append(piece)
    return texts


def _mask(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False) if isinstance(array, pa.Array)
                      else array.to_numpy(), dtype=bool)
