"""The library's public surface, re-exported lazily by ``topictensor/__init__.py``:

- :func:`train_model`: tag vectors learned from posts (the trainer the pipeline runs);
- :func:`load_model`: a model directory written by it, by ``topictensor train`` or by the train stage;
- :func:`rank_bloggers`: the bloggers whose posts fit a theme best, discounted by popularity;
- :func:`build_topics`: the model's tags grouped into named topics (UMAP + HDBSCAN).

A model is an :class:`~topictensor.embeddings.Embeddings` (``tags``, ``counts``, ``vectors``,
``neighbours(tag)``). Each function is a thin entry over the engines the pipeline uses; the weekly
refresh with its artifacts and registry is the pipeline's (``topictensor.stages``, the DAG).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from topictensor.embeddings import Embeddings
    from topictensor.search.bloggers import BloggerHit
    from topictensor.topics.build import TopicsResult
    from topictensor.topics.params import TopicsConfig
    from topictensor.train.params import TrainConfig

__all__ = ["train_model", "load_model", "rank_bloggers", "build_topics"]


def train_model(posts: Any, config: TrainConfig | Mapping[str, Any] | None = None, *, out_dir: str | Path | None = None,
                normalize: bool = True, **settings: Any) -> Embeddings:
    """Learn one vector per tag from how tags co-occur in posts (StarSpace's objective).

    Parameters
    ----------
    posts : list of tag lists, or a table (pyarrow.Table, pandas.DataFrame, list of dicts)
        One entry per post. A table needs a ``tags`` column (a list of strings per row) and may have
        ``weights`` (one float >= 0 per tag: how much each use counts; default 1).
    config : TrainConfig or dict, optional
        The trainer's settings (``topictensor.train.params.TrainConfig``; the README's ``train:``
        reference lists them). Default: the defaults.
    out_dir : path, optional
        Also write the model directory there (``embeddings.parquet``, ``model.json`` with every
        setting and the per-epoch history, ``adagrad.npy``), readable by :func:`load_model`, the
        CLI and a warm start.
    normalize : bool, default True
        Normalise the tags as the pipeline does (``#BMW`` -> ``bmw``; invalid tags dropped, a
        post's repeats counted once), so that queries, normalised the same way, find them.
    **settings
        Settings laid over ``config``, e.g. ``dim=32, epochs=10, seed=1``.

    Returns
    -------
    Embeddings
        ``tags``, ``counts``, ``vectors`` (float32, one row per tag) and ``neighbours(tag, k)``.

    Raises ``ValueError`` on unusable input (no tag in two posts, mismatched weights, an unknown
    setting) with the row or field it concerns.
    """
    from topictensor.embeddings import Embeddings
    from topictensor.errors import ContractError
    from topictensor.modeldir import train_to_dir
    from topictensor.train.params import TrainConfig

    base = config if isinstance(config, TrainConfig) else TrainConfig.model_validate(dict(config or {}))
    cfg = TrainConfig.model_validate({**base.model_dump(), **settings}) if settings else base
    table = _posts_table(posts, ("tags",), normalize=normalize)
    with tempfile.TemporaryDirectory(prefix="topictensor-model-") as scratch:
        folder = Path(out_dir) if out_dir is not None else Path(scratch)
        try:
            train_to_dir(table, cfg, folder)
        except ContractError as exc:
            raise ValueError(str(exc)) from None
        return Embeddings.load(folder)


def load_model(path: str | Path) -> Embeddings:
    """A model written by :func:`train_model` (``out_dir``), ``topictensor train`` or the train stage.

    Parameters
    ----------
    path : path
        The model directory, or its ``embeddings.parquet``.

    Returns
    -------
    Embeddings
    """
    from topictensor.embeddings import Embeddings

    return Embeddings.load(path)


def rank_bloggers(model: Embeddings, posts: Any, theme: str, *, bloggers: Any = None, top: int = 10,
                  lambda_: float | None = None, phi: float | None = None, tau: float | None = None,
                  normalize: bool = True) -> list[BloggerHit]:
    """The ``top`` bloggers for a theme: score = sim / (log(likes)^λ · log(followers)^φ · log(tags)^τ).

    A blogger's vector is the sum of the unit vectors of every tag they used; ``sim`` is its cosine
    with the theme (the weighted sum of the theme's tags, negative weights subtracting a meaning).

    Parameters
    ----------
    model : Embeddings
        From :func:`train_model` or :func:`load_model`.
    posts : table (pyarrow.Table, pandas.DataFrame, list of dicts)
        One row per post: ``blogger_id``, ``tags`` (list of strings), ``likes`` (optional, default
        0) and ``weights`` (optional: one per tag, as in training).
    theme : str
        ``tag[:weight]`` terms separated by commas or spaces, e.g. ``"apple, iphone:-1"``.
    bloggers : table, optional
        One row per blogger: ``blogger_id`` and any of ``username``, ``followers``, ``lang``.
    top : int, default 10
        How many bloggers.
    lambda_, phi, tau : float, optional
        The popularity exponents (each in -1..1; default: the ``search:`` section's defaults).
    normalize : bool, default True
        Normalise the posts' tags as :func:`train_model` does.

    Returns
    -------
    list of BloggerHit
        Best first: ``blogger_id``, ``username``, ``followers``, ``similarity``, ``score``, ...
    """
    import pyarrow as pa

    from topictensor.search import SearchModel
    from topictensor.search.bloggers import BloggerTable, Popularity
    from topictensor.search.params import SearchConfig
    from topictensor.search.vectors import compute_blogger_vectors

    table = _posts_table(posts, ("blogger_id", "tags"), normalize=normalize)
    if "likes" not in table.column_names:
        table = table.append_column("likes", pa.array([0] * table.num_rows, type=pa.int64()))
    weighting = "reweight" if "weights" in table.column_names else "uniform"
    people = None if bloggers is None else _table(bloggers, "bloggers")
    vectors = compute_blogger_vectors(table, people, model, weighting)
    config = SearchConfig()
    search = SearchModel(model, BloggerTable(vectors), config=config)
    popularity = Popularity.from_config(config, lambda_, phi, tau)
    return search.bloggers_for(theme, top, popularity=popularity).hits


def build_topics(model: Embeddings, config: TopicsConfig | Mapping[str, Any] | None = None,
                 **settings: Any) -> TopicsResult:
    """Group the model's tags into topics: vectors reduced (UMAP, cosine), clustered (HDBSCAN),
    labelled by their most central tags, close clusters merged, weak ones flagged.

    Parameters
    ----------
    model : Embeddings
        From :func:`train_model` or :func:`load_model`.
    config : TopicsConfig or dict, optional
        The ``topics:`` settings (``topictensor.topics.params.TopicsConfig``). Default: the defaults.
    **settings
        Settings laid over ``config``, e.g. ``min_cluster_size=5, reducer="pca"``.

    Returns
    -------
    TopicsResult
        ``topics`` (a DataFrame: ``topic_id``, ``label``, ``size``, ``coherence``, ``flags``, ...),
        ``members`` (one row per tag: ``tag``, ``topic_id``, -1 for noise) and ``summary``. Never
        raises on degenerate input: zero topics and ``summary["reason"]``.
    """
    from topictensor.topics.build import build_topics as build
    from topictensor.topics.params import TopicsConfig

    base = config if isinstance(config, TopicsConfig) else TopicsConfig.model_validate(dict(config or {}))
    cfg = TopicsConfig.model_validate({**base.model_dump(), **settings}) if settings else base
    return build(model.tags, model.counts, model.vectors, cfg)


def _table(data: Any, what: str) -> pa.Table:
    """A pyarrow table from a table, a pandas DataFrame or a list of dicts."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # a pandas DataFrame
        return pa.Table.from_pandas(data, preserve_index=False)
    rows = list(data)
    if rows and not all(isinstance(r, Mapping) for r in rows):
        raise ValueError(f"{what}: expected a table or a list of dicts, got a list of {type(rows[0]).__name__}")
    return pa.Table.from_pylist(rows)


def _posts_table(posts: Any, required: Sequence[str], *, normalize: bool) -> pa.Table:
    """Posts as a table with ``required`` columns, tags normalised (weights kept with their tag)."""
    import pyarrow as pa

    if isinstance(posts, (list, tuple)) and posts and not isinstance(posts[0], Mapping):
        if list(required) != ["tags"]:
            raise ValueError(f"posts: expected rows with columns {list(required)}, got a list of tag lists")
        posts = [{"tags": list(p) if p is not None else []} for p in posts]
    table = _table(posts, "posts")
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise ValueError(f"posts: no column {missing[0]!r} (columns: {table.column_names})")
    if not normalize:
        return table
    if "weights" not in table.column_names:  # the pipeline's own normalisation of a tag column
        from topictensor.tags import normalize_tag_column

        return table.set_column(table.column_names.index("tags"), "tags",
                                normalize_tag_column(table.column("tags")).tags)
    from topictensor.tags import normalize_tag

    tags, weights = table.column("tags").to_pylist(), table.column("weights").to_pylist()
    new_tags: list[list[str]] = []
    new_weights: list[list[float]] = []
    for row, raw in enumerate(tags):  # with weights, a tag keeps its own (normalize_tags' rule, per weight)
        raw, ws = raw or [], weights[row] or []
        if len(ws) != len(raw):
            raise ValueError(f"posts: row {row} has {len(raw)} tags but {len(ws)} weights; weights must be one per tag")
        kept: dict[str, float] = {}
        for tag, w in zip(raw, ws):
            norm = normalize_tag(tag)
            if norm is not None:
                kept.setdefault(norm, w)  # a repeat counts once, with its first weight
        new_tags.append(list(kept))
        new_weights.append(list(kept.values()))
    out = table.set_column(table.column_names.index("tags"), "tags", pa.array(new_tags, type=pa.list_(pa.string())))
    return out.set_column(out.column_names.index("weights"), "weights", pa.array(new_weights, type=pa.list_(pa.float32())))
