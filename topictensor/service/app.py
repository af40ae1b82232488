"""HTTP API over the production model version (FastAPI; schema at /openapi.json, docs at /docs:
Swagger UI served from this server, its files from the ``fastapi-offline`` package, so the docs
work on a machine without internet access. There is no /redoc: ReDoc's page loads a logo from its
vendor's CDN whatever its options, so it cannot be served offline as it is).

One loaded version at a time (``service/holder.py``): :class:`ModelHolder` holds a
:class:`ServedModel` -- tag embeddings, blogger vectors, index, and the version's topics, tree and
map -- loaded completely before it replaces the previous one in a single assignment; every
endpoint takes the request's model once through the ``current_model`` dependency, so no answer
mixes two versions. The pointer is read at most every ``search.reload_seconds``.

Errors: a bad query is a 4xx with ``{"detail": "<what to fix>"}`` -- 400 (malformed, empty, only
unknown tags, only negative weights, top out of range, bad filter), 404 (unknown blogger), 422 (a
parameter of the wrong type, or one the endpoint does not take: ``service/strict.py``), 503 (no
model in production yet, or the version has no blogger vectors).

The endpoints live in routers, one module each, included here: ``service/query_api.py`` (health,
version, /topic, /tags/suggest), ``service/bloggers_api.py`` (ranking, exports, facets, profile,
lookalikes), ``service/topics_api.py`` (/topics, tree, map, one topic).

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

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from topictensor.config import PipelineConfig
from topictensor.search.model import ModelUnavailable, SearchModel
from topictensor.search.params import SearchConfig
from topictensor.search.themes import NotFoundError, QueryError
from topictensor.service import bloggers_api, query_api, topics_api
from topictensor.service.holder import ModelHolder, ServedModel  # noqa: F401 (re-exported)
from topictensor.service.strict import StrictQueryRoute

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
        holder.current, holder.pinned = ServedModel.serving(model, registry), model.version

    app = FastAPI(title="TopicTensor", version=_package_version(),
                  description="Themes from weighted hashtags, bloggers ranked by relevance and popularity, "
                              "lookalikes. Query syntax: `apple, iphone:-1, macbook:-0.05`.",
                  docs_url=None, redoc_url=None)  # served below from local files, not a CDN
    app.router.route_class = StrictQueryRoute  # an unknown query parameter is a 422 naming it
    app.state.holder = holder
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _offline_docs(app)
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(QueryError, _query_error)
    app.add_exception_handler(RegistryError, _registry_error)
    app.add_api_route("/", explorer, methods=["GET"], include_in_schema=False)
    app.include_router(query_api.router)  # /health, /version, /topic, /tags/suggest
    app.include_router(bloggers_api.router)  # /bloggers, exports, facets, profile, lookalikes
    app.include_router(topics_api.router)  # /topics, /topics/tree, /topics/map, /topics/{id}
    return app


def explorer(request: Request) -> FileResponse:
    """The explorer page (static/index.html): topic cloud, bloggers, lookalikes, topics browser."""
    model = request.app.state.holder.current
    if model is not None and model.topics is not None:
        model.topics.warm_map()  # an old version's map is laid out in the background
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})


async def _query_error(request: Request, exc: QueryError) -> JSONResponse:
    status = 404 if isinstance(exc, NotFoundError) else 503 if isinstance(exc, ModelUnavailable) else 400
    return JSONResponse(status_code=status, content={"detail": str(exc)})


async def _registry_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=503, content={"detail": str(exc)})


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
