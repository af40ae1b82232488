"""Test helpers: the preparation's decisions applied to in-memory tables (what the stages do from
the window's small tables), for tests that plant a table of posts. They call the library's real
decision functions (``filter.decide_tags``, ``reweight.pair_weights``/``raw_mean``,
``normalize.normalize_batches``) and count the inputs those take directly on the table."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from topictensor.generic_tags import cooccurrence
from topictensor.stages import streaming
from topictensor.stages.filter import GenericDetection, decide_tags
from topictensor.stages.review import candidate_tags
from topictensor.stages.reweight import WEIGHTS_FIELD, pair_weights, raw_mean


def tag_stats(posts: pa.Table) -> pa.Table:
    """(tag, posts, bloggers) of a table with ``blogger_id`` and ``tags`` (tags distinct per post)."""
    flat = pc.list_flatten(posts.column("tags"))
    bloggers = pc.take(posts.column("blogger_id"), pc.list_parent_indices(posts.column("tags")))
    grouped = pa.table({"tag": flat, "blogger_id": bloggers}).group_by("tag").aggregate(
        [("blogger_id", "count"), ("blogger_id", "count_distinct")])
    return pa.table({"tag": grouped.column("tag"), "posts": grouped.column("blogger_id_count"),
                     "bloggers": grouped.column("blogger_id_count_distinct")}).sort_by("tag")


def filter_posts(posts: pa.Table, *, min_bloggers: int, blacklist: set[str], review_top_n: int,
                 generic: GenericDetection = GenericDetection()):
    """(kept posts, review table, counts) of one language's posts."""
    stats = tag_stats(posts)
    cooc = None
    if generic.mode != "off":
        candidates = candidate_tags(stats, review_top_n).to_pylist()
        index = {t: i for i, t in enumerate(candidates)}
        flat, parent = streaming.list_parts(posts.column("tags"))
        codes = np.array([index.get(t, -1) for t in flat.to_pylist()], dtype=np.int64)
        inside = codes >= 0
        cooc = cooccurrence([(parent[inside], codes[inside])], len(candidates))
    per_tag, review, counts = decide_tags(stats, min_bloggers=min_bloggers, blacklist=blacklist,
                                          review_top_n=review_top_n, generic=generic, cooccurrence=cooc)
    kept = set(per_tag.filter(per_tag.column("kept")).column("tag").to_pylist())
    rows = [(i, [t for t in tags if t in kept]) for i, tags in enumerate(posts.column("tags").to_pylist())]
    rows = [(i, tags) for i, tags in rows if tags]
    out = posts.take(pa.array([i for i, _ in rows], pa.int64()))
    out = out.set_column(out.schema.get_field_index("tags"), "tags",
                         pa.array([tags for _, tags in rows], pa.list_(pa.string())))
    counts.update(posts_in=posts.num_rows, posts_out=out.num_rows)
    return out, review, counts


def habit_weights(blogger_codes: np.ndarray, tag_codes: np.ndarray, power: float) -> np.ndarray:
    """Per-occurrence weights ``c(b, t) ** -power`` scaled to mean 1."""
    if len(tag_codes) == 0:
        return np.zeros(0, dtype=np.float32)
    pair = blogger_codes.astype(np.int64) * (int(tag_codes.max()) + 1) + tag_codes.astype(np.int64)
    _, inverse, per_pair = np.unique(pair, return_inverse=True, return_counts=True)
    count = per_pair[inverse]
    return pair_weights(count, power, raw_mean(np.bincount(count), power))  # count: per occurrence


def add_habit_weights(posts: pa.Table, power: float) -> pa.Table:
    """``posts`` (``blogger_id``, ``tags``) with a ``weights`` list aligned with ``tags``."""
    tags = posts.column("tags").combine_chunks()
    flat, parent = streaming.list_parts(tags)
    bloggers = pc.dictionary_encode(posts.column("blogger_id").combine_chunks()).indices.to_numpy()
    codes = pc.dictionary_encode(flat).indices.to_numpy() if len(flat) else np.zeros(0, dtype=np.int64)
    weights = habit_weights(bloggers[parent], codes, power)
    column = pa.ListArray.from_arrays(tags.offsets, pa.array(weights, pa.float32()))
    return posts.append_column(WEIGHTS_FIELD, column)


def normalize_table(posts: pa.Table, params):
    """normalize's core on an in-memory table in ingest's schema: (posts, summary, counts)."""
    from topictensor.stages.normalize import PARTITION_POSTS_SCHEMA, normalize_batches

    parts: list[pa.Table] = []

    def read(columns):
        return iter(posts.select([c for c in columns if c in posts.column_names]).to_batches(
            max_chunksize=streaming.BATCH_ROWS))

    occurrences = int(pc.sum(pc.list_value_length(posts.column("tags"))).as_py() or 0)
    summary, counts = normalize_batches(read, params, parts.append, occurrences=occurrences)
    out = pa.concat_tables(parts) if parts else PARTITION_POSTS_SCHEMA.empty_table()
    return out, summary, counts


def write_habit_pairs(posts: pa.Table, power: float, path_of) -> dict:
    """Write a reweight artifact's files for ``posts`` (``blogger_id``, ``tags``: the kept tags): every
    (blogger, tag) pair with the number of posts using it, all in the first bucket (``path_of(name)``
    gives a file's path). Returns the manifest ``extra`` the stage records (habit_power, raw_mean)."""
    import pyarrow.parquet as pq

    from topictensor.stages.normalize import PAIR_BUCKETS
    from topictensor.stages.reweight import HABIT_SCHEMA, habit_file

    flat = pc.list_flatten(posts.column("tags"))
    bloggers = pc.take(posts.column("blogger_id"), pc.list_parent_indices(posts.column("tags")))
    pairs = pa.table({"blogger_id": bloggers, "tag": flat}).group_by(["blogger_id", "tag"]).aggregate(
        [("tag", "count")]).rename_columns(["blogger_id", "tag", "count"]).sort_by([("blogger_id", "ascending"),
                                                                                   ("tag", "ascending")])
    for bucket in range(PAIR_BUCKETS):
        table = pairs if bucket == 0 else pairs.slice(0, 0)
        pq.write_table(table.cast(HABIT_SCHEMA), path_of(habit_file(bucket)))
    count = pairs.column("count").to_numpy()
    return {"habit_power": power, "raw_mean": raw_mean(np.bincount(count, weights=count).astype(np.int64), power)}


def plant_split(config, train_posts: list[list[str]], heldout_posts: list[list[str]]):
    """A split artifact (as the stages leave it: one prepared partition and a reweight table) whose
    posts read back as ``train_posts`` / ``heldout_posts`` (tag lists) with every weight 1: each post
    its own blogger, habit power 0."""
    import json

    import pyarrow.parquet as pq

    from topictensor.artifacts import StageResult, run_stage
    from topictensor.stages.prepare import PREPARED_SCHEMA
    from topictensor.stages.split import split as split_stage

    def posts(side, lists):
        return pa.table({"post_id": [f"{side}{i}" for i in range(len(lists))],
                         "blogger_id": [f"{side}{i}" for i in range(len(lists))],
                         "created_at": pa.array([0] * len(lists), pa.timestamp("us", tz="UTC")),
                         "tags": pa.array(lists, pa.list_(pa.string())),
                         "likes": pa.array([0] * len(lists), pa.int64())}, schema=PREPARED_SCHEMA)

    store = config.open_store()
    sides = {"train": posts("t", train_posts), "heldout": posts("h", heldout_posts)}
    digest = json.dumps([train_posts, heldout_posts])

    def prepared(ws):
        for side, table in sides.items():
            pq.write_table(table, ws.path(f"{side}.parquet"))
        return StageResult(counts={"train_posts": len(train_posts), "heldout_posts": len(heldout_posts)})

    def weighted(ws):
        both = pa.concat_tables(list(sides.values()))
        return StageResult(extra={**write_habit_pairs(both, 0.0, ws.path), "raw_mean": 1.0})

    part = run_stage(store, "prepare", code="planted", params={}, inputs={"posts": digest}, compute=prepared)
    habit = run_stage(store, "reweight", code="planted", params={}, inputs={"posts": digest}, compute=weighted)

    return split_stage([part], habit, config)
