"""The query side: themes from weighted tags, bloggers ranked by relevance and popularity,
lookalikes, over one loaded model version.

Modules, one job each: ``params`` (the ``search`` config section), ``themes`` (tag queries),
``table`` (the blogger table), ``vectors`` (building the blogger vectors), ``bloggers`` (ranking),
``explain`` (why a blogger ranks), ``index`` (the ANN backend and its files), ``model``
(:class:`SearchModel`, one loaded version), ``export`` (CSV of a result set).

The names below are re-exported lazily (PEP 562): ``import topictensor.search.params`` (as
``topictensor.config`` does) loads no numpy, pyarrow or index library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> the module defining it
_EXPORTS = {
    "SearchConfig": "params",
    "QueryError": "themes", "NotFoundError": "themes",
    "Filters": "bloggers", "Popularity": "bloggers", "Cutoff": "bloggers",
    "SearchModel": "model", "TopicResult": "model", "BloggerResult": "model", "ModelUnavailable": "model",
    "Exclusions": "model", "View": "model", "SORTS": "model",
}
__all__ = list(_EXPORTS)

if TYPE_CHECKING:
    from topictensor.search.bloggers import Cutoff, Filters, Popularity
    from topictensor.search.model import (SORTS, BloggerResult, Exclusions, ModelUnavailable, SearchModel,
                                          TopicResult, View)
    from topictensor.search.params import SearchConfig
    from topictensor.search.themes import NotFoundError, QueryError


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
