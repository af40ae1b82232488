"""Date partitions of the raw prefix and the training window.

Layout (Hive style, any of the contract's file formats inside a partition)::

    <prefix>/posts/dt=2026-01-05/part-0.parquet      one folder per delivery day (weekly: its Monday)
    <prefix>/posts/dt=2026-01-12/...
    <prefix>/bloggers/dt=2026-01-12/bloggers.jsonl   snapshots of the bloggers table

- A partition is the unit of reading: a posts partition is in the window when its ``dt`` lies in
  ``[end - ingest.window_days, end)``, ``end`` being the run's data interval end (Airflow's
  ``data_interval_end``, ``topictensor run --as-of DATE``; without either, the day after the newest
  posts partition). Partitions outside the window are not listed further nor read; partitions at
  or after ``end`` are in the future of that run, so a backfill sees the data its week saw.
  ``window_days: all`` keeps every partition before ``end``.
- Without any ``dt=`` folder the prefix is one partition (``dt`` None) that every window holds
  (``created_at`` is not used to cut it). A prefix that mixes ``dt=`` folders with loose files is
  refused, naming a loose file: its loose files would belong to no week.
- Bloggers are a snapshot: the newest ``bloggers/dt=`` partition before ``end`` is the bloggers
  table of the run, older snapshots are not read (a blogger in several snapshots is not a
  duplicate). Within one snapshot a repeated blogger_id is a reject (the first in key order is kept).
- A partition's identity is its listing (key, size, ETag on S3 / size+mtime+inode on disk of each
  of its files): the per-partition stages are keyed by it, so a partition that is rewritten, gains
  or loses a file redoes only itself, and a deleted partition simply leaves the window.
- Duplicates across partitions: a post_id in several partitions of the window is kept from the
  newest partition (a re-delivery replaces the earlier copy); the older copies are counted as
  ``duplicate post_id (newer partition wins)`` rejects of the window stage. Within one partition the
  first in key order is kept and later copies are rejects, as before.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from topictensor.errors import ConfigError, ContractError
from topictensor.store import ObjectInfo, Store

DT_PATTERN = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})$")
ALL = "all"


@dataclass(frozen=True)
class Partition:
    """One partition of a raw table: ``prefix`` is the folder (``posts/dt=2026-01-05``, or ``posts``
    for an unpartitioned table); ``dt`` None for the unpartitioned one."""

    kind: str
    prefix: str
    dt: str | None

    @property
    def label(self) -> str:
        return self.dt or "all"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "prefix": self.prefix, "dt": self.dt}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | "Partition") -> "Partition":
        if isinstance(data, Partition):
            return data
        return cls(kind=data["kind"], prefix=data["prefix"], dt=data.get("dt"))


def _is_ignored(part: str) -> bool:
    return part.startswith(("_", "."))


def list_partitions(store: Store, kind: str) -> list[Partition]:
    """The partitions of ``kind`` (``posts`` / ``bloggers``) under the raw prefix, oldest first.
    Listing is by folder name only where the store allows; files are listed per partition later."""
    infos = [i for i in store.list_info(kind) if not any(_is_ignored(p) for p in i.key.split("/") if p)]
    dated: dict[str, str] = {}
    loose: list[str] = []
    for info in infos:
        rel = info.key[len(kind):].lstrip("/")
        first = rel.split("/", 1)[0]
        match = DT_PATTERN.match(first)
        if match and "/" in rel:
            day = match.group(1)
            _parse_day(day, f"{kind}/{first}")
            dated[day] = f"{kind}/{first}"
        else:
            loose.append(info.key)
    if dated and loose:
        raise ContractError(
            f"{store.url(loose[0])}: a file outside any dt=YYYY-MM-DD folder of a partitioned {kind}/ "
            f"table ({len(loose)} such files); move it into its day's partition")
    if dated:
        return [Partition(kind, dated[day], day) for day in sorted(dated)]
    return [Partition(kind, kind, None)] if loose else []


def partition_files(store: Store, partition: Partition) -> list[ObjectInfo]:
    """The contract files of one partition, sorted by key."""
    files = [i for i in store.list_info(partition.prefix)
             if not any(_is_ignored(p) for p in i.key.split("/") if p)]
    if partition.dt is None:  # the unpartitioned table: everything under kind/
        return files
    return [i for i in files if i.key.startswith(partition.prefix + "/")]


def listing_fingerprint(store: Store, files: list[ObjectInfo]) -> dict[str, Any]:
    """What identifies raw data: its location and a hash of its listing (key, size, version)."""
    digest = hashlib.sha256()
    for info in sorted(files, key=lambda i: i.key):
        digest.update(f"{info.key}\t{info.size}\t{info.version}\n".encode())
    return {"uri": store.uri, "files": len(files), "listing": digest.hexdigest()[:20]}


def _parse_day(text: str, where: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ContractError(f"{where}: {text!r} is not a date (dt=YYYY-MM-DD)") from None


def parse_as_of(value: str | date | datetime | None) -> date | None:
    """A window end given as a date, an ISO date / timestamp string, or a datetime (any zone: its
    UTC day, rounded up when it is not midnight: an interval ending at 10:00 holds that day)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value or " " in value \
                else date.fromisoformat(value)
        except ValueError:
            raise ConfigError(f"as_of {value!r} is not a date (YYYY-MM-DD) or an ISO timestamp") from None
    if isinstance(value, datetime):
        moment = value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
        day = moment.date()
        return day if moment.time() == datetime.min.time() else day + timedelta(days=1)
    return value


@dataclass(frozen=True)
class Window:
    """Partitions with ``start <= dt < end``; ``start`` None = no lower bound (``window_days: all``)."""

    start: date | None
    end: date

    def holds(self, partition: Partition) -> bool:
        if partition.dt is None:
            return True
        day = date.fromisoformat(partition.dt)
        return day < self.end and (self.start is None or day >= self.start)

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat() if self.start else None, "end": self.end.isoformat()}


def window_for(window_days: int | str, end: date) -> Window:
    if window_days == ALL:
        return Window(None, end)
    return Window(end - timedelta(days=int(window_days)), end)


@dataclass(frozen=True)
class Plan:
    """What a run reads: the window, its posts partitions (oldest first), the bloggers snapshot."""

    window: Window
    posts: list[Partition]
    bloggers: Partition
    skipped: int  # posts partitions outside the window

    def to_dict(self) -> dict[str, Any]:
        return {"window": self.window.to_dict(), "posts": [p.to_dict() for p in self.posts],
                "bloggers": self.bloggers.to_dict(), "skipped": self.skipped}


def plan_window(raw_store: Store, window_days: int | str, as_of: str | date | datetime | None = None) -> Plan:
    """The posts partitions in the window ending at ``as_of`` and the bloggers snapshot for it."""
    posts = list_partitions(raw_store, "posts")
    if not posts:
        raise ContractError(f"no posts files under {raw_store.url('posts')}/ (raw prefix {raw_store.uri})")
    end = parse_as_of(as_of)
    if end is None:
        newest = max((p.dt for p in posts if p.dt), default=None)
        end = date.fromisoformat(newest) + timedelta(days=1) if newest else datetime.now(timezone.utc).date() + timedelta(days=1)
    window = window_for(window_days, end)
    chosen = [p for p in posts if window.holds(p)]
    if not chosen:
        days = ", ".join(p.dt for p in posts[:3] if p.dt)
        raise ContractError(
            f"no posts partition of {raw_store.url('posts')}/ lies in the window "
            f"[{window.start or '-inf'}, {window.end}) (ingest.window_days={window_days}); "
            f"partitions start at {days}")
    bloggers = list_partitions(raw_store, "bloggers")
    snapshots = [b for b in bloggers if b.dt is None or date.fromisoformat(b.dt) < end]
    if not snapshots:
        if bloggers:
            raise ContractError(f"no bloggers snapshot under {raw_store.url('bloggers')}/ before {end} "
                                f"(the oldest is dt={bloggers[0].dt})")
        raise ContractError(f"no bloggers files under {raw_store.url('bloggers')}/ (raw prefix {raw_store.uri})")
    return Plan(window=window, posts=chosen, bloggers=snapshots[-1], skipped=len(posts) - len(chosen))
