"""Pages rendered side by side: drawing a chart is most of a site's build (a third of
a second each), and the pages share nothing, so each is made in a worker process and
comes back as text. The workers are spawned, not forked: a fork copies whatever lock
another thread of this process held at that moment (a test runner's, a library's),
and a worker that waits on it never returns. A job is pickled to its worker (a page's
function and its Runs); with one worker, or few pages, they are made here one after
another."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import traceback
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor

from bench.errors import BadInput

Job = Callable[[], str]  # picklable: a module's function, partial over its arguments
# A spawned worker costs about a second (its imports) before its first page.
MIN_JOBS = 4


def _quiet() -> None:
    # Ctrl-C reaches every process of the group: the parent stops the pool, and the
    # workers say nothing
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run(job: Job) -> tuple[str | None, BaseException | None, list[str]]:
    """The page, or what stopped it; and the warnings it raised, for the parent to say."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            text, exc = job(), None
        except Exception as e:
            text, exc = None, e
            if not isinstance(e, BadInput):  # one line for a person; a bug keeps where it happened
                e.add_note(f"in a worker drawing pages:\n{traceback.format_exc()}")
            try:  # one that does not pickle would stop the pool's result thread and hang it
                pickle.loads(pickle.dumps(exc))
            except Exception:
                exc = RuntimeError(f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
    return text, exc, [str(w.message) for w in caught]


def default_workers() -> int:
    """One worker per CPU this process may run on, at most 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus))


def rendered(jobs: list[Job], workers: int) -> Iterator[str]:
    """Each job's text, in the order of `jobs`, as soon as it and those before it are made."""
    if workers <= 1 or len(jobs) < MIN_JOBS:
        for job in jobs:
            yield job()
        return
    # concurrent.futures, not multiprocessing.Pool: a worker that dies (one that could
    # not start: a script's __main__ a spawned child cannot import) breaks the pool with
    # an error, where a Pool would start another in its place, forever
    before = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(
        min(workers, len(jobs)), mp_context=multiprocessing.get_context("spawn"), initializer=_quiet
    )
    # submitted one by one and never cancelled: a future cancelled while the pool marks
    # it broken (its workers terminated below) raises in the pool's own thread
    futures = [pool.submit(_run, job) for job in jobs]
    try:
        for future in futures:
            text, exc, said = future.result()
            for message in said:
                warnings.warn(message, stacklevel=2)  # said once, however many pages raise it
            if exc is not None:
                raise exc
            yield text
    except BaseException:
        # an error or Ctrl-C: the pages not drawn yet are not wanted, nor are the
        # workers (which ignore SIGINT), and the exit must not wait for them
        for process in set(multiprocessing.active_children()) - before:
            process.terminate()
        pool.shutdown(wait=False)
        raise
    # every page is in: the idle workers are let go and waited for here, before the
    # exit's own clean-up could close the queue that tells them to go
    pool.shutdown(wait=True)
