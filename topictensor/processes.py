"""The one way the library starts worker processes: spawned, never forked (a forked child would
inherit the parent's threads, locks and open store clients mid-use). Used by the pipeline's pool
for mapped stages and by the blogger_vectors stage's bucket pool."""

from __future__ import annotations


def spawn():
    """The ``spawn`` multiprocessing context, for ``ProcessPoolExecutor(mp_context=...)``."""
    import multiprocessing

    return multiprocessing.get_context("spawn")
