"""TopicTensor: hashtag embeddings learned from co-occurrence, and the pipeline that refreshes them.

Use it from Python (each name is imported on first use, so ``import topictensor`` stays light)::

    import topictensor as tt

    model = tt.train_model([["bmw", "audi", "cars"], ["apple", "iphone"], ...], dim=32)
    model.neighbours("bmw", k=5)                       # [(tag, cosine), ...]
    model = tt.load_model("models/week-48")            # a model directory
    hits = tt.rank_bloggers(model, posts, "cars, bmw:2", top=10)
    topics = tt.build_topics(model)                    # topics.topics, topics.members

- :func:`train_model` -- tag vectors from posts (a list of tag lists, or a table with ``tags``);
- :func:`load_model` -- a model directory (``train_model(out_dir=...)``, ``topictensor train``, the train stage);
- :func:`rank_bloggers` -- bloggers ranked for a theme, discounted by popularity;
- :func:`build_topics` -- the tags grouped into named topics.

The pipeline itself is a plain library too: stage functions in ``topictensor.stages`` take
artifact references and a typed config and return an artifact reference. Nothing here imports
Airflow.
"""

__version__ = "0.1.0"

from topictensor import numba_cache as _numba_cache

_numba_cache.configure()  # before any module of the package imports numba

__all__ = ["__version__", "train_model", "load_model", "rank_bloggers", "build_topics"]

_PUBLIC = {"train_model", "load_model", "rank_bloggers", "build_topics"}


def __getattr__(name: str):
    """The public functions, imported from ``topictensor.api`` on first use."""
    if name in _PUBLIC:
        from topictensor import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'topictensor' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _PUBLIC)
