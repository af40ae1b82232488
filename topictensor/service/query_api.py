"""The API's model and tag endpoints: ``/health``, ``/version``, ``/topic`` (the tags nearest to a
theme) and ``/tags/suggest``, each answered from the request's model (``current_model``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from topictensor.search.bloggers import Cutoff
from topictensor.search.model import SearchModel
from topictensor.service.holder import ModelHolder, current_holder, current_model
from topictensor.service.strict import StrictQueryRoute

router = APIRouter(route_class=StrictQueryRoute)


@router.get("/health")
def health(holder: ModelHolder = Depends(current_holder)) -> JSONResponse:
    """200 when a model is loaded and serving; 503 before the first version is in. ``refused``:
    the version the pointer names that could not be loaded (say, a file that does not match
    its manifest) and why; the one in ``version`` is still served."""
    holder.refresh()
    model = holder.current
    body = {"status": "ok" if model else "unavailable", "version": model.version if model else None,
            "production": holder.production, "last_error": holder.last_error, "refused": holder.refused}
    return JSONResponse(status_code=200 if model else 503, content=body)


@router.get("/version")
def version_info(model: SearchModel = Depends(current_model),
                 holder: ModelHolder = Depends(current_holder)) -> dict[str, Any]:
    """The version being served, its size, and what the production pointer says."""
    return {**model.describe(), "production": holder.production}


@router.get("/topic")
def topic(q: str = Query(..., description="Tags with optional weights: `apple, iphone:-1`."),
          top: int | None = Query(None, description="How many tags (default search.default_top)."),
          include_query_tags: bool = Query(False, description="Also list the query's own tags."),
          min_relevance: float | None = Query(None, description="Leave out tags with a cosine to the theme "
                                                                 "below this (-1..1)."),
          relative_relevance: float | None = Query(None, description="...or below this share (0..1) of the "
                                                                     "nearest tag's cosine."),
          exclude_tags: str | None = Query(None, description="Tags never to list, comma-separated."),
          model: SearchModel = Depends(current_model)) -> dict[str, Any]:
    """The tags nearest to the theme, with relevance (cosine) and popularity (count). They are ranked
    by cosine - search.theme_popularity_penalty x ln(count), so that frequent topic-free tags do not
    fill every theme's list; `relevance` is still the cosine, and the cut-offs are on it."""
    cutoff = Cutoff.from_config(model.config, min_relevance, relative_relevance)
    excluded = tuple(t.strip() for t in (exclude_tags or "").split(",") if t.strip())
    return model.topic(q, top, include_query_tags=include_query_tags, cutoff=cutoff,
                       exclude_tags=excluded).to_dict()


@router.get("/tags/suggest")
def suggest(prefix: str = Query("", description="Start of a tag (normalised like tags)."),
            limit: int = Query(10, description="How many suggestions."),
            model: SearchModel = Depends(current_model)) -> dict[str, Any]:
    """Autocomplete: the most used tags starting with ``prefix``."""
    return {"version": model.version, "prefix": prefix,
            "tags": [{"tag": h.tag, "count": h.count} for h in model.suggest(prefix, limit)]}
