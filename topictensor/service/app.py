"""HTTP API over the production model version (FastAPI; schema at /openapi.json, docs at /docs:
Swagger UI served from this server, its files from the ``fastapi-offline`` package, so the docs
work on a machine without internet access. There is no /redoc: ReDoc's page loads a logo from its
vendor's CDN whatever its options, so it cannot be served offline as it is).

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

Security headers (``SecurityHeaders``): every response carries ``X-Content-Type-Options: nosniff``
and a Content-Security-Policy: the explorer's (``EXPLORER_CSP``) allows scripts, styles, images
and requests from this server only (no inline script, no inline style attribute; the page sets
styles through the CSSOM, which a CSP does not restrict); the docs page's, which needs the inline
script that starts Swagger UI (``DOCS_CSP``); the JSON API's, which allows nothing to
load (``API_CSP``). None of them may be framed by another site.
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
DOCS_ASSETS_URL = "/docs-assets"  # Swagger UI's files, served from this server

EXPLORER_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
                "form-action 'self'; frame-ancestors 'none'")
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
API_CSP = "default-src 'none'; frame-ancestors 'none'"


class SecurityHeaders:
    """ASGI middleware adding ``nosniff`` and the path's Content-Security-Policy to every response
    (plain ASGI: no per-request task or body buffering, unlike ``@app.middleware``)."""

    def __init__(self, app):
        self.app = app

    @staticmethod
    def policy(path: str) -> str:
        if path == "/" or path.startswith("/static/"):
            return EXPLORER_CSP
        if path == "/docs" or path.startswith(DOCS_ASSETS_URL + "/"):
            return DOCS_CSP
        return API_CSP

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        policy = self.policy(scope.get("path", "")).encode()

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in (b"x-content-type-options", b"content-security-policy")]
                headers += [(b"x-content-type-options", b"nosniff"), (b"content-security-policy", policy)]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


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
        self.refused: dict[str, str] | None = None  # the version that failed to load, and why
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
            self.last_error, self._failed, self.refused = None, None, None
            log.info("serving model version %s (loaded in %.2f s)", wanted, time.perf_counter() - started)
        except Exception as exc:
            self._failed = (wanted, now)
            self.last_error = f"version {wanted} failed to load: {type(exc).__name__}: {exc}"
            self.refused = {"version": wanted, "error": f"{type(exc).__name__}: {exc}"}
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
    section = section or config.search
    registry = registry or Registry(config.open_store())
    holder = ModelHolder(registry, section, version=version, reload_seconds=reload_seconds)
    if model is not None:
        holder.current, holder.pinned = model, model.version

    app = FastAPI(title="TopicTensor", version=_package_version(),
                  description="Themes from weighted hashtags, bloggers ranked by relevance and popularity, "
                              "lookalikes. Query syntax: `apple, iphone:-1, macbook:-0.05`.",
                  docs_url=None, redoc_url=None)  # served below from local files, not a CDN
    app.router.route_class = StrictQueryRoute  # an unknown query parameter is a 422 naming it
    app.state.holder = holder
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _offline_docs(app)
    app.add_middleware(SecurityHeaders)

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
        """200 when a model is loaded and serving; 503 before the first version is in. ``refused``:
        the version the pointer names that could not be loaded (say, a file that does not match
        its manifest) and why; the one in ``version`` is still served."""
        holder.refresh()
        model = holder.current
        body = {"status": "ok" if model else "unavailable", "version": model.version if model else None,
                "production": holder.production, "last_error": holder.last_error, "refused": holder.refused}
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
    map_cache: dict[str, tuple[topic_map.TopicMap, dict[str, Any]]] = {}
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
    def topics(include_generic: bool = Query(False, description="Also list topics flagged 'generic' "
                                             "(made of topic-free tags; not in the tree).")) -> dict[str, Any]:
        """The fixed topics of the served version: id, label, size, coherence, flags, group."""
        version, (table, _) = served_topics()
        rows = [{"topic_id": int(r.topic_id), "label": r.label, "size": int(r.size),
                 "coherence": float(r.coherence), "flags": list(r.flags), "group": int(r.parent_group)}
                for r in table.itertuples() if include_generic or "generic" not in list(r.flags)]
        return {"version": version, "topics": rows}

    @app.get("/topics/tree")
    def topics_tree() -> dict[str, Any]:
        """The two-level topic tree of the served version: broad groups, each with its topics."""
        model = holder.get()
        tree = registry.artifact(model.version, "clusters").read_json("tree.json")
        return {"version": model.version, "groups": tree.get("groups", [])}

    def version_map() -> tuple[str | None, Any, topic_map.TopicMap, dict[str, Any]]:
        """The served version's map: the one the clusters stage laid out (read once per version),
        or, for a version made before the stage stored one, laid out here once per version at the
        stage's size (one layout at a time: a second request waits and finds it cached)."""
        version, (table, members) = served_topics()
        key = version or ""
        with map_lock:
            if key not in map_cache:
                started = time.perf_counter()
                stored = topic_map.stored_topic_map(registry.artifact(version, "clusters"))
                if stored is not None:
                    layout, source = stored, "clusters artifact"
                else:
                    from topictensor.topics.params import TopicsConfig

                    cfg = TopicsConfig()
                    layout = topic_map.build_topic_map(holder.get().embeddings, members, cfg.explorer_map_tags,
                                                       cfg.seed)
                    source = "laid out by the service (the version's clusters artifact has no map)"
                    log.info("topic map of version %s: %d tags laid out in %.1f s", version, len(layout.tags),
                             time.perf_counter() - started)
                map_cache.clear()
                map_cache[key] = (layout, {"source": source, "seconds": round(time.perf_counter() - started, 3)})
            layout, facts = map_cache[key]
        return version, table, layout, facts

    def topic_map_of(limit: int = topic_map.DEFAULT_LIMIT) -> dict[str, Any]:
        version, table, layout, facts = version_map()
        return {"version": version, **layout.most_used(limit).to_dict(table), **facts}

    def warm_topic_map() -> None:
        """Read (or, for an old version, lay out) the map in the background: the explorer was opened."""
        model = holder.current
        if model is None or (model.version or "") in map_cache or map_lock.locked():
            return

        def work() -> None:
            try:
                version_map()
            except Exception as exc:  # no clusters in this version, say: /topics/map will tell the user
                log.info("no topic map for version %s: %s", model.version, exc)

        threading.Thread(target=work, name="topic-map", daemon=True).start()

    @app.get("/topics/map")
    def topics_map(limit: int = Query(topic_map.DEFAULT_LIMIT, ge=1, le=topic_map.MAX_LIMIT,
                                      description="At most this many tags, the most used.")) -> dict[str, Any]:
        """2-D positions of the most used tags with their topic (t-SNE, laid out once per version by the
        clusters stage; ``limit`` picks the most used tags of that one layout)."""
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


def _offline_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) with its files served from this server (``fastapi-offline`` ships them),
    so the API's docs need no internet access."""
    import fastapi_offline
    from fastapi.openapi.docs import get_swagger_ui_html

    assets = Path(fastapi_offline.__file__).with_name("static")
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request):
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None})  # no badge fetched from the online validator


def _package_version() -> str:
    from topictensor import __version__

    return __version__
