"""The served model version: loaded whole, swapped whole.

:class:`ServedModel` is one version as the service answers from it: the query side's
:class:`~topictensor.search.model.SearchModel` (tag embeddings, blogger vectors, index) plus the
version's fixed topics, tree and map (:class:`~topictensor.service.topics_api.VersionTopics`),
all read before the version is served. :class:`ModelHolder` keeps one and replaces it by a single
reference assignment when the production pointer moves, so a request (which takes the model once,
through the :func:`current_model` dependency) never sees the blogger ranking of one version and
the topics of another.

Hot reload: at most every ``search.reload_seconds`` the holder reads the production pointer (one
small object) and, when it names another version, loads that version COMPLETELY and only then
replaces its ``current`` reference. While one request loads, concurrent requests keep being served
by the previous version. A version that fails to load is logged, reported by /health, and retried
after a minute; the old one stays.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from fastapi import Request

from topictensor.search.model import ModelUnavailable, SearchModel
from topictensor.search.params import SearchConfig
from topictensor.service.topic_map import VersionTopics

log = logging.getLogger(__name__)

RETRY_FAILED_SECONDS = 60.0


class ServedModel(SearchModel):
    """A :class:`SearchModel` with its version's topics (``topics``: None when the version has no
    clusters artifact), loaded together."""

    topics: VersionTopics | None = None

    @classmethod
    def load(cls, registry, version: str | None = None, config: SearchConfig | None = None) -> "ServedModel":
        model = super().load(registry, version, config)
        model.topics = VersionTopics.load(registry, model.version, model.embeddings)
        return model

    @classmethod
    def serving(cls, model: SearchModel, registry) -> "ServedModel":
        """An already loaded ``model`` (benchmarks, embedding), with its version's topics when the
        registry has that version."""
        if isinstance(model, ServedModel):
            return model
        from topictensor.registry import RegistryError

        served = cls(model.embeddings, model.bloggers, model.index, model.config, model.version,
                     max_tag_length=model.max_tag_length)
        served.loaded_at = model.loaded_at
        try:
            served.topics = VersionTopics.load(registry, model.version, model.embeddings) if model.version else None
        except RegistryError:  # not a version of this registry: no topics to serve
            served.topics = None
        return served


class NoModel(ModelUnavailable):
    """Nothing is in production (or the first load failed): HTTP 503."""


class ModelHolder:
    """One loaded model version, replaced whole when the production pointer moves."""

    def __init__(self, registry, section: SearchConfig, *, version: str | None = None,
                 reload_seconds: float | None = None,
                 loader: Callable[..., SearchModel] = ServedModel.load):
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


def current_holder(request: Request) -> ModelHolder:
    """FastAPI dependency: the app's holder (``app.state.holder``)."""
    return request.app.state.holder


def current_model(request: Request) -> SearchModel:
    """FastAPI dependency: the model version this request is answered from, taken once."""
    return request.app.state.holder.get()
