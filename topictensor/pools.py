"""Process pools for a stage's independent buckets (e.g. the ``PAIR_BUCKETS`` hash buckets of
blogger_id that the window and reweight stages work through one at a time).

A stage turns its per-bucket work into a module-level function of one picklable job (refs, paths,
parameters, small tables) that returns a small result, and maps it with :func:`map_buckets`; it
merges the results in its own process, in job order, so its output does not depend on the number
of workers. The pool uses the spawn start method (:func:`spawn_context`, also
also the context of ``topictensor run --jobs``): a worker starts a fresh
interpreter that imports only the job function's module and what it imports, not the
parent's state (nor a forked copy of its memory, threads or open connections).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")


class BucketFailed(RuntimeError):
    """A bucket's job raised; the message names the bucket, the cause is the worker's exception."""


def spawn_context():
    """The multiprocessing context of every process pool of the package: spawn (a fresh interpreter,
    no forked copy of the parent's memory, threads, locks or connections)."""
    import multiprocessing

    return multiprocessing.get_context("spawn")


def bucket_workers(requested: int, buckets: int) -> int:
    """Processes for ``buckets`` buckets: ``requested``, or (0) one per core; never more than
    ``buckets``, never fewer than 1."""
    return max(1, min(requested or os.cpu_count() or 1, buckets))


def map_buckets(function: Callable[[Job], Result], jobs: Sequence[Job], workers: int, *,
                label: Callable[[int, Job], str] | None = None) -> list[Result]:
    """``[function(job) for job in jobs]``, in job order: serially in this process when
    ``workers <= 1`` (or there is at most one job), else in a ``ProcessPoolExecutor`` of
    ``min(workers, len(jobs))`` spawned processes. ``function`` must be a module-level function
    and every job picklable.

    When a job raises, the remaining ones are cancelled and :class:`BucketFailed` is raised, its
    message naming the job (``label(index, job)``, default ``bucket <index>``) and the worker's
    error, chained to the original exception."""
    jobs = list(jobs)
    name = label or (lambda index, _job: f"bucket {index}")

    def failed(index: int, exc: BaseException) -> BucketFailed:
        return BucketFailed(f"{name(index, jobs[index])} failed: {type(exc).__name__}: {exc}")

    if workers <= 1 or len(jobs) <= 1:
        results = []
        for index, job in enumerate(jobs):
            try:
                results.append(function(job))
            except Exception as exc:
                raise failed(index, exc) from exc
        return results

    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=spawn_context()) as pool:
        futures = [pool.submit(function, job) for job in jobs]
        results = []
        for index, future in enumerate(futures):
            try:
                results.append(future.result())
            except BrokenProcessPool as exc:  # a worker died (killed, out of memory): no bucket is to blame
                pending = [i for i, f in enumerate(futures) if i >= index and not (f.done() and not f.exception())]
                raise BucketFailed(f"a worker process died (killed, or out of memory?) while "
                                   f"{', '.join(name(i, jobs[i]) for i in pending)} were not done") from exc
            except Exception as exc:
                for rest in futures[index + 1:]:
                    rest.cancel()
                raise failed(index, exc) from exc
        return results


__all__ = ["BucketFailed", "bucket_workers", "map_buckets", "spawn_context"]
