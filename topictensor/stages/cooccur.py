"""Cooccur: one prepared partition -> the co-occurrences of a superset of the review candidates of
every language whose filter scores generic tags (the ``cooccur`` stage, mapped over the prepared
partitions; the filter sums them, ``topictensor.stages.review.summed_cooccurrence``).

The review candidates of a language are its ``filter.review_top_n`` tags with most posts in the
window; they move at the margin most weeks. So a partition does not count exactly them: it counts
the pairs among a superset, the top ``review_top_n x (1 + filter.review_margin)`` tags of the
window it is first counted for, stored by tag (``tags.parquet``: each language's superset in its
order; ``cooc/lang=XX.parquet``: a, b, posts for a < b, positions in that list). A later week
whose candidates are all inside a partition's superset sums that partition's counts of exactly its
candidates from it, and reads none of its posts; only a partition none of whose counted supersets
holds the candidates any more is counted again (reading its prepared posts' ``blogger_id`` and
``tags``), with a new superset around the current candidates.

The reuse rule (which earlier count a partition's task takes): among the cooccur artifacts of the
same prepared partition recorded in ``indexes/cooccur/<prepare key>/`` (one small file per
artifact, written after its manifest), those counted with the same languages of the partition's
bloggers and whose superset holds the current candidates of every scored language; the oldest
(by its manifest's ``created_at``, then key) wins. A new count is made only when none qualifies,
so a rerun, a retry or a backfill finds what it took before (nothing older can appear), and
whatever it takes, the filter's sums are the current candidates' exact co-occurrences: the
filter's output equals the one of counting exactly them (tested). A lost index entry or an
artifact removed by ``topictensor gc`` only costs a recount. The artifact's key holds the superset
it counted (a digest per language), its bloggers' languages and the prepared partition.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from topictensor.artifacts import INDEXES, Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import PipelineConfig
from topictensor.errors import ArtifactNotFound, ArtifactCorrupt
from topictensor.stages import streaming
from topictensor.stages.review import COOC_SCHEMA, TAGS, TAGS_SCHEMA, candidate_tags, cooc_file, counted_tags, digest

STAGE = "cooccur"
INDEX = f"{INDEXES}/{STAGE}"
log = logging.getLogger(__name__)
_CANDIDATES: dict[tuple, dict[str, list[str]]] = {}


def counted_top_n(config: PipelineConfig) -> int:
    """How many of a language's top tags a new count takes: the candidates and the margin."""
    fc = config.filter
    return int(math.ceil(fc.review_top_n * (1.0 + fc.review_margin)))


def review_candidates(config: PipelineConfig, window: Artifact, languages: Sequence[str],
                      top_n: int | None = None) -> dict[str, list[str]]:
    """Per language (of ``languages``) whose filter scores generic tags: its ``top_n`` (default
    ``review_top_n``: the review candidates) most frequent tags, in the filter's order."""
    from topictensor.stages.window import TAG_STATS

    fc = config.filter
    scored = [lang for lang in languages if fc.generic_mode_for(lang) != "off"]
    if not scored:
        return {}
    n = fc.review_top_n if top_n is None else top_n
    key = (window.store.uri, window.ref.key, tuple(scored), n)  # an artifact's tables never change
    if key not in _CANDIDATES:  # one process maps many partitions over the same window (run --jobs 1)
        stats = window.read_table(TAG_STATS)  # read once for every language
        if len(_CANDIDATES) > 4:
            _CANDIDATES.clear()
        _CANDIDATES[key] = {lang: candidate_tags(stats.filter(pc.equal(stats.column("lang"), lang)), n).to_pylist()
                            for lang in scored}
    return {lang: list(tags) for lang, tags in _CANDIDATES[key].items()}


def count_cooccurrence(prepared: ArtifactRef | dict, window: ArtifactRef | dict, languages: Sequence[str],
                       config: PipelineConfig) -> ArtifactRef:
    """The review candidates' co-occurrences in one prepared partition (``languages``: those the
    filter runs for): an earlier count whose superset holds them (see the module docstring), else a
    new count. No language scoring generic tags: an empty artifact, and no posts read."""
    from topictensor.stages.prepare import BLOGGERS

    store = config.open_store()
    source, window_art = Artifact(store, prepared), Artifact(store, window)
    candidates = review_candidates(config, window_art, languages)
    people = window_art.read_table("bloggers.parquet", columns=["blogger_id", "lang"])
    mine = source.read_table(BLOGGERS).column("blogger_id")
    blogger_languages = digest(sorted(zip(mine.to_pylist(), _languages_of(mine, people))))
    earlier = _earlier_count(store, source.ref.key, candidates, blogger_languages)
    if earlier is not None:
        return earlier
    superset = review_candidates(config, window_art, list(candidates), counted_top_n(config)) if candidates else {}
    params = {"superset": {lang: digest(tags) for lang, tags in sorted(superset.items())},
              "blogger_languages": blogger_languages}

    def compute(ws: Workspace) -> StageResult:
        return _count(source, people, superset, ws)

    ref = run_stage(store, STAGE, code=_code(), params=params, inputs={"prepared": source.ref}, compute=compute)
    store.write_text(f"{INDEX}/{source.ref.key}/{ref.key}.json",
                     json.dumps({"cooccur": ref.key, "prepared": source.ref.key}))
    return ref


def _earlier_count(store, prepared_key: str, candidates: dict[str, list[str]],
                   blogger_languages: str) -> ArtifactRef | None:
    """The oldest complete, intact cooccur artifact of this prepared partition that can serve
    ``candidates`` (same bloggers' languages, every candidate list inside its superset). An entry
    whose artifact is gone, incomplete or damaged is passed over (logged), never fatal: the next
    qualifying count serves, else the partition is counted again."""
    found = []
    for name in store.list(f"{INDEX}/{prepared_key}/"):
        key = name.rsplit("/", 1)[-1].removesuffix(".json")
        try:
            art = Artifact(store, ArtifactRef(stage=STAGE, key=key))
            if art.manifest.get("code_version") != _code() or \
                    art.manifest.get("params", {}).get("blogger_languages") != blogger_languages:
                continue
            counted = art.manifest.get("extra", {}).get("superset", {})
            if set(counted) != set(candidates):
                continue
            if all(_holds(art, lang, tags) for lang, tags in candidates.items()):
                found.append((art.manifest.get("created_at", ""), key, art))
        except (ArtifactNotFound, ArtifactCorrupt):
            continue  # removed by gc, or never completed: not a count
        except (ValueError, OSError, pa.ArrowException) as exc:  # a damaged count: not one to reuse
            log.warning("cooccur: earlier count %s of prepared partition %s is not reused: %s", key, prepared_key, exc)
    for _, key, art in sorted(found, key=lambda f: (f[0], f[1])):
        problems = art.problems()
        if problems:  # its files no longer match their manifest (sizes, sha256): try the next one
            log.warning("cooccur: earlier count %s is not reused: %s", key, "; ".join(problems[:3]))
            continue
        m = art.manifest
        return ArtifactRef(stage=STAGE, key=key, reused=True, counts=m.get("counts", {}),
                           metrics=m.get("metrics", {}), seconds=m.get("seconds", 0.0))
    return None


def _code() -> str:
    return code_version(__name__, "topictensor.stages.review", "topictensor.stages.streaming", "topictensor.vocabulary")


def _holds(art: Artifact, lang: str, tags: list[str]) -> bool:
    if not tags:
        return True
    if not art.manifest.get("extra", {}).get("superset", {}).get(lang):
        return False  # it counted no tag of lang (the language had none in that window)
    counted = counted_tags(art, lang)
    return bool(pc.all(pc.is_in(pa.array(tags, pa.string()), value_set=counted)).as_py())


def _count(source: Artifact, people: pa.Table, superset: dict[str, list[str]], ws: Workspace) -> StageResult:
    from scipy import sparse

    from topictensor.stages.prepare import SIDES, side_file
    from topictensor.vocabulary import Vocabulary

    index = {lang: pd.Index(tags) for lang, tags in superset.items() if tags}
    cooc = {lang: sparse.csr_matrix((len(tags), len(tags)), dtype=np.int64) for lang, tags in index.items()}
    positions = Vocabulary(people.column("blogger_id").combine_chunks())
    lang_code, lang_names = pd.factorize(pd.Series(people.column("lang").to_numpy(zero_copy_only=False)))
    wanted = {lang: (int(np.flatnonzero(lang_names == lang)[0]) if lang in set(lang_names) else -1)
              for lang in index}
    posts, last = 0, None
    for side in (SIDES if index else ()):
        for batch in streaming.parquet_batches(source.path(side_file(side)), ["blogger_id", "tags"],
                                               dictionary=("blogger_id", "tags"))():
            posts += batch.num_rows
            flat, parent = streaming.list_parts(batch.column("tags"))
            if not pa.types.is_dictionary(flat.type):
                flat = pc.dictionary_encode(flat)
            if last is None or not last[0].equals(flat.dictionary):  # a row group's dictionary, mapped once
                strings = np.asarray(flat.dictionary.to_numpy(zero_copy_only=False), dtype=object)
                last = (flat.dictionary, {lang: tags.get_indexer(strings) for lang, tags in index.items()})
            indices = flat.indices.to_numpy(zero_copy_only=False)
            use_lang = lang_code[positions.codes(batch.column("blogger_id"))][parent]  # all known (prepare)
            for lang, tags in index.items():
                codes = last[1][lang][indices]
                inside = (use_lang == wanted[lang]) & (codes >= 0)  # tags are distinct within a post
                if not inside.any():
                    continue
                x = sparse.csr_matrix((np.ones(int(inside.sum()), dtype=np.int64), (parent[inside], codes[inside])),
                                      shape=(batch.num_rows, len(tags)))
                cooc[lang] = cooc[lang] + (x.T @ x).tocsr()  # sparse: pairs that occur, not K x K
    pairs = 0
    ordered = sorted(superset.items())
    pq.write_table(pa.table({"lang": pa.array([lang for lang, tags in ordered for _ in tags], pa.string()),
                             "tag": pa.array([t for _, tags in ordered for t in tags], pa.string())},
                            schema=TAGS_SCHEMA), ws.path(TAGS))
    for lang, tags in ordered:
        matrix = cooc.get(lang)
        if matrix is None:
            pq.write_table(COOC_SCHEMA.empty_table(), ws.path(cooc_file(lang)))
            continue
        upper = sparse.triu(matrix, 1).tocoo()
        order = np.lexsort((upper.col, upper.row))
        pq.write_table(pa.table({"a": pa.array(upper.row[order], pa.int32()), "b": pa.array(upper.col[order], pa.int32()),
                                 "posts": pa.array(upper.data[order].astype(np.int64))}, schema=COOC_SCHEMA),
                       ws.path(cooc_file(lang)))
        pairs += upper.nnz
    return StageResult(counts={"posts": posts, "pairs": pairs},
                       extra={"dt": source.manifest.get("extra", {}).get("dt"),
                              "superset": {lang: len(tags) for lang, tags in superset.items()}})


def _languages_of(ids: pa.ChunkedArray, people: pa.Table) -> list[str | None]:
    lang = pd.Series(people.column("lang").to_numpy(zero_copy_only=False),
                     index=np.asarray(people.column("blogger_id").to_numpy(zero_copy_only=False), dtype=object))
    found = lang.reindex(np.asarray(ids.to_numpy(zero_copy_only=False), dtype=object))
    return [None if pd.isna(v) else str(v) for v in found.to_numpy()]
