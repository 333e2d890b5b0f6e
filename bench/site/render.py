"""Pages rendered side by side: drawing a chart is most of a site's build (a third of
a second each), and the pages share nothing, so each is made in a worker process
forked from this one (which has read the runs once; the children inherit them) and
comes back as text. Where fork is not to be had, or one worker is asked for, they are
made here one after another."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
from collections.abc import Callable, Iterator

Job = Callable[[], str]
_JOBS: list[Job] = []  # what the forked workers inherit


def _quiet() -> None:
    # Ctrl-C reaches every process of the group: the parent stops the pool, and the
    # workers say nothing
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run(index: int) -> tuple[str | None, BaseException | None]:
    # an exception that does not pickle would stop the pool's result thread and hang it
    try:
        return _JOBS[index](), None
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))  # some pickle but cannot be made again
        except Exception:
            exc = RuntimeError(f"{type(exc).__name__}: {exc}")
        return None, exc


def default_workers() -> int:
    """One worker per CPU this process may run on, at most 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus))


def rendered(jobs: list[Job], workers: int) -> Iterator[str]:
    """Each job's text, in the order of `jobs`, as soon as it and those before it are made."""
    global _JOBS
    if workers <= 1 or len(jobs) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        for job in jobs:
            yield job()
        return
    _JOBS = jobs
    try:
        with multiprocessing.get_context("fork").Pool(min(workers, len(jobs)), initializer=_quiet) as pool:
            for text, exc in pool.imap(_run, range(len(jobs))):
                if exc is not None:
                    raise exc
                yield text
    finally:
        _JOBS = []
