"""One loaded model version, what the CLI and the service answer from: :class:`SearchModel` (tag
embeddings, blogger vectors, ANN index) with its queries -- themes, bloggers ranked by relevance and
popularity, lookalikes -- and their result types.

A version without ``blogger_vectors`` still answers tag queries; without ``index`` it ranks
bloggers exactly (numpy).

The result set of a blogger query is the ``top`` best by score among the bloggers passing the
filters, the exclusions and the relevance cut-off (found exactly, or through the index and
re-ranked exactly). :class:`View` only orders and pages that set: sorting by followers or
engagement reorders the same ``top`` bloggers and never brings in one outside it, so a page of
"most followers" is the most followed of the ``top`` most relevant-for-their-size bloggers. To
sort *every* blogger above a relevance level, give a cut-off and a ``top`` large enough to hold
them (``total`` < ``top`` in the answer says the cut-off, not ``top``, ended the set).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from topictensor.embeddings import Embeddings
from topictensor.ranking import popularity_penalty
from topictensor.search.bloggers import Cutoff, Filters, Popularity, rank_bloggers
from topictensor.search.explain import explain
from topictensor.search.params import SearchConfig
from topictensor.search.table import BloggerHit, BloggerTable
from topictensor.search.themes import (NotFoundError, QueryError, TagHit, TagSuggester, Theme, build_theme,
                                      ranked_tags)
from topictensor.tags import DEFAULT_MAX_LENGTH, normalize_tag

# Sort keys of a result set: value of a hit, larger first by default (order="desc").
SORTS = {
    "score": lambda h: h.score,
    "relevance": lambda h: h.similarity,
    "followers": lambda h: h.followers,
    "engagement": lambda h: h.engagement,
}


@dataclass(frozen=True)
class View:
    """How the result set is shown: sorted by ``sort`` (``SORTS``), ``order`` asc/desc (default desc),
    then the page ``offset`` .. ``offset + limit`` (``limit`` None: to the end)."""

    sort: str = "score"
    order: str = "desc"
    offset: int = 0
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise QueryError(f"sort must be one of {', '.join(SORTS)}, got {self.sort!r}")
        if self.order not in ("asc", "desc"):
            raise QueryError(f"order must be asc or desc, got {self.order!r}")
        if not isinstance(self.offset, int) or isinstance(self.offset, bool) or self.offset < 0:
            raise QueryError(f"offset must be an integer >= 0, got {self.offset!r}")
        if self.limit is not None and (not isinstance(self.limit, int) or isinstance(self.limit, bool)
                                       or self.limit < 1):
            raise QueryError(f"limit must be an integer >= 1, got {self.limit!r}")

    def apply(self, hits: list[BloggerHit]) -> list[BloggerHit]:
        """Sorted (ties and missing values -- no engagement without followers -- by score rank, missing
        values last in either order) and paged."""
        ordered = list(hits)
        if self.sort != "score" or self.order != "desc":
            key = SORTS[self.sort]
            sign = -1 if self.order == "desc" else 1
            rank = {id(h): i for i, h in enumerate(hits)}
            ordered.sort(key=lambda h: (key(h) is None, sign * key(h) if key(h) is not None else 0, rank[id(h)]))
        end = None if self.limit is None else self.offset + self.limit
        return ordered[self.offset:end]


@dataclass(frozen=True)
class Exclusions:
    """Bloggers (ids or ``@usernames``) and tags whose users are left out of a blogger query.

    A tag excludes every blogger whose stored profile (their ``search.profile_tags`` heaviest tags,
    topictensor.search.explain) holds it: a blogger who used a competitor's tag once among hundreds of
    tag uses may not be caught; raise ``profile_tags`` to reach deeper."""

    bloggers: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @classmethod
    def parse(cls, bloggers: str | list[str] | None = None, tags: str | list[str] | None = None) -> "Exclusions":
        def split(value) -> tuple[str, ...]:
            if value is None:
                return ()
            items = value if isinstance(value, (list, tuple)) else str(value).split(",")
            return tuple(dict.fromkeys(x.strip() for part in items for x in str(part).split(",") if x.strip()))

        out = cls(split(bloggers), split(tags))
        for name in out.bloggers:
            if name.startswith("@") and not name[1:].strip():
                raise QueryError("exclude: '@' must be followed by a username")
        for raw in out.tags:  # the characters only: the length limit is the model's (its _excluded_rows)
            if normalize_tag(raw, max_length=4 * len(raw) + 1) is None:
                raise QueryError(f"exclude_tags: {raw!r} is not a valid tag (letters, digits and _ only)")
        return out

    def __bool__(self) -> bool:
        return bool(self.bloggers or self.tags)


class ModelUnavailable(QueryError):
    """The loaded version cannot answer this kind of query (e.g. it has no blogger vectors); HTTP 503."""


@dataclass
class TopicResult:
    version: str | None
    theme: Theme
    tags: list[TagHit]

    threshold: float = -math.inf

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "query": self.theme.query, "used": self.theme.tags,
                "weights": {t.tag: t.weight for t in self.theme.terms if t.tag in self.theme.tags},
                "unknown": self.theme.unknown, "suggestions": self.theme.suggestions, "hints": self.theme.hints,
                "min_relevance_applied": None if self.threshold == -math.inf else round(self.threshold, 6),
                "tags": [{"tag": h.tag, "relevance": round(h.relevance, 6), "count": h.count} for h in self.tags]}


@dataclass
class BloggerResult:
    version: str | None
    hits: list[BloggerHit]
    method: str
    candidates: int
    popularity: Popularity
    used: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    query: str | None = None
    total: int = 0  # bloggers in the result set (``hits`` is one page of it)
    view: View = View()
    threshold: float = -math.inf  # the relevance cut-off applied
    excluded: int = 0  # bloggers left out by the exclusions
    unknown_excluded: list[str] = field(default_factory=list)  # exclusions naming nobody/no known tag
    suggestions: dict[str, list[str]] = field(default_factory=dict)
    hints: list[str] = field(default_factory=list)
    explained: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "query": self.query, "used": self.used, "unknown": self.unknown,
                "suggestions": self.suggestions, "hints": self.hints,
                "method": self.method, "candidates": self.candidates,
                "lambda": self.popularity.lambda_, "lambda_": self.popularity.lambda_, "phi": self.popularity.phi,
                "tau": self.popularity.tau,
                "min_relevance_applied": None if self.threshold == -math.inf else round(self.threshold, 6),
                "excluded": self.excluded, "unknown_excluded": self.unknown_excluded,
                "total": self.total, "offset": self.view.offset, "limit": self.view.limit,
                "sort": self.view.sort, "order": self.view.order,
                "bloggers": [h.to_dict() for h in self.hits]}


class SearchModel:
    """Everything one model version needs to answer queries, loaded fully before use.

    ``max_tag_length``: the ``normalize.max_tag_length`` the model's posts were normalised with (a
    version records it in its config); query tags, exclusions and prefixes are normalised with it,
    as training normalised its tags."""

    def __init__(self, embeddings: Embeddings, bloggers: BloggerTable | None = None, index: Any | None = None,
                 config: SearchConfig | None = None, version: str | None = None, *,
                 max_tag_length: int = DEFAULT_MAX_LENGTH):
        self.embeddings = embeddings
        self.bloggers = bloggers
        self.index = index
        self.config = config or SearchConfig()
        self.version = version
        self.max_tag_length = int(max_tag_length)
        self.suggester = TagSuggester(embeddings, self.config.suggest_edit_vocabulary, self.max_tag_length)
        # what a theme's tags add to their cosine (search.theme_popularity_penalty; None: plain cosine)
        self.theme_penalty = popularity_penalty(embeddings.counts, self.config.theme_popularity_penalty)
        self.loaded_at = time.time()
        if bloggers is not None and len(bloggers) and bloggers.dim != embeddings.dim:
            raise ValueError(f"blogger vectors have {bloggers.dim} dimensions, the tag embeddings {embeddings.dim}")
        if index is not None and bloggers is not None and len(index) != len(bloggers):
            raise ValueError(f"the index holds {len(index)} vectors but there are {len(bloggers)} bloggers")

    # loading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, registry, version: str | None = None, config: SearchConfig | None = None) -> "SearchModel":
        """Load ``version`` (None: production) from the registry: train, blogger_vectors, index, and the
        ``normalize.max_tag_length`` of the config the version was made with (the default for a
        version that records no config)."""
        from topictensor.registry import VersionNotFound
        from topictensor.search import index as ann
        from topictensor.search.table import FILENAME

        config = config or SearchConfig()
        vid = version or registry.production()
        if vid is None:
            raise VersionNotFound(f"no model is in production in {registry.store.uri}; run the pipeline first")
        manifest = registry.get_version(vid)
        stages = manifest.get("stages", {})
        # Every artifact the service reads is checked against its manifest's sha256s first: a
        # damaged file refuses the whole version (the holder keeps serving the one it has).
        served = {stage: registry.artifact(vid, stage).verify()
                  for stage in ("train", "blogger_vectors", "index", "clusters") if stages.get(stage)}
        if "train" not in served:
            registry.artifact(vid, "train")  # the registry's error: the version has no train artifact
        emb = Embeddings.load(served["train"].path("embeddings.parquet"))
        bloggers = index = None
        if "blogger_vectors" in served:
            bloggers = BloggerTable.read(served["blogger_vectors"].path(FILENAME))
        if bloggers is not None and "index" in served:
            params = ann.read_params(served["index"].path)
            if params.get("vectors_key") not in (None, stages["blogger_vectors"][0]["key"]):
                raise ValueError(f"version {vid}: the index was built from blogger vectors "
                                 f"{params.get('vectors_key')}, not the version's {stages['blogger_vectors'][0]['key']}")
            index = ann.load(served["index"].path, params, ef_search=config.ef_search)
        return cls(emb, bloggers, index, config, vid, max_tag_length=trained_max_tag_length(manifest))

    # queries ---------------------------------------------------------------------------
    def check_top(self, top: int | None, name: str = "top") -> int:
        """``top`` itself when in 1..max_top (None: the default); otherwise a QueryError, never a silent cap."""
        top = self.config.default_top if top is None else top
        if not isinstance(top, int) or isinstance(top, bool) or top < 1 or top > self.config.max_top:
            raise QueryError(f"{name} must be an integer in 1..{self.config.max_top}, got {top!r}")
        return top

    def theme(self, query: str) -> Theme:
        return build_theme(query, self.embeddings, self.config.max_query_terms, self.suggester, self.max_tag_length)

    def topic(self, query: str, top: int | None = None, *, include_query_tags: bool = False,
              cutoff: Cutoff | None = None, exclude_tags: tuple[str, ...] = ()) -> TopicResult:
        """The ``top`` tags nearest the theme, ranked by cosine - ``search.theme_popularity_penalty`` x
        ln(the tag's training count) (0: by cosine), less the ``exclude_tags`` and those below the
        relevance cut-off. Each hit's ``relevance`` is its cosine to the theme, and the cut-off
        (relative: to the nearest tag's cosine, whatever the penalty let into the list, so it does
        not depend on ``top``) is on that cosine, so a penalised tag's
        relevance says how near it is, not where the penalty put it."""
        top = self.check_top(top)
        theme = self.theme(query)
        cutoff = cutoff or Cutoff.from_config(self.config)
        skip = {t for t in (normalize_tag(x, self.max_tag_length) for x in exclude_tags) if t}
        ranked = ranked_tags(self.embeddings, theme, top, include_query_tags=include_query_tags, exclude=skip,
                             penalty=self.theme_penalty)
        hits = ranked.hits
        threshold = -math.inf
        if cutoff.active and hits:
            threshold = cutoff.threshold(ranked.nearest)
            hits = [h for h in hits if h.relevance >= threshold]
        return TopicResult(self.version, theme, hits, threshold)

    def suggest(self, prefix: str, limit: int = 10) -> list[TagHit]:
        return self.suggester.suggest(prefix, self.check_top(limit, "limit"))

    def check_export(self, top: int | None) -> int:
        """The depth of an export: ``top`` in 1..max_export (None: max_top)."""
        top = self.config.max_top if top is None else top
        if not isinstance(top, int) or isinstance(top, bool) or top < 1 or top > self.config.max_export:
            raise QueryError(f"top must be an integer in 1..{self.config.max_export} for an export, got {top!r}")
        return top

    def bloggers_for(self, query: str, top: int | None = None, filters: Filters = Filters(),
                     popularity: Popularity | None = None, *, cutoff: Cutoff | None = None,
                     exclusions: Exclusions = Exclusions(), view: View = View(), explain_tags: int = 0,
                     export: bool = False) -> BloggerResult:
        """The result set for a theme (module docstring), one ``view`` of it; ``explain_tags`` > 0: each
        hit of the page carries that many of its most contributing tags (``why``). ``export``: ``top``
        may go up to ``search.max_export``."""
        table = self.require_bloggers()
        top = self.check_export(top) if export else self.check_top(top)
        theme = self.theme(query)
        pop = popularity or Popularity.from_config(self.config)
        return self._rank(table, theme.vector, top, filters, pop, cutoff, exclusions, view, explain_tags,
                          query=query, used=theme.tags, unknown=theme.unknown, suggestions=theme.suggestions,
                          hints=theme.hints)

    def find_blogger(self, ref: str) -> int:
        """The table row of a blogger given by id or ``@username``; NotFoundError (404) otherwise."""
        table = self.require_bloggers()
        row = table.find(ref)
        if row is None:
            text = str(ref).strip()
            like = []
            if text:
                name = text.lstrip("@").lower()
                like = sorted(u for u in table.by_username if u.startswith(name[:3]))[:5] if len(name) >= 3 else []
            raise NotFoundError(f"no blogger {ref!r} (by id or @username) with a vector in version {self.version} "
                                f"({len(table):,} bloggers)" + (f"; usernames like it: {', '.join('@' + u for u in like)}"
                                                                 if like else ""))
        return row

    def lookalikes(self, blogger_id: str, top: int | None = None, filters: Filters = Filters(),
                   popularity: Popularity | None = None, *, cutoff: Cutoff | None = None,
                   exclusions: Exclusions = Exclusions(), view: View = View(), explain_tags: int = 0,
                   export: bool = False) -> BloggerResult:
        """Bloggers like ``blogger_id`` (an id or ``@username``): their vector as the theme, never themselves."""
        table = self.require_bloggers()
        top = self.check_export(top) if export else self.check_top(top)
        row = self.find_blogger(blogger_id)
        pop = popularity or Popularity.from_config(self.config)
        return self._rank(table, table.vectors[row], top, filters, pop, cutoff, exclusions, view, explain_tags,
                          self_row=row, query=f"lookalikes of {table.ids[row]} (@{table.usernames[row]})")

    def explain_hit(self, hit: BloggerHit, query, top: int) -> BloggerHit:
        """``hit`` with its explanation (``why``) against the unit ``query`` vector."""
        table = self.require_bloggers()
        if table.profiles is None:
            raise ModelUnavailable(f"version {self.version}'s blogger vectors carry no tag profiles (written before "
                                   "explanations existed): rerun the blogger_vectors stage to explain rankings")
        why = explain(table.profiles, table.row[hit.blogger_id], query, hit.similarity, self.embeddings, top)
        return BloggerHit(**{**{k: getattr(hit, k) for k in hit.__dataclass_fields__}, "why": why.to_dict()})

    def _rank(self, table: BloggerTable, vector, top: int, filters: Filters, pop: Popularity,
              cutoff: Cutoff | None, exclusions: Exclusions, view: View, explain_tags: int,
              self_row: int | None = None, **kw) -> BloggerResult:
        import numpy as np

        if not isinstance(explain_tags, int) or isinstance(explain_tags, bool) or not 0 <= explain_tags <= 100:
            raise QueryError(f"explain must be a number of tags in 0..100, got {explain_tags!r}")
        cutoff = cutoff or Cutoff.from_config(self.config)
        rows, unknown_excluded = self._excluded_rows(table, exclusions)
        n_excluded = len(rows)
        if self_row is not None:
            rows = np.union1d(rows, [self_row])
        q = np.asarray(vector, dtype=np.float32)
        q = q / max(float(np.linalg.norm(q)), 1e-12)
        ranking = rank_bloggers(table, q, top, popularity=pop, filters=filters, config=self.config,
                                index=self.index, exclude_rows=rows, cutoff=cutoff)
        page = view.apply(ranking.hits)
        if explain_tags:
            page = [self.explain_hit(h, q, explain_tags) for h in page]
        return BloggerResult(self.version, page, ranking.method, ranking.candidates, pop, total=len(ranking.hits),
                             view=view, threshold=ranking.threshold,
                             excluded=n_excluded, unknown_excluded=unknown_excluded,
                             explained=bool(explain_tags), **kw)

    def _excluded_rows(self, table: BloggerTable, exclusions: Exclusions):
        import numpy as np

        n = len(exclusions.bloggers) + len(exclusions.tags)
        if n > self.config.max_exclusions:
            raise QueryError(f"{n} exclusions; at most {self.config.max_exclusions} (search.max_exclusions) are allowed")
        rows, unknown = [], []
        for ref in exclusions.bloggers:
            row = table.find(ref)
            if row is None:
                unknown.append(ref)
            else:
                rows.append(row)
        tag_rows = np.zeros(0, dtype=np.int64)
        if exclusions.tags:
            if table.profiles is None:
                raise ModelUnavailable(f"version {self.version}'s blogger vectors carry no tag profiles: excluding "
                                       "bloggers by tag needs them: rerun the blogger_vectors stage")
            tags = [normalize_tag(t, self.max_tag_length) for t in exclusions.tags]
            unknown += [raw for raw, t in zip(exclusions.tags, tags) if t not in self.embeddings.index]
            tag_rows = table.profiles.rows_with([t for t in tags if t])
        return np.union1d(np.asarray(rows, dtype=np.int64), tag_rows).astype(np.int64), unknown

    def describe(self) -> dict[str, Any]:
        return {"version": self.version, "tags": len(self.embeddings), "dim": self.embeddings.dim,
                "bloggers": len(self.bloggers) if self.bloggers is not None else 0,
                "index": getattr(self.index, "method", None) if self.index is not None else None,
                "max_tag_length": self.max_tag_length,
                "loaded_at": self.loaded_at}

    def require_bloggers(self) -> BloggerTable:
        """The blogger table; ModelUnavailable (503) when the version has no blogger vectors."""
        if self.bloggers is None:
            raise ModelUnavailable(f"version {self.version} has no blogger_vectors artifact: "
                                   "blogger search needs a model published with the blogger_vectors stage")
        return self.bloggers


def trained_max_tag_length(manifest: dict[str, Any]) -> int:
    """The ``normalize.max_tag_length`` a version's posts were normalised with: its manifest records
    the config of the run that made it (the normalize stage's key holds the same value, so the
    partitions it trained on were normalised with it); the default when it records none."""
    value = ((manifest.get("config") or {}).get("normalize") or {}).get("max_tag_length")
    return DEFAULT_MAX_LENGTH if value is None else int(value)

