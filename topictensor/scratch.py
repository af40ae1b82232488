"""Scratch folders of the stages: named by their owner process, removed when it ends, and the
leftovers of killed processes cleaned up (never those of a live one: ``topictensor.owner``).

A stage computes into a scratch folder that ``topictensor.artifacts.run_stage`` uploads and removes;
spills and other temporary state live in folders from :func:`scratch_dir` or :func:`scratch_folder`.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from topictensor.owner import TAG_PATTERN, Owner, owner_of, owner_tag
from topictensor.store import Store

log = logging.getLogger("topictensor.artifacts")

SCRATCH_PREFIX = "topictensor-"
SCRATCH_MAX_AGE_ENV = "TOPICTENSOR_SCRATCH_MAX_AGE_HOURS"
SCRATCH_MAX_AGE_HOURS = 24.0
# ``topictensor-<name>-<owner tag>-<mkdtemp's 8 characters>``; before owner tags, without one.
_SCRATCH = re.compile(rf"^{SCRATCH_PREFIX}(?P<name>[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*?)-(?:{TAG_PATTERN}-)?"
                      r"[a-z0-9_]{8}$")


def scratch_dir(name: str, directory: str | os.PathLike | None = None) -> Path:
    """A new scratch folder ``$TMPDIR/topictensor-<name>-<owner tag>-*`` (see ``topictensor.owner``),
    so whoever finds it after a kill -9 can tell whether its process is gone."""
    return Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{name}-{owner_tag()}-", dir=directory))


@contextmanager
def scratch_folder(name: str, directory: str | os.PathLike | None = None) -> Iterator[Path]:
    """:func:`scratch_dir` removed when the block ends (like ``tempfile.TemporaryDirectory``)."""
    path = scratch_dir(name, directory)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def scratch_max_age_seconds() -> float:
    """``$TOPICTENSOR_SCRATCH_MAX_AGE_HOURS`` (default 24) in seconds."""
    raw = os.environ.get(SCRATCH_MAX_AGE_ENV, "").strip()
    if not raw:
        return SCRATCH_MAX_AGE_HOURS * 3600
    try:
        hours = float(raw)
    except ValueError:
        raise ValueError(f"${SCRATCH_MAX_AGE_ENV}={raw!r} is not a number of hours") from None
    if hours < 0:
        raise ValueError(f"${SCRATCH_MAX_AGE_ENV}={raw!r} must be >= 0 hours")
    return hours * 3600


@dataclass
class ScratchCleanup:
    """What :func:`clean_scratch` removed and what it left (the folders of live processes)."""

    removed: list[Path] = field(default_factory=list)
    bytes_freed: int = 0
    kept_alive: list[Path] = field(default_factory=list)
    temp_files: list[Path] = field(default_factory=list)


def clean_scratch(*, stage: str | None = None, max_age_seconds: float | None = None,
                  directory: str | os.PathLike | None = None, store: Store | None = None) -> ScratchCleanup:
    """Remove the scratch that killed processes left behind; never that of a live process.

    - Folders ``<directory>/topictensor-<name>-*`` (default ``$TMPDIR``) whose owner process is
      gone and that were last written more than ``max_age_seconds`` ago (default
      ``$TOPICTENSOR_SCRATCH_MAX_AGE_HOURS``, 24 h); those whose owner cannot be checked (another
      host, or named before owner tags) by age alone.
    - ``stage``: the scratch of that stage (its own name) whose owner is gone goes at any age: the
      stage is about to run again, and a dead attempt's folder is garbage at once.
    - ``store`` (a local store): also its hidden write temp files (``._MANIFEST.json.*.tmp`` and
      the like) with the same rules, over the whole store.

    What the stage runner calls before every stage; meant for a retention command as well.
    """
    max_age = scratch_max_age_seconds() if max_age_seconds is None else max_age_seconds
    root = Path(directory or tempfile.gettempdir())
    report = ScratchCleanup()
    now = time.time()
    try:
        entries = [e for e in os.scandir(root) if e.name.startswith(SCRATCH_PREFIX)]
    except OSError as exc:
        log.warning("cannot list %s for stale scratch: %s", root, exc)
        entries = []
    for entry in entries:
        match = _SCRATCH.match(entry.name)
        if not match or not entry.is_dir(follow_symlinks=False):
            continue
        path = Path(entry.path)
        owner = owner_of(match["pid"], match["host"], match["start"])
        if owner is Owner.ALIVE:
            report.kept_alive.append(path)
            continue
        own_stage = stage is not None and match["name"] == stage
        if not ((owner is Owner.GONE and own_stage) or now - _newest_mtime(path) > max_age):
            continue
        size = _tree_bytes(path)
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            report.removed.append(path)
            report.bytes_freed += size
    if report.removed:
        log.warning("removed %d scratch folders of processes that are gone (%.1f MB): %s",
                    len(report.removed), report.bytes_freed / 1e6, ", ".join(p.name for p in report.removed[:5]))
    remover = getattr(store, "remove_temp_files", None)
    if remover is not None:
        report.temp_files = remover("", max_age)
        if report.temp_files:
            log.warning("removed %d temp files of writers that are gone under %s", len(report.temp_files), store.uri)
    return report


def _newest_mtime(path: Path) -> float:
    newest = 0.0
    for dirpath, _, filenames in os.walk(path):
        for name in [".", *filenames]:
            try:
                newest = max(newest, os.stat(os.path.join(dirpath, name), follow_symlinks=False).st_mtime)
            except OSError:
                pass
    return newest


def _tree_bytes(path: Path) -> int:
    total = 0
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            try:
                total += os.stat(os.path.join(dirpath, name), follow_symlinks=False).st_size
            except OSError:
                pass
    return total
