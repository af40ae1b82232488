"""Where numba keeps compiled code: a persistent per-user folder unless ``NUMBA_CACHE_DIR`` is set.

The trainer's kernels (and umap-learn's and pynndescent's functions marked ``cache=True``) are
compiled on first use; with a persistent cache a fresh process (every Airflow task, every CLI
command) loads them instead of compiling again. numba reads ``NUMBA_CACHE_DIR`` when it is
imported, so :func:`configure` runs from ``topictensor/__init__.py``, before any module of the
package imports numba. Without a writable cache folder numba would fall back to ``__pycache__``
beside the installed sources, which is often read-only (site-packages, a container image).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ENV = "NUMBA_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/topictensor/numba``, else ``~/.cache/topictensor/numba``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "topictensor" / "numba"


def configure() -> str:
    """Set ``NUMBA_CACHE_DIR`` to the default when it is unset or empty; returns the folder in use
    ("" when the default cannot be written: numba then caches where it can, as without this).

    If numba was imported before this package (its config already read), its cache folder is set
    directly as well, so the outcome does not depend on import order."""
    current = os.environ.get(ENV)
    if current:
        return current
    folder = str(default_cache_dir())
    try:  # a home that cannot be written (some containers): leave numba its own fallbacks
        os.makedirs(folder, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return ""
    os.environ[ENV] = folder
    config = sys.modules.get("numba.core.config")
    if config is not None and not getattr(config, "CACHE_DIR", ""):
        config.CACHE_DIR = folder
    return folder


def cache_dir() -> str:
    """The folder numba caches into in this process (for messages)."""
    return os.environ.get(ENV) or configure() or "numba's default cache folder"
