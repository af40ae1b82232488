"""Model versions and the production pointer.

- ``versions/<version>.json``: one model version: its stage artifact keys, metrics, counts, config.
  A version id is a hash of its artifact keys, so publishing the same artifacts twice is a no-op.
- ``production.json``: which version is served. Moved only by compare-and-swap, so two operators
  (or a run and an operator) can never interleave into a state neither of them chose.
- ``history/<time>-<id>.json``: every promotion and rollback, appended, never rewritten.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from topictensor.errors import ArtifactNotFound, NotFound, TopicTensorError
from topictensor.store import Store

POINTER = "production.json"


class RegistryError(TopicTensorError):
    """A promote or rollback that cannot be done (unknown version, nothing to roll back to)."""


class VersionNotFound(RegistryError, NotFound):
    """The named version (or production, or a version's artifact of a stage) does not exist."""


def version_id(stage_keys: dict[str, Any]) -> str:
    blob = json.dumps(stage_keys, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def current_user() -> str:
    try:
        return os.environ.get("TOPICTENSOR_USER") or getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


@dataclass
class Registry:
    store: Store

    # versions -------------------------------------------------------------------------------
    def write_version(self, manifest: dict[str, Any]) -> tuple[str, bool]:
        """Record a version (idempotent). Returns (version id, created now?)."""
        vid = manifest["version"]
        key = f"versions/{vid}.json"
        if self.store.exists(key):
            return vid, False
        self.store.write_text(key, json.dumps(manifest, indent=2, sort_keys=True, default=str))
        return vid, True

    def get_version(self, vid: str) -> dict[str, Any]:
        try:
            return json.loads(self.store.read_text(f"versions/{vid}.json"))
        except ArtifactNotFound:
            known = ", ".join(v["version"] for v in self.list_versions()[-5:]) or "none"
            raise VersionNotFound(f"no model version {vid!r} in {self.store.uri} (latest: {known})") from None

    def list_versions(self) -> list[dict[str, Any]]:
        """All versions, oldest first."""
        out = [json.loads(self.store.read_text(key)) for key in self.store.list("versions") if key.endswith(".json")]
        return sorted(out, key=lambda m: m.get("created_at", ""))

    def artifact(self, vid: str | None, stage: str):
        """The artifact of ``stage`` in version ``vid`` (None: production)."""
        from topictensor.artifacts import Artifact, ArtifactRef

        vid = vid or self.production()
        if vid is None:
            raise VersionNotFound(f"no model is in production in {self.store.uri}; run the pipeline first")
        refs = self.get_version(vid)["stages"].get(stage)
        if not refs:
            raise VersionNotFound(f"version {vid} has no {stage!r} artifact")
        return Artifact(self.store, ArtifactRef(stage=refs[0]["stage"], key=refs[0]["key"]))

    # pointer --------------------------------------------------------------------------------
    def production(self) -> str | None:
        data, _ = self.store.read_versioned(POINTER)
        return json.loads(data)["version"] if data else None

    def production_manifest(self) -> dict[str, Any] | None:
        vid = self.production()
        return self.get_version(vid) if vid else None

    def promote(self, vid: str, *, by: str | None = None, reason: str = "", action: str = "promote",
                expected: str | None | object = ...) -> dict[str, Any]:
        """Point production at ``vid`` atomically. ``expected`` (optional) = the version the caller
        believes is in production; the move fails if it changed meanwhile."""
        self.get_version(vid)  # must exist
        for _ in range(10):
            data, token = self.store.read_versioned(POINTER)
            current = json.loads(data)["version"] if data else None
            if expected is not ... and current != expected:
                raise RegistryError(f"production moved to {current!r} meanwhile (expected {expected!r}); nothing changed")
            event = {
                "action": action,
                "version": vid,
                "previous": current,
                "by": by or current_user(),
                "reason": reason,
                "at": datetime.now(timezone.utc).isoformat(),
            }
            if current == vid:
                return {**event, "changed": False}
            if self.store.write_if_match(POINTER, json.dumps(event, indent=2).encode(), token):
                self._append_history(event)
                return {**event, "changed": True}
        raise RegistryError("could not move the production pointer: it kept changing under us")

    def rollback(self, *, to: str | None = None, by: str | None = None, reason: str = "",
                 expected: str | None | object = ...) -> dict[str, Any]:
        """Go back to ``to``, or to the version that was in production before the current one.
        ``expected`` (optional) = the production version the caller saw when choosing to roll back."""
        current = self.production()
        if expected is not ... and current != expected:
            raise RegistryError(f"production moved to {current!r} meanwhile (expected {expected!r}); nothing changed")
        if current is None:
            raise RegistryError("nothing is in production: there is nothing to roll back")
        if to is None:
            to = self.rollback_target()
            if to is None:
                raise RegistryError(f"production {current} has no earlier version to roll back to")
        return self.promote(to, by=by, reason=reason or f"rollback from {current}", action="rollback",
                            expected=current)

    def rollback_target(self) -> str | None:
        """The version a plain ``rollback()`` would go to now (None: there is none), so a UI can
        say where a rollback leads before anyone confirms it."""
        stack = self._promotion_stack()
        if len(stack) < 2 or stack[-1] != self.production():
            return None
        return stack[-2]

    def _promotion_stack(self) -> list[str]:
        """Versions promoted and not rolled back, oldest first: rollback pops, so repeated
        rollbacks walk further back instead of bouncing between the last two versions."""
        stack: list[str] = []
        for event in self.history():
            vid = event["version"]
            if event["action"] == "rollback":
                while stack and stack[-1] != vid:
                    stack.pop()
                if not stack:
                    stack.append(vid)
            elif not stack or stack[-1] != vid:
                stack.append(vid)
        return stack

    def history(self) -> list[dict[str, Any]]:
        keys = [k for k in self.store.list("history") if k.endswith(".json")]
        return [json.loads(self.store.read_text(k)) for k in sorted(keys)]

    def _append_history(self, event: dict[str, Any]) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        self.store.write_text(f"history/{stamp}-{uuid.uuid4().hex[:8]}.json", json.dumps(event, indent=2))
