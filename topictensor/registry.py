"""Model versions and the production pointer.

- ``versions/<version>.json``: one model version: its stage artifact keys, metrics, counts, config.
  A version id is a hash of its artifact keys, so publishing the same artifacts twice is a no-op.
- ``production.json``: which version is served. Moved only by compare-and-swap, so two operators
  (or a run and an operator) can never interleave into a state neither of them chose.
- ``history/<time>-<id>.json``: every promotion and rollback, appended, never rewritten.

The pointer and its history agree even when a process dies between the two writes: the pointer
object *is* the event that moved it (action, version, previous, by, reason, at), and its history
key is derived from that content, so the pointer doubles as the intent record. Every command that
reads the history, promotes or rolls back first checks that the pointer's event is in the
history and appends it if it is not (``complete_history``); two processes doing so at once write
the same key with the same bytes. The pointer is moved first (compare-and-swap decides who
wins), the history second: a history event whose pointer move lost a race never exists.

Version ids are checked against ``VERSION_ID_FORMAT`` wherever they enter (``check_version_id``):
the registry mints 12 hex digits; letters, digits, ``-`` and ``_`` (up to 64, starting with a letter or
digit) are accepted for versions written by hand or imported, and nothing that could name another
key (``/``, ``.``, ``..``) is.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from topictensor.errors import ArtifactNotFound, NotFound, StoreError, TopicTensorError
from topictensor.store import Store

log = logging.getLogger(__name__)

POINTER = "production.json"
VERSION_ID_FORMAT = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
_VERSION_ID = re.compile(VERSION_ID_FORMAT)


class RegistryError(TopicTensorError):
    """A promote or rollback that cannot be done (unknown version, nothing to roll back to)."""


class VersionNotFound(RegistryError, NotFound):
    """The named version (or production, or a version's artifact of a stage) does not exist."""


class InvalidVersionId(RegistryError):
    """A version id that does not have the registry's format (say ``../production``)."""


class DamagedPointer(RegistryError):
    """``production.json`` is not a pointer (invalid JSON, not an object, no valid ``version``)."""


def check_version_id(vid: Any) -> str:
    """``vid`` if it has the registry's id format, else :class:`InvalidVersionId`."""
    if not isinstance(vid, str) or not _VERSION_ID.fullmatch(vid):
        raise InvalidVersionId(
            f"invalid model version id {vid!r}: ids are letters, digits, '-' and '_' (1-64, starting with a "
            f"letter or digit; the pipeline's are 12 hex digits such as 'a1b2c3d4e5f6')"
        )
    return vid


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
        vid = check_version_id(manifest.get("version"))
        key = f"versions/{vid}.json"
        if self.store.exists(key):
            return vid, False
        self.store.write_text(key, json.dumps(manifest, indent=2, sort_keys=True, default=str))
        return vid, True

    def get_version(self, vid: str) -> dict[str, Any]:
        check_version_id(vid)
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

        vid = self.production() if vid is None else check_version_id(vid)
        if vid is None:
            raise VersionNotFound(f"no model is in production in {self.store.uri}; run the pipeline first")
        refs = self.get_version(vid)["stages"].get(stage)
        if not refs:
            raise VersionNotFound(f"version {vid} has no {stage!r} artifact")
        return Artifact(self.store, ArtifactRef(stage=refs[0]["stage"], key=refs[0]["key"]))

    def verify(self, vid: str | None = None, *, hashes: bool = True) -> list[dict[str, Any]]:
        """Every artifact of version ``vid`` (None: production) checked against its manifest: one
        row per artifact with its stage, key, file count and problems (empty = it matches)."""
        from topictensor.artifacts import Artifact, ArtifactRef

        vid = self.production() if vid is None else check_version_id(vid)
        if vid is None:
            raise VersionNotFound(f"no model is in production in {self.store.uri}; name a version to verify")
        rows = []
        for stage, refs in sorted(self.get_version(vid).get("stages", {}).items()):
            for ref in refs or []:
                row = {"version": vid, "stage": stage, "key": ref["key"], "files": 0, "problems": []}
                try:
                    art = Artifact(self.store, ArtifactRef(stage=ref["stage"], key=ref["key"]))
                    row["files"] = len(art.files)
                    row["problems"] = art.problems(hashes=hashes)
                except StoreError as exc:  # no manifest, an unreadable one
                    row["problems"] = [str(exc)]
                rows.append(row)
        return rows

    def statuses(self, manifests: list[dict[str, Any]] | None = None) -> dict[str, str]:
        """Each version's status: ``production``; ``candidate`` (registered by a manual gate, never
        promoted: waiting for a person); ``backfill`` (registered by a backfill run, never promoted);
        ``retired`` (was in production); ``registered`` (anything else never promoted).
        ``manifests``: the versions' manifests when the caller has read them (else they are read)."""
        production = self.production()
        promoted = {e["version"] for e in self.history()}
        out = {}
        for manifest in self.list_versions() if manifests is None else manifests:
            vid = manifest["version"]
            published = manifest.get("publish") or {}
            if vid == production:
                out[vid] = "production"
            elif vid in promoted:
                out[vid] = "retired"
            elif published and not published.get("promoted"):
                out[vid] = "candidate" if published.get("mode") == "manual" else "backfill"
            else:
                out[vid] = "registered"
        return out

    # pointer --------------------------------------------------------------------------------
    def production(self) -> str | None:
        data, _ = self.store.read_versioned(POINTER)
        return self._parse_pointer(data)["version"] if data is not None else None

    def _parse_pointer(self, data: bytes) -> dict[str, Any]:
        """The pointer's event, or :class:`DamagedPointer` saying what is wrong and how to repair."""
        where = self.store.url(POINTER)
        repair = "repair it with `topictensor versions promote VERSION` (the history records it)"
        try:
            event = json.loads(data)
        except (UnicodeDecodeError, ValueError) as exc:
            raise DamagedPointer(f"production pointer {where} is damaged: not valid JSON ({exc}); {repair}") from None
        if not isinstance(event, dict):
            raise DamagedPointer(f"production pointer {where} is damaged: a JSON {type(event).__name__}, "
                                 f"not an object; {repair}")
        if "version" not in event:
            raise DamagedPointer(f"production pointer {where} is damaged: no 'version' key; {repair}")
        try:
            check_version_id(event["version"])
        except InvalidVersionId as exc:
            raise DamagedPointer(f"production pointer {where} is damaged: {exc}; {repair}") from None
        return event

    def promote(self, vid: str, *, by: str | None = None, reason: str = "", action: str = "promote",
                expected: str | None | object = ...) -> dict[str, Any]:
        """Point production at ``vid`` atomically. ``expected`` (optional) = the version the caller
        believes is in production; the move fails if it changed meanwhile.

        A damaged pointer (see :meth:`production`) is overwritten by a plain promote (no
        ``expected``); the event records what it replaced under ``repaired``."""
        self.get_version(vid)  # must exist (and have the id format)
        for _ in range(10):
            data, token = self.store.read_versioned(POINTER)
            damage = None
            try:
                current = self._parse_pointer(data)["version"] if data is not None else None
            except DamagedPointer as exc:
                if expected is not ...:
                    raise
                current, damage = None, str(exc)
            if damage is None:
                self.complete_history(data)
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
            if damage is not None:
                event["repaired"] = damage
            if current == vid:
                return {**event, "changed": False}
            body = json.dumps(event, indent=2).encode()
            if self.store.write_if_match(POINTER, body, token):
                self._append_history(event)
                return {**event, "changed": True}
        raise RegistryError("could not move the production pointer: it kept changing under us")

    def complete_history(self, pointer: bytes | None | object = ...) -> dict[str, Any] | None:
        """Append the pointer's event to the history if a process died between moving the pointer
        and writing its history. Returns the event it appended (None: nothing was missing).
        A pointer written before events carried their own history key (no ``at``) is left alone."""
        if pointer is ...:
            pointer, _ = self.store.read_versioned(POINTER)
        if pointer is None:
            return None
        try:
            event = self._parse_pointer(pointer)
        except DamagedPointer:
            return None  # nothing to complete: the next promote repairs it
        if not event.get("at") or not event.get("action"):
            return None
        try:
            key = self._history_key(event)
        except (TypeError, ValueError):
            return None  # a hand-written pointer whose time is not ISO 8601
        if self.store.exists(key):
            return None
        # Events written before history keys were derived from the event sit under another key.
        if any(e.get("at") == event["at"] and e.get("version") == event["version"] for e in self._read_history()):
            return None
        log.warning("production pointer moved to %s (%s at %s) without its history event: appending it",
                    event["version"], event["action"], event["at"])
        self.store.write_text(key, json.dumps(event, indent=2))
        return event

    def rollback(self, *, to: str | None = None, by: str | None = None, reason: str = "",
                 expected: str | None | object = ...) -> dict[str, Any]:
        """Go back to ``to``, or to the version that was in production before the current one.
        ``expected`` (optional) = the production version the caller saw when choosing to roll back."""
        current, to = self.rollback_plan(to)
        if expected is not ... and current != expected:
            raise RegistryError(f"production moved to {current!r} meanwhile (expected {expected!r}); nothing changed")
        return self.promote(to, by=by, reason=reason or f"rollback from {current}", action="rollback",
                            expected=current)

    def rollback_plan(self, to: str | None = None) -> tuple[str, str]:
        """(current production, the version a rollback now goes to: ``to``, else the one before the
        current); raises RegistryError when there is nothing to roll back, so a UI can show the
        move before anyone confirms it."""
        self.complete_history()
        current = self.production()
        if current is None:
            raise RegistryError("nothing is in production: there is nothing to roll back")
        if to is not None:
            return current, check_version_id(to)
        target = self.rollback_target()
        if target is None:
            raise RegistryError(f"production {current} has no earlier version to roll back to")
        return current, target

    def rollback_target(self) -> str | None:
        """The version a plain ``rollback()`` would go to now (None: there is none), so a UI can
        say where a rollback leads before anyone confirms it."""
        stack = self.promotion_stack()
        if len(stack) < 2 or stack[-1] != self.production():
            return None
        return stack[-2]

    def promotion_stack(self) -> list[str]:
        """Versions promoted and not rolled back, oldest first: rollback pops, so repeated
        rollbacks walk further back instead of bouncing between the last two versions (and the
        gate's best-of-last-N never counts a version that was rolled back)."""
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
        try:
            self.complete_history()
        except StoreError as exc:  # a read-only credential can still read; the next promote completes it
            log.warning("could not complete the history from the production pointer: %s", exc)
        return self._read_history()

    def _read_history(self) -> list[dict[str, Any]]:
        keys = [k for k in self.store.list("history") if k.endswith(".json")]
        return [json.loads(self.store.read_text(k)) for k in sorted(keys)]

    @staticmethod
    def _history_key(event: dict[str, Any]) -> str:
        """The event's history key: its time, then a hash of its content. Derived from the event
        alone, so completing a pointer's missing history twice writes one object."""
        at = datetime.fromisoformat(event["at"]).astimezone(timezone.utc)
        digest = hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()[:8]
        return f"history/{at.strftime('%Y%m%dT%H%M%S%fZ')}-{digest}.json"

    def _append_history(self, event: dict[str, Any]) -> None:
        self.store.write_text(self._history_key(event), json.dumps(event, indent=2))
