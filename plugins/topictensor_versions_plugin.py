"""Airflow plugin: the TopicTensor model-versions view, mounted in Airflow's API server at
``/topictensor/`` and shown in the Airflow UI's navigation (Browse > Model versions) at
``/plugin/topictensor-versions``.

The FastAPI app is built on its first request, not at import: Airflow also loads plugins in every
task process (for macros), and those should not pay for importing the API server's security code.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

from airflow.plugins_manager import AirflowPlugin

# The API server puts the plugins folder on sys.path, but a task process loading plugins for
# macros may not: make the package next to this file importable everywhere.
if str(Path(__file__).resolve().parent) not in {str(Path(p).resolve()) for p in sys.path if p}:
    sys.path.append(str(Path(__file__).resolve().parent))

from topictensor_versions import UI_ROUTE, URL_PREFIX  # noqa: E402  (the package's __init__ imports nothing)


class LazyVersionsApp:
    """An ASGI app that builds ``topictensor_versions.app.create_app()`` when first called."""

    def __init__(self) -> None:
        self._app: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    from topictensor_versions.app import create_app

                    self._app = create_app()
        return self._app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        await self.get()(scope, receive, send)


versions_app = LazyVersionsApp()


class TopicTensorVersionsPlugin(AirflowPlugin):
    name = "topictensor_versions"
    fastapi_apps = [{"app": versions_app, "url_prefix": URL_PREFIX, "name": "TopicTensor model versions"}]
    external_views = [{
        "name": "Model versions",
        "href": f"{URL_PREFIX}/",
        "url_route": UI_ROUTE,
        "destination": "nav",
        "category": "browse",
    }]
