"""The versions view as a FastAPI app that Airflow's API server mounts (plugin ``fastapi_apps``).

Authentication and authorisation are Airflow's own: every route depends on
``airflow.api_fastapi.core_api.security.requires_access_dag`` for the DAG that publishes the
versions, so the user is whoever Airflow's auth manager says holds the JWT (the UI's ``_token``
cookie or an ``Authorization: Bearer`` header), and:

- reading needs read access to the DAG (``GET``);
- promoting and rolling back need edit access to it (``PUT``): with the SimpleAuthManager, the
  roles User, Op and Admin, not Viewer.

Writes are POST only, behind a confirmation page, and refused when the request comes from another
origin (the cookie is already SameSite=Lax; this is the second lock). They call the same
``Registry.promote`` / ``Registry.rollback`` as ``topictensor versions promote|rollback``, with
the Airflow user name as ``by`` so the history says who did it, and with the production version the
user saw as ``expected``, so a pointer that moved meanwhile is never overridden.
"""

from __future__ import annotations

from html import escape
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlparse

from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from topictensor.config import load_config
from topictensor.errors import TopicTensorError
from topictensor.registry import InvalidVersionId, Registry, check_version_id
from topictensor_versions import DAG_ID, UI_ROUTE, URL_PREFIX, catalog, pages

CanRead = Depends(requires_access_dag(method="GET", param_dag_id=DAG_ID))
CanEdit = Depends(requires_access_dag(method="PUT", param_dag_id=DAG_ID))


def open_registry() -> tuple[Registry, Any]:
    """The registry of the store named by topictensor's config (``TOPICTENSOR_CONFIG`` or
    ./topictensor.yaml), read again on every request so a changed config needs no restart."""
    config = load_config()
    return Registry(config.open_store()), config


def may_edit(user: Any) -> bool:
    from airflow.models.dag import DagModel

    details = DagDetails(id=DAG_ID, team_name=DagModel.get_team_name(DAG_ID))
    return get_auth_manager().is_authorized_dag(method="PUT", details=details, user=user)


def same_origin(request: Request) -> None:
    """Refuse a write whose browser says it was sent from another site's page (CSRF)."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if source and source != "null" and urlparse(source).netloc != request.headers.get("host"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"cross-origin write refused (from {source})")


def valid_id(value: str | None, field: str) -> str | None:
    """A version id from the request, checked against the registry's format before anything
    reads the store with it (400 naming the field otherwise). Empty = not given."""
    if not value:
        return None
    try:
        return check_version_id(value)
    except InvalidVersionId as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"{field}: {exc}") from None


def _paths(request: Request) -> tuple[str, str]:
    """(this app's prefix, the Airflow UI's root) as the browser sees them."""
    base = request.scope.get("root_path", "").rstrip("/")
    airflow_root = base.removesuffix(URL_PREFIX) + "/" if base.endswith(URL_PREFIX) else "/"
    return base, airflow_root


def _context(request: Request, user: Any, config: Any) -> pages.PageContext:
    base, airflow_root = _paths(request)
    can_edit = may_edit(user)
    role = getattr(user, "role", None)
    note = (f"role {role}: " if role else "") + (
        f"may edit the DAG {DAG_ID}, so may promote and roll back" if can_edit
        else f"may not edit the DAG {DAG_ID}, so may not promote or roll back")
    return pages.PageContext(base=base, airflow_root=airflow_root, user=user.get_name(), role_note=note,
                             can_edit=can_edit, store_uri=config.store.uri, dag_id=DAG_ID)


def create_app() -> FastAPI:
    app = FastAPI(title="TopicTensor model versions", docs_url=None, redoc_url=None, openapi_url="/openapi.json")

    @app.exception_handler(HTTPException)
    async def browser_friendly_errors(request: Request, exc: HTTPException) -> Response:
        """A browser gets the login page (401) or a readable page (403); API clients get JSON."""
        if "text/html" not in request.headers.get("accept", ""):
            return await http_exception_handler(request, exc)
        base, airflow_root = _paths(request)
        if exc.status_code == status.HTTP_401_UNAUTHORIZED:
            login = get_auth_manager().get_url_login(next_url=f"{airflow_root}plugin/{UI_ROUTE}")
            return RedirectResponse(airflow_root.rstrip("/") + login, status_code=status.HTTP_303_SEE_OTHER)
        text = (f"You may not do this: it needs edit access to the DAG {DAG_ID}."
                if exc.status_code == status.HTTP_403_FORBIDDEN else str(exc.detail))
        return HTMLResponse(f'<!doctype html><meta charset="utf-8"><style>{pages.STYLE}</style>'
                            f'<div class="flash error" id="flash">{escape(text)} ({exc.status_code})</div>'
                            f'<p><a href="{escape(base)}/">Back to the versions</a></p>',
                            status_code=exc.status_code)

    @app.exception_handler(TopicTensorError)
    async def store_errors(request: Request, exc: TopicTensorError) -> Response:
        """A broken config or an unreadable store: say which, instead of a bare 500."""
        text = f"The model registry could not be read: {exc}"
        if "text/html" not in request.headers.get("accept", ""):
            return JSONResponse({"detail": text}, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)
        return HTMLResponse(f'<!doctype html><meta charset="utf-8"><style>{pages.STYLE}</style>'
                            f'<div class="flash error" id="flash">{escape(text)}</div>',
                            status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)

    @app.get("/", response_class=HTMLResponse, dependencies=[CanRead])
    def versions(request: Request, user: GetUserDep, event: str | None = None,
                 unchanged: str | None = None) -> HTMLResponse:
        registry, config = open_registry()
        history = registry.history()
        flash = f"{unchanged} was already in production; nothing changed." if unchanged else ""
        done = next((e for e in reversed(history) if event and e.get("at") == event), None)
        if done:
            flash = (f"{'Promoted' if done['action'] == 'promote' else 'Rolled back to'} {done['version']} "
                     f"(production was {done['previous'] or 'none'}); recorded as done by {done['by']}.")
        return HTMLResponse(pages.versions_page(
            _context(request, user, config), catalog.version_rows(registry), history,
            rollback_target=registry.rollback_target(), floor=config.gate.min_quality, flash=flash))

    @app.get("/history", response_class=HTMLResponse, dependencies=[CanRead])
    def history(request: Request, user: GetUserDep) -> HTMLResponse:
        registry, config = open_registry()
        return HTMLResponse(pages.history_page(_context(request, user, config), registry.history()))

    @app.get("/diff", response_class=HTMLResponse, dependencies=[CanRead])
    def diff(request: Request, user: GetUserDep, a: str | None = None, b: str | None = None) -> HTMLResponse:
        a, b = valid_id(a, "a"), valid_id(b, "b")
        registry, config = open_registry()
        rows = catalog.version_rows(registry)
        pair = (a, b) if a and b else catalog.default_pair(rows)
        result, error = None, ""
        if pair:
            try:
                result = catalog.version_diff(registry, *pair)
            except TopicTensorError as exc:
                error = str(exc)
        return HTMLResponse(pages.diff_page(_context(request, user, config), rows, result, error),
                            status_code=404 if error else 200)

    @app.get("/versions/{version}/promote", response_class=HTMLResponse, dependencies=[CanEdit])
    def confirm_promote(request: Request, user: GetUserDep, version: str) -> HTMLResponse:
        valid_id(version, "version")
        registry, config = open_registry()
        ctx = _context(request, user, config)
        rows = {r.version: r for r in catalog.version_rows(registry)}
        if version not in rows:
            return HTMLResponse(pages.message_page(ctx, "Unknown version", f"There is no model version {version!r}."),
                                status_code=404)
        current = next((r for r in rows.values() if r.is_production), None)
        return HTMLResponse(pages.confirm_page(
            ctx, action="promote", target=rows[version], current=current,
            diff=_diff_or_none(registry, current.version, version) if current else None,
            post_url=f"{ctx.base}/versions/{quote(version)}/promote"))

    @app.post("/versions/{version}/promote", dependencies=[CanEdit, Depends(same_origin)])
    def promote(request: Request, user: GetUserDep, version: str,
                expected: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "") -> Response:
        valid_id(version, "version"), valid_id(expected, "expected")
        registry, _ = open_registry()
        try:
            event = registry.promote(version, by=user.get_name(), reason=reason.strip() or "promoted in Airflow",
                                     expected=expected or None)
        except TopicTensorError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        return _after_write(request, event)

    @app.get("/rollback", response_class=HTMLResponse, dependencies=[CanEdit])
    def confirm_rollback(request: Request, user: GetUserDep) -> HTMLResponse:
        registry, config = open_registry()
        ctx = _context(request, user, config)
        target = registry.rollback_target()
        rows = {r.version: r for r in catalog.version_rows(registry)}
        current = next((r for r in rows.values() if r.is_production), None)
        if target is None or current is None:
            return HTMLResponse(pages.message_page(ctx, "Nothing to roll back to",
                                                   "Production has no earlier promoted version to roll back to."),
                                status_code=409)
        return HTMLResponse(pages.confirm_page(ctx, action="rollback", target=rows[target], current=current,
                                               diff=_diff_or_none(registry, current.version, target),
                                               post_url=f"{ctx.base}/rollback"))

    @app.post("/rollback", dependencies=[CanEdit, Depends(same_origin)])
    def rollback(request: Request, user: GetUserDep, expected: Annotated[str, Form()] = "",
                 version: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "") -> Response:
        """Rolls back to the version the confirmation page showed (``version``) from the one it
        showed in production (``expected``); without them, like ``topictensor versions rollback``."""
        valid_id(version, "version"), valid_id(expected, "expected")
        registry, _ = open_registry()
        try:
            event = registry.rollback(to=version or None, by=user.get_name(), reason=reason.strip(),
                                      **({"expected": expected} if expected else {}))
        except TopicTensorError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        return _after_write(request, event)

    @app.get("/api/versions", dependencies=[CanRead])
    def api_versions() -> dict[str, Any]:
        registry, _ = open_registry()
        return {"production": registry.production(),
                "rollback_target": registry.rollback_target(),
                "versions": [dict(vars(r), from_airflow=r.from_airflow) for r in catalog.version_rows(registry)]}

    @app.get("/api/diff", dependencies=[CanRead])
    def api_diff(a: Annotated[str, Query()], b: Annotated[str, Query()]) -> dict[str, Any]:
        valid_id(a, "a"), valid_id(b, "b")
        registry, _ = open_registry()
        try:
            result = catalog.version_diff(registry, a, b)
        except TopicTensorError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        return {**vars(result), "added": [vars(t) for t in result.added], "dropped": [vars(t) for t in result.dropped],
                "topics": [vars(t) for t in result.topics]}

    @app.get("/api/history", dependencies=[CanRead])
    def api_history() -> list[dict[str, Any]]:
        return open_registry()[0].history()

    return app


def _diff_or_none(registry: Registry, a: str, b: str) -> catalog.VersionDiff | None:
    try:
        return catalog.version_diff(registry, a, b)
    except TopicTensorError:
        return None  # a version whose artifacts were removed can still be promoted back


def _after_write(request: Request, event: dict[str, Any]) -> Response:
    """Browsers go back to the list (POST-redirect-GET) showing the recorded event; API clients get it as JSON."""
    if "text/html" in request.headers.get("accept", ""):
        base, _ = _paths(request)
        query = {"event": event["at"]} if event["changed"] else {"unchanged": event["version"]}
        return RedirectResponse(f"{base}/?{urlencode(query)}", status_code=status.HTTP_303_SEE_OTHER)
    return JSONResponse(event)
