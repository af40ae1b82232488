"""Blogger vectors stage (after the gate): one unit vector per blogger from the trained tag
vectors, with the blogger's profile numbers the ranking needs. Writes ``bloggers.parquet``
(blogger_id, username, lang, followers, likes = mean likes per post, likes_total, posts,
tags = tag uses known to the model, vector list<float32>, and each blogger's ``search.profile_tags``
largest tag weights: profile_tags, profile_weights, profile_rest); see ``topictensor.search.vectors``
and ``topictensor.search.explain``.

A blogger's vector is the sum over their posts' kept tag uses of weight x unit tag vector; a pair
(blogger, tag) used in ``c`` posts contributes ``c`` uses of the same weight, so the sums come from
the reweight stage's table of kept pairs and counts (the habit weights' own input), not from the
posts: one hash bucket of bloggers at a time (``PAIR_BUCKETS``), each through
:class:`~topictensor.search.vectors.BloggerVectorSums` fed a pair's ``c`` uses in chunks of
``streaming.BATCH_ROWS`` uses. Peak memory: one bucket's pairs and bloggers x dim; no posts are
read. Posts, likes and language come from the window's bloggers table."""

from __future__ import annotations

from topictensor.artifacts import Artifact, ArtifactRef, StageResult, Workspace, code_version, run_stage
from topictensor.config import PipelineConfig
from topictensor.search.params import SearchConfig

STAGE = "blogger_vectors"
ENGINE_MODULES = ("topictensor.search.vectors", "topictensor.search.table", "topictensor.search.explain",
                  "topictensor.embeddings", "topictensor.stages.streaming", "topictensor.vocabulary",
                  "topictensor.stages.reweight")
# The profiles' weights must rebuild the stored (float32) vectors.
MAX_PROFILE_GAP = 1e-4


def blogger_vectors(model: ArtifactRef | dict, weighted: ArtifactRef | dict, normalized: ArtifactRef | dict,
                    config: PipelineConfig, section: SearchConfig | None = None) -> ArtifactRef:
    """``model``: the train artifact; ``weighted``: the reweight artifact (kept pairs and counts);
    ``normalized``: the window artifact (its bloggers.parquet: followers, likes, posts, language)."""
    params = section or config.search
    store = config.open_store()
    model_art, weighted_art, normalized_art = Artifact(store, model), Artifact(store, weighted), Artifact(store, normalized)

    def compute(ws: Workspace) -> StageResult:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        from topictensor.pools import bucket_workers, map_buckets
        from topictensor.search.table import FILENAME
        from topictensor.stages.normalize import PAIR_BUCKETS

        jobs = [(config, params, model_art.ref, weighted_art.ref, normalized_art.ref, bucket)
                for bucket in range(PAIR_BUCKETS)]
        workers = bucket_workers(params.vector_workers, PAIR_BUCKETS)
        results = map_buckets(bucket_vectors, jobs, workers,
                              label=lambda _index, job: f"blogger_vectors: blogger bucket {job[-1]}")
        _CACHE.clear()
        tables = [r[0] for r in results if r is not None]
        gap = max((r[1] for r in results if r is not None), default=0.0)
        without = sum(r[2] for r in results if r is not None)
        dim = next((r[3] for r in results if r is not None), 0)
        if gap > MAX_PROFILE_GAP:
            raise ValueError(f"blogger profiles: the tag weights rebuild the blogger vectors only up to a cosine "
                             f"gap of {gap:.2e} (> {MAX_PROFILE_GAP:g}): explanations would not add up")
        if not tables:
            raise ValueError(f"reweight artifact {weighted_art.ref.key} holds no (blogger, tag) pair")
        table = pa.concat_tables(tables)
        del tables, results
        # Grouped by language, then by id, as BloggerVectorSums.table orders one table.
        langs, ids = table.column("lang").to_pylist(), table.column("blogger_id").to_pylist()
        order = sorted(range(table.num_rows), key=lambda i: (str(langs[i] or "").lower(), ids[i]))
        table = table.take(pa.array(order, pa.int64()))
        pq.write_table(table, ws.path(FILENAME))
        stored = pc.list_value_length(table.column("profile_tags")).to_numpy(zero_copy_only=False)
        return StageResult(
            counts={"bloggers": table.num_rows, "bloggers_without_vector": without,
                    "posts": int(pc.sum(table.column("posts")).as_py() or 0), "profile_tags": int(stored.sum())},
            metrics={"profile_gap": gap},
            extra={"dim": dim, "profile_tags": params.profile_tags, "workers": workers},
        )

    return run_stage(store, STAGE, code=code_version(__name__, *ENGINE_MODULES),
                     params={"vector_weights": params.vector_weights, "profile_tags": params.profile_tags},
                     inputs={"model": model_art.ref, "weighted": weighted_art.ref, "normalized": normalized_art.ref},
                     compute=compute)


# Per process: the model's tag vectors and vocabulary and the window's bloggers, loaded once for all
# the buckets a process computes (a pool worker computes several).
_CACHE: dict[tuple, tuple] = {}


def bucket_vectors(job: tuple) -> tuple | None:
    """One blogger bucket's rows of the table (``BloggerVectorSums.table`` + profile columns), the
    profiles' largest cosine gap, the bucket's bloggers without a vector and the dimension; None
    for an empty bucket. ``job``: (config, search section, model, weighted and normalized refs,
    bucket). A module-level function of plain arguments, so that a spawned pool worker runs it."""
    from topictensor.embeddings import Embeddings
    from topictensor.search.explain import profiles_from_weights
    from topictensor.search.table import read_vectors
    from topictensor.search.vectors import BloggerVectorSums, tag_vocabulary
    from topictensor.stages.reweight import habit_file, pair_weights

    config, params, model, weighted, normalized, bucket = job
    store = config.open_store()
    weighted_art = Artifact(store, weighted)
    pairs = weighted_art.read_table(habit_file(bucket))
    if not pairs.num_rows:
        return None
    key = (ArtifactRef.from_dict(model).key, ArtifactRef.from_dict(normalized).key, params.vector_weights)
    if key not in _CACHE:
        _CACHE.clear()
        emb = Embeddings.load(Artifact(store, model).path("embeddings.parquet"))
        _CACHE[key] = (emb, tag_vocabulary(emb), Artifact(store, normalized).read_table("bloggers.parquet"))
    emb, tags, bloggers = _CACHE[key]
    extra = weighted_art.manifest.get("extra", {})
    power, mean = float(extra["habit_power"]), float(extra["raw_mean"])
    sums = BloggerVectorSums(emb, params.vector_weights, tags=tags)
    for uses in _pair_uses(pairs, pair_weights(pairs.column("count").to_numpy(), power, mean)):
        sums.add(uses)
    del pairs
    table = sums.table(bloggers)
    profiles, gap = profiles_from_weights(sums.ids.values().to_pylist(), sums.weight_matrix(), emb,
                                          table.column("blogger_id").to_pylist(),
                                          read_vectors(table.column("vector")), params.profile_tags)
    for name, column in profiles.items():
        table = table.append_column(name, column)
    return table, gap, len(sums.ids) - table.num_rows, emb.dim


def _pair_uses(pairs, weights, chunk_uses: int | None = None):
    """Each (blogger, tag, count) pair as ``count`` uses of its tag with its weight, in tables of about
    ``chunk_uses`` uses (one row per pair: blogger_id, tags, weights, likes 0): what the posts give
    BloggerVectorSums, grouped by pair."""
    import numpy as np
    import pyarrow as pa

    from topictensor.stages import streaming

    count = pairs.column("count").to_numpy().astype(np.int64)
    ends = np.cumsum(count)
    limit = chunk_uses or streaming.BATCH_ROWS
    start = 0
    while start < len(count):
        base = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, base + limit, side="right")))
        n = count[start:stop]
        offsets = np.zeros(len(n) + 1, dtype=np.int32)
        np.cumsum(n, out=offsets[1:])
        rows = np.repeat(np.arange(start, stop), n)
        tags = pairs.column("tag").combine_chunks().take(pa.array(rows))
        yield pa.table({
            "blogger_id": pairs.column("blogger_id").slice(start, stop - start),
            "tags": pa.ListArray.from_arrays(pa.array(offsets), tags),
            "likes": pa.array(np.zeros(len(n), dtype=np.int64)),
            "weights": pa.ListArray.from_arrays(pa.array(offsets), pa.array(weights[rows], pa.float32())),
        })
        start = stop
