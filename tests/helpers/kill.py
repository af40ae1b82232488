"""Fault injection for the tests: kill -9 a process at a point it marks."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def kill_when_marked(command: list[str], marker: Path, *, timeout: float, what: str) -> None:
    """Start ``command``, and SIGKILL it as soon as it writes ``marker`` (``what``: the point it
    marks, for the failure message). It must still be running then, and get there within
    ``timeout`` seconds."""
    worker = subprocess.Popen(command)
    try:
        deadline = time.time() + timeout
        while not marker.exists():
            assert worker.poll() is None, f"the process ended before it was killed (before {what})"
            assert time.time() < deadline, f"the process never reached {what}"
            time.sleep(0.1)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == -signal.SIGKILL
