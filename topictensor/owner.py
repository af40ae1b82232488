"""Which process made a scratch folder or a temp file, so leftovers can be told from work in flight.

A tag ``<pid>_<host>_<start>`` (``host`` = 8 hex digits of a hash of the host name, ``start`` =
the process's start time in clock ticks since boot, from /proc; 0 where there is no /proc) goes
into the name of every scratch folder (``$TMPDIR/topictensor-<stage>-<tag>-*``) and every
local-store temp file (``.<name>.<tag>.*.tmp``). A process killed with -9 cannot remove them;
whoever finds them later can then ask whether their owner is gone: only a process on this host can
be checked (``kill(pid, 0)``, and its start time, so a pid reused by a later process is not taken
for the owner); one on another host sharing the directory, or a name without a tag (written before
tags existed), has an unknown owner, and only its age can say it is stale.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from enum import Enum
from functools import lru_cache

TAG_PATTERN = r"(?P<pid>\d+)_(?P<host>[0-9a-f]{8})(?:_(?P<start>\d+))?"
_TAG = re.compile(TAG_PATTERN)


class Owner(Enum):
    ALIVE = "alive"
    GONE = "gone"
    UNKNOWN = "unknown"


@lru_cache(maxsize=1)
def _host() -> str:
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def start_ticks(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, /proc/<pid>/stat field 22), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return int(stat[stat.rindex(b")") + 2:].split()[19])  # fields after "(comm)" start at field 3
    except (OSError, ValueError, IndexError):
        return None


def owner_tag() -> str:
    """This process's tag (read each time: a forked child gets its own)."""
    pid = os.getpid()
    return f"{pid}_{_host()}_{start_ticks(pid) or 0}"


def owner_of(pid: str | int | None, host: str | None, start: str | int | None = None) -> Owner:
    """Whether the process of a tag's (pid, host, start time) still runs."""
    if pid is None or host is None or host != _host():
        return Owner.UNKNOWN
    pid = int(pid)
    if pid == os.getpid() and (not start or int(start) == (start_ticks(pid) or 0)):
        return Owner.ALIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return Owner.GONE
    except PermissionError:
        pass  # another user's process: it runs; is it the owner?
    except OverflowError:
        return Owner.GONE
    if start and int(start):
        now = start_ticks(pid)
        if now is not None and now != int(start):
            return Owner.GONE  # the pid was reused by a process that started later
    return Owner.ALIVE


def owner_in(name: str) -> Owner:
    """The owner of the first tag found in ``name`` (UNKNOWN when there is none)."""
    match = _TAG.search(name)
    return owner_of(match["pid"], match["host"], match["start"]) if match else Owner.UNKNOWN
