"""The blogger endpoints of the API: ranking for a theme, lookalikes, one blogger, the filters'
facets, and exports of a whole result set (``/bloggers.csv``, ``/bloggers.json``).

Every blogger query takes the same parameters (:func:`blogger_query`): filters (language,
followers, posts, engagement rate), ranking weights (``lambda`` -- ``lambda_`` is still accepted --
``phi``, ``tau``), the relevance cut-off (``min_relevance``, ``relative_relevance``), exclusions
(``exclude``: blogger ids or @usernames; ``exclude_tags``: bloggers whose profile holds the tag),
the view of the result set (``sort``, ``order``, ``offset`` or ``page``, ``limit``) and
``explain`` (how many contributing tags each hit carries in ``why``: by default
``search.explain_tags``, 0 for none). Bad values are 4xx.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response

from topictensor.search import SORTS, Cutoff, Exclusions, View
from topictensor.search.bloggers import Filters, Popularity
from topictensor.search.export import bloggers_csv
from topictensor.search.model import SearchModel
from topictensor.search.themes import QueryError
from topictensor.service.holder import current_model
from topictensor.service.strict import StrictQueryRoute


@dataclass
class BloggerQuery:
    top: int | None
    filters: Filters
    lambda_: float | None
    phi: float | None
    tau: float | None
    min_relevance: float | None
    relative_relevance: float | None
    exclude: str | None
    exclude_tags: str | None
    view: View
    explain: int | None

    def popularity(self, model) -> Popularity:
        return Popularity.from_config(model.config, self.lambda_, self.phi, self.tau)

    def cutoff(self, model) -> Cutoff:
        return Cutoff.from_config(model.config, self.min_relevance, self.relative_relevance)

    def exclusions(self) -> Exclusions:
        return Exclusions.parse(self.exclude, self.exclude_tags)

    def explain_tags(self, model) -> int:
        """Asked for, else search.explain_tags when the version stores profiles (else none: a version
        written before explanations existed still answers; asking explicitly is then a 503)."""
        if self.explain is not None:
            return self.explain
        table = model.bloggers
        return model.config.explain_tags if table is not None and table.profiles is not None else 0

    def kwargs(self, model) -> dict[str, Any]:
        return {"cutoff": self.cutoff(model), "exclusions": self.exclusions(), "view": self.view,
                "explain_tags": self.explain_tags(model)}


def blogger_query(
    top: int | None = Query(None, description="Size of the result set: the best this many by score "
                                                "(default search.default_top; exports: search.max_top)."),
    lang: str | None = Query(None, description="e.g. `en` or `en,ru`."),
    min_followers: int | None = Query(None), max_followers: int | None = Query(None),
    min_posts: int | None = Query(None),
    min_engagement: float | None = Query(None, description="Engagement rate (mean likes per post / followers) "
                                                            "at least this, e.g. 0.02."),
    max_engagement: float | None = Query(None, description="Engagement rate at most this."),
    lambda_: float | None = Query(None, alias="lambda", description="Exponent of L(likes), 0..1."),
    lambda_old: float | None = Query(None, alias="lambda_", description="Same as `lambda` (older name).",
                                     deprecated=True),
    phi: float | None = Query(None, description="Exponent of L(followers), 0..1."),
    tau: float | None = Query(None, description="Exponent of L(tags), 0..1."),
    min_relevance: float | None = Query(None, description="Leave out bloggers with a cosine to the theme below "
                                                          "this (-1..1; default search.min_relevance)."),
    relative_relevance: float | None = Query(None, description="...or below this share (0..1) of the best "
                                                               "blogger's cosine (default search.relative_relevance)."),
    exclude: str | None = Query(None, description="Bloggers to leave out: ids or @usernames, comma-separated."),
    exclude_tags: str | None = Query(None, description="Leave out bloggers whose profile holds any of these "
                                                       "tags (e.g. a competitor's brand), comma-separated."),
    sort: str = Query("score", description=f"Order of the result set: {', '.join(SORTS)}."),
    order: str = Query("desc", description="asc or desc."),
    offset: int | None = Query(None, description="First row of the page (0-based)."),
    page: int | None = Query(None, description="Page number (1-based; with `limit`), instead of `offset`."),
    limit: int | None = Query(None, description="Rows per page (default: the whole result set)."),
    explain: int | None = Query(None, description="Each hit carries this many of its tags contributing most to "
                                                  "its relevance (`why`; default search.explain_tags); 0: none."),
) -> BloggerQuery:
    if lambda_ is not None and lambda_old is not None and lambda_ != lambda_old:
        raise QueryError(f"lambda ({lambda_}) and lambda_ ({lambda_old}) disagree: give one of them")
    if page is not None and offset is not None:
        raise QueryError("give offset or page, not both")
    if page is not None:
        if page < 1:
            raise QueryError(f"page must be an integer >= 1, got {page}")
        if limit is None:
            raise QueryError("page needs limit (rows per page)")
    if limit is not None and limit < 1:
        raise QueryError(f"limit must be an integer >= 1, got {limit}")
    start = (page - 1) * limit if page is not None else (offset or 0)
    return BloggerQuery(
        top=top, filters=Filters(lang, min_followers, max_followers, min_posts, min_engagement, max_engagement),
        lambda_=lambda_ if lambda_ is not None else lambda_old, phi=phi, tau=tau, min_relevance=min_relevance,
        relative_relevance=relative_relevance, exclude=exclude, exclude_tags=exclude_tags,
        view=View(sort=sort, order=order, offset=start, limit=limit), explain=explain)


def _csv_response(result, name: str) -> Response:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:60] or "result"
    return Response(content=bloggers_csv(result), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="bloggers-{slug}.csv"'})


def _export_query(params: BloggerQuery) -> BloggerQuery:
    if params.view.offset or params.view.limit is not None:
        raise QueryError("an export is the whole result set: drop offset, page and limit")
    return params


# The blogger endpoints, each answered from the request's model (``current_model``: taken once).
router = APIRouter(route_class=StrictQueryRoute)


@router.get("/bloggers")
def bloggers(q: str = Query(..., description="Theme: tags with optional weights."),
             params: BloggerQuery = Depends(blogger_query),
             model: SearchModel = Depends(current_model)) -> dict[str, Any]:
    """Bloggers ranked by cos(theme, blogger) / (L(likes)^lambda L(followers)^phi L(tags)^tau): the
    ``top`` best (``total`` of them pass), sorted and paged as asked."""
    return model.bloggers_for(q, params.top, params.filters, params.popularity(model),
                              **params.kwargs(model)).to_dict()


@router.get("/bloggers.csv", response_class=Response)
def bloggers_export_csv(q: str = Query(..., description="Theme: tags with optional weights."),
                        params: BloggerQuery = Depends(blogger_query),
                        model: SearchModel = Depends(current_model)) -> Response:
    """The whole result set of a /bloggers query as CSV (``top`` up to search.max_export)."""
    params = _export_query(params)
    result = model.bloggers_for(q, params.top, params.filters, params.popularity(model), export=True,
                                **params.kwargs(model))
    return _csv_response(result, q)


@router.get("/bloggers.json")
def bloggers_export_json(q: str = Query(..., description="Theme: tags with optional weights."),
                         params: BloggerQuery = Depends(blogger_query),
                         model: SearchModel = Depends(current_model)) -> JSONResponse:
    """The whole result set of a /bloggers query as JSON (``top`` up to search.max_export)."""
    params = _export_query(params)
    result = model.bloggers_for(q, params.top, params.filters, params.popularity(model), export=True,
                                **params.kwargs(model))
    return JSONResponse(result.to_dict())


@router.get("/bloggers/facets")
def blogger_facets(model: SearchModel = Depends(current_model)) -> dict[str, Any]:
    """What the filters can take: languages with their blogger counts, follower, post and engagement ranges."""
    import numpy as np

    table = model.require_bloggers()
    languages = sorted(table.lang_counts().items(), key=lambda item: (-item[1], item[0]))
    rates = table.engagement[~np.isnan(table.engagement)]
    return {"version": model.version, "bloggers": len(table),
            "languages": [{"lang": lang, "bloggers": n} for lang, n in languages],
            "followers": _span(table.followers), "posts": _span(table.posts),
            "engagement": ({"min": round(float(rates.min()), 6), "median": round(float(np.median(rates)), 6),
                            "max": round(float(rates.max()), 6)} if len(rates) else None),
            "explanations": table.profiles is not None,
            "ranking": {"lambda": model.config.lambda_, "phi": model.config.phi, "tau": model.config.tau}}


@router.get("/bloggers/{blogger_id}")
def blogger_profile(blogger_id: str,
                    top_tags: int = Query(30, ge=0, le=1000, description="How many of their nearest tags."),
                    model: SearchModel = Depends(current_model)) -> dict[str, Any]:
    """One blogger (by id or @username): their counts (``tags`` = their tag uses known to the model,
    as in /bloggers), ``about``: the tags nearest to their vector, i.e. what their posts are about,
    and ``profile``: their heaviest tags with their share of the vector's weight."""
    table = model.require_bloggers()
    row = model.find_blogger(blogger_id)
    emb = model.embeddings
    near = emb.neighbours(table.vectors[row], k=top_tags) if top_tags else []
    facts = {k: v for k, v in table.hit(row, 1.0, 0.0).to_dict().items() if k not in ("similarity", "score")}
    profile = []
    if table.profiles is not None:
        tags, weights = table.profiles.of(row)
        profile = [{"tag": t, "weight": round(float(w), 6)} for t, w in zip(tags, weights)]
    return {"version": model.version, **facts,
            "about": [{"tag": tag, "relevance": round(float(rel), 6), "count": int(emb.counts[emb.index[tag]])}
                      for tag, rel in near],
            "profile": profile}


@router.get("/bloggers/{blogger_id}/lookalikes")
def lookalikes(blogger_id: str, params: BloggerQuery = Depends(blogger_query),
               model: SearchModel = Depends(current_model)) -> dict[str, Any]:
    """Bloggers like this one (by id or @username; the same ranking with their vector as the theme),
    never themselves."""
    return model.lookalikes(blogger_id, params.top, params.filters, params.popularity(model),
                            **params.kwargs(model)).to_dict()


@router.get("/bloggers/{blogger_id}/lookalikes.csv", response_class=Response)
def lookalikes_export_csv(blogger_id: str, params: BloggerQuery = Depends(blogger_query),
                          model: SearchModel = Depends(current_model)) -> Response:
    """The whole lookalike result set as CSV."""
    params = _export_query(params)
    result = model.lookalikes(blogger_id, params.top, params.filters, params.popularity(model), export=True,
                              **params.kwargs(model))
    return _csv_response(result, "lookalikes-" + blogger_id)


def _span(values) -> dict[str, int]:
    return {"min": int(values.min()), "max": int(values.max())} if len(values) else {"min": 0, "max": 0}
