"""HTTP API over the production model version (FastAPI; schema at /openapi.json, docs at /docs).

Hot reload: every request asks :class:`ModelHolder` for the current model; at most every
``search.reload_seconds`` the holder reads the production pointer (one small object) and, when it
names another version, loads that version COMPLETELY (embeddings, blogger vectors, index) and only
then replaces its single ``current`` reference. A request holds on to the model it started with,
so it never sees half of one version and half of another, and never a half-loaded one. While one
request loads, concurrent requests keep being served by the previous version. A version that
fails to load is logged, reported by /health, and retried after a minute; the old one stays.

Errors: a bad query is a 4xx with ``{"detail": "<what to fix>"}`` -- 400 (malformed, empty, only
unknown tags, only negative weights, top out of range, bad filter), 404 (unknown blogger), 422 (a
parameter of the wrong type, or one the endpoint does not take: ``service/strict.py``), 503 (no
model in production yet, or the version has no blogger vectors).

The blogger endpoints (ranking, exports, facets, profile, lookalikes) live in
``service/bloggers_api.py``, included here as a router.

The explorer (``/``, assets under ``/static``) is a static page shipped in ``service/static/`` that
calls this same API from the browser; ``/bloggers/facets``, ``/bloggers/{id}``, ``/topics/tree`` and
``/topics/map`` exist for it (and are ordinary API endpoints like the rest).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from topictensor.config import PipelineConfig
from topictensor.search import ModelUnavailable, SearchModel
from topictensor.search.bloggers import Cutoff
from topictensor.search.params import SearchConfig
from topictensor.search.themes import NotFoundError, QueryError
from topictensor.service import bloggers_api, topic_map
from topictensor.service.strict import StrictQueryRoute

log = logging.getLogger(__name__)

RETRY_FAILED_SECONDS = 60.0
STATIC_DIR = Path(__file__).with_name("static")  # the explorer page: index.html, app.js, app.css


class NoModel(ModelUnavailable):
    """Nothing is in production (or the first load failed): HTTP 503."""


class ModelHolder:
    """One loaded :class:`SearchModel`, replaced whole when the production pointer moves."""

    def __init__(self, registry, section: SearchConfig, *, version: str | None = None,
                 reload_seconds: float | None = None,
                 loader: Callable[..., SearchModel] = SearchModel.load):
        self.registry = registry
        self.section = section
        self.pinned = version  # a fixed version: never follow the pointer
        self.reload_seconds = section.reload_seconds if reload_seconds is None else reload_seconds
        self.loader = loader
        self.current: SearchModel | None = None
        self.last_error: str | None = None
        self.production: str | None = None
        self._failed: tuple[str, float] | None = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    def get(self) -> SearchModel:
        """The model to answer this request with (checks for a new version first, cheaply)."""
        self.refresh()
        model = self.current
        if model is None:
            raise NoModel(self.last_error or f"no model is in production in {self.registry.store.uri} yet")
        return model

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and self.current is not None and now - self._checked_at < self.reload_seconds:
            return
        self._checked_at = now
        try:
            wanted = self.pinned or self.registry.production()
        except Exception as exc:  # the store is unreachable: keep serving what we have
            self.last_error = f"cannot read the production pointer: {exc}"
            log.error("%s", self.last_error)
            return
        self.production = wanted
        if wanted is None or (self.current is not None and self.current.version == wanted):
            return
        if self._failed and self._failed[0] == wanted and now - self._failed[1] < RETRY_FAILED_SECONDS:
            return
        # Only one request loads; the others keep the old model (or wait if there is none yet).
        if not self._lock.acquire(blocking=self.current is None):
            return
        try:
            if self.current is not None and self.current.version == wanted:
                return
            started = time.perf_counter()
            model = self.loader(self.registry, wanted, self.section)
            self.current = model  # the one atomic swap
            self.last_error, self._failed = None, None
            log.info("serving model version %s (loaded in %.2f s)", wanted, time.perf_counter() - started)
        except Exception as exc:
            self._failed = (wanted, now)
            self.last_error = f"version {wanted} failed to load: {type(exc).__name__}: {exc}"
            log.exception("version %s failed to load; still serving %s", wanted,
                          self.current.version if self.current else "nothing")
        finally:
            self._lock.release()


def create_app(config: PipelineConfig | None = None, *, section: SearchConfig | None = None, registry=None,
               version: str | None = None, reload_seconds: float | None = None,
               model: SearchModel | None = None) -> FastAPI:
    """The API over ``config``'s store (production version, followed as it moves; or a pinned
    ``version``). ``model``: serve this already loaded model only (benchmarks, embedding in tests)."""
    from topictensor.registry import Registry, RegistryError

    if config is None:
        from topictensor.config import load_config

        config = load_config()
    section = section or getattr(config, "search", None) or SearchConfig()
    registry = registry or Registry(config.open_store())
    holder = ModelHolder(registry, section, version=version, reload_seconds=reload_seconds)
    if model is not None:
        holder.current, holder.pinned = model, model.version

    app = FastAPI(title="TopicTensor", version=_package_version(),
                  description="Themes from weighted hashtags, bloggers ranked by relevance and popularity, "
                              "lookalikes. Query syntax: `apple, iphone:-1, macbook:-0.05`.")
    app.router.route_class = StrictQueryRoute  # an unknown query parameter is a 422 naming it
    app.state.holder = holder
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def explorer() -> FileResponse:
        """The explorer page (static/index.html): topic cloud, bloggers, lookalikes, topics browser."""
        warm_topic_map()
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html",
                            headers={"Cache-Control": "no-cache"})

    @app.exception_handler(QueryError)
    async def _query_error(request: Request, exc: QueryError) -> JSONResponse:
        status = 404 if isinstance(exc, NotFoundError) else 503 if isinstance(exc, ModelUnavailable) else 400
        return JSONResponse(status_code=status, content={"detail": str(exc)})

    @app.exception_handler(RegistryError)
    async def _registry_error(request: Request, exc: RegistryError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    @app.get("/health")
    def health() -> JSONResponse:
        """200 when a model is loaded and serving; 503 before the first version is in."""
        holder.refresh()
        model = holder.current
        body = {"status": "ok" if model else "unavailable", "version": model.version if model else None,
                "production": holder.production, "last_error": holder.last_error}
        return JSONResponse(status_code=200 if model else 503, content=body)

    @app.get("/version")
    def version_info() -> dict[str, Any]:
        """The version being served, its size, and what the production pointer says."""
        model = holder.get()
        return {**model.describe(), "production": holder.production}

    @app.get("/topic")
    def topic(q: str = Query(..., description="Tags with optional weights: `apple, iphone:-1`."),
              top: int | None = Query(None, description="How many tags (default search.default_top)."),
              include_query_tags: bool = Query(False, description="Also list the query's own tags."),
              min_relevance: float | None = Query(None, description="Leave out tags with a cosine to the theme "
                                                                     "below this (-1..1)."),
              relative_relevance: float | None = Query(None, description="...or below this share (0..1) of the "
                                                                         "nearest tag's cosine."),
              exclude_tags: str | None = Query(None, description="Tags never to list, comma-separated.")
              ) -> dict[str, Any]:
        """The tags nearest to the theme, with relevance (cosine) and popularity (count)."""
        model = holder.get()
        cutoff = Cutoff.from_config(model.config, min_relevance, relative_relevance)
        excluded = tuple(t.strip() for t in (exclude_tags or "").split(",") if t.strip())
        return model.topic(q, top, include_query_tags=include_query_tags, cutoff=cutoff,
                           exclude_tags=excluded).to_dict()

    app.include_router(bloggers_api.router(holder))  # /bloggers, exports, facets, profile, lookalikes

    topics_cache: dict[str, Any] = {}
    map_cache: dict[tuple[str, int], dict[str, Any]] = {}
    map_lock = threading.Lock()

    def served_topics():
        """Topics of the version being served (read once per version; the artifact never changes)."""
        model = holder.get()
        key = model.version or ""
        if key not in topics_cache:
            art = registry.artifact(model.version, "clusters")
            topics_cache.clear()
            topics_cache[key] = (art.read_table("topics.parquet").to_pandas(),
                                 art.read_table("members.parquet").to_pandas())
        return model.version, topics_cache[key]

    @app.get("/topics")
    def topics() -> dict[str, Any]:
        """The fixed topics of the served version: id, label, size, coherence, flags, group."""
        version, (table, _) = served_topics()
        rows = [{"topic_id": int(r.topic_id), "label": r.label, "size": int(r.size),
                 "coherence": float(r.coherence), "flags": list(r.flags), "group": int(r.parent_group)}
                for r in table.itertuples()]
        return {"version": version, "topics": rows}

    @app.get("/topics/tree")
    def topics_tree() -> dict[str, Any]:
        """The two-level topic tree of the served version: broad groups, each with its topics."""
        model = holder.get()
        tree = registry.artifact(model.version, "clusters").read_json("tree.json")
        return {"version": model.version, "groups": tree.get("groups", [])}

    def topic_map_of(limit: int = topic_map.DEFAULT_LIMIT) -> dict[str, Any]:
        """The served version's map, laid out once (one layout at a time: a second request of the
        same version waits for the first and finds it cached)."""
        version, (table, members) = served_topics()
        key = (version or "", limit)
        with map_lock:
            if key not in map_cache:
                started = time.perf_counter()
                layout = topic_map.build_topic_map(holder.get().embeddings, members, limit)
                map_cache.clear()
                map_cache[key] = {"version": version, **layout.to_dict(table),
                                  "seconds": round(time.perf_counter() - started, 3)}
                log.info("topic map of version %s: %d tags in %.1f s", version, len(layout.tags),
                         time.perf_counter() - started)
            return map_cache[key]

    def warm_topic_map() -> None:
        """Lay the map out in the background (the explorer was opened: the Topics tab may follow)."""
        model = holder.current
        if model is None or (model.version or "", topic_map.DEFAULT_LIMIT) in map_cache or map_lock.locked():
            return

        def work() -> None:
            try:
                topic_map_of()
            except Exception as exc:  # no clusters in this version, say: /topics/map will tell the user
                log.info("no topic map for version %s: %s", model.version, exc)

        threading.Thread(target=work, name="topic-map", daemon=True).start()

    @app.get("/topics/map")
    def topics_map(limit: int = Query(topic_map.DEFAULT_LIMIT, ge=1, le=topic_map.MAX_LIMIT,
                                      description="At most this many tags, the most used.")) -> dict[str, Any]:
        """2-D positions of the most used tags with their topic (t-SNE, computed once per version)."""
        return topic_map_of(limit)

    @app.get("/topics/{topic_id}")
    def topic_detail(topic_id: int, top: int = Query(50, ge=1, le=10_000)) -> dict[str, Any]:
        """One topic and its member tags, strongest first (soft members flagged)."""
        version, (table, members) = served_topics()
        match = table[table["topic_id"] == topic_id]
        if match.empty:
            raise NotFoundError(f"no topic {topic_id} in version {version} (ids: {sorted(table['topic_id'].tolist())[:20]})")
        row = match.iloc[0]
        tags = members[members["topic_id"] == topic_id].sort_values("strength", ascending=False).head(top)
        emb = holder.get().embeddings

        def count(tag: str) -> int:
            i = emb.index.get(tag)
            return int(emb.counts[i]) if i is not None else 0

        return {"version": version, "topic_id": topic_id, "label": row["label"], "size": int(row["size"]),
                "coherence": float(row["coherence"]), "flags": list(row["flags"]),
                "tags": [{"tag": t.tag, "strength": float(t.strength), "soft": bool(t.soft), "count": count(t.tag)}
                         for t in tags.itertuples()]}

    @app.get("/tags/suggest")
    def suggest(prefix: str = Query("", description="Start of a tag (normalised like tags)."),
                limit: int = Query(10, description="How many suggestions.")) -> dict[str, Any]:
        """Autocomplete: the most used tags starting with ``prefix``."""
        model = holder.get()
        return {"version": model.version, "prefix": prefix,
                "tags": [{"tag": h.tag, "count": h.count} for h in model.suggest(prefix, limit)]}

    return app


def _package_version() -> str:
    from topictensor import __version__

    return __version__
