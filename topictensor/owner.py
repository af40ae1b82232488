"""Which process made a scratch folder or a temp file, so leftovers can be told from work in flight.

A tag ``<pid>_<host>`` (``host`` = 8 hex digits of a hash of the host name) goes into the name of
every scratch folder (``$TMPDIR/topictensor-<stage>-<tag>-*``) and every local-store temp file
(``.<name>.<tag>.*.tmp``). A process killed with -9 cannot remove them; whoever finds them later
can then ask whether their owner is gone: only a process on this host can be checked (``kill(pid,
0)``); one on another host sharing the directory, or a name without a tag (written before tags
existed), has an unknown owner, and only its age can say it is stale.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from enum import Enum
from functools import lru_cache

TAG_PATTERN = r"(?P<pid>\d+)_(?P<host>[0-9a-f]{8})"
_TAG = re.compile(TAG_PATTERN)


class Owner(Enum):
    ALIVE = "alive"
    GONE = "gone"
    UNKNOWN = "unknown"


@lru_cache(maxsize=1)
def _host() -> str:
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def owner_tag() -> str:
    """This process's tag (the pid is read each time: a forked child gets its own)."""
    return f"{os.getpid()}_{_host()}"


def owner_of(pid: str | int | None, host: str | None) -> Owner:
    """Whether the process of a tag's (pid, host) still runs."""
    if pid is None or host is None or host != _host():
        return Owner.UNKNOWN
    pid = int(pid)
    if pid == os.getpid():
        return Owner.ALIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return Owner.GONE
    except PermissionError:
        return Owner.ALIVE  # another user's live process
    except OverflowError:
        return Owner.GONE
    return Owner.ALIVE


def owner_in(name: str) -> Owner:
    """The owner of the first tag found in ``name`` (UNKNOWN when there is none)."""
    match = _TAG.search(name)
    return owner_of(match["pid"], match["host"]) if match else Owner.UNKNOWN
