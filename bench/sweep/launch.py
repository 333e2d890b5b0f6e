"""Launching a sweep: one interface over where its cases are measured (one device of
this machine, every GPU of this host, a fleet of machines), after the launchers of
optimum-benchmark.

A launch fills one or more run folders, its parts. Everything a user reads of it is said
here, once, whatever the launcher: the plan's warnings, how many cases each part has to
run, the progress, where the time went, the interrupt text and the end-of-sweep report.
A launcher supplies only how its parts' run folders are opened and how one part's cases
get measured where. Every part is measured in a thread of its own (`side_by_side`), so
that Ctrl-C, in the main thread, stops them all the same way.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.record.store import Run, RunWriter
    from bench.sweep.plan import Plan

POLL_S = 0.1


class Ending(IntEnum):
    """How a launch ended, the worst of its runs first: a run stopped before its end, a
    case that failed, every case measured (or out of memory). The command makes it its
    exit status."""

    OK = 0
    FAILED = 1
    STOPPED = 2


@dataclass(frozen=True)
class Outcome:
    """How a sweep into a run folder ended."""

    status: str  # "complete" | "interrupted"
    planned: int
    stored: int  # cases of the plan the run holds now
    ran: int  # cases run by this sweep
    time_spent: dict | None = None  # where this sweep's wall time went (see runner.time_spent)


class Part:
    """One run folder a launch fills: where its cases are measured (`name`, as the
    messages say it), the plan made here (None where the machine that measures plans,
    as a fleet node does), the stored run it continues (read once, by the command), its
    writer once open, and how its sweep ended."""

    def __init__(self, name: str, plan: Plan | None = None, stored: Run | None = None):
        self.name = name
        self.plan = plan
        self.stored = stored
        self.writer: RunWriter | None = None
        self.outcome: Outcome | None = None

    @property
    def run(self) -> Run | None:
        """The run as it stands: read once, and what the writer appended since."""
        return self.writer.run if self.writer is not None else self.stored

    @property
    def tag(self) -> str:
        """Its name in short, for lines among other parts' (progress, time): the device."""
        return self.plan.device if self.plan is not None else self.name

    @property
    def planned(self) -> int:
        if self.plan is not None:
            return len(self.plan.cases)
        run = self.run
        return (run.meta.cases_planned or len(run.records)) if run is not None else 0

    @property
    def kept(self) -> int:
        """The cases of its plan the run holds."""
        run = self.run
        if run is None:
            return 0
        if self.plan is None:
            return len(run.records)
        return len({c.case_id for c in self.plan.cases} & run.case_ids)

    @property
    def complete(self) -> bool:
        return self.outcome is not None and self.outcome.status == "complete"


class Launcher:
    """Opens its parts' run folders, measures every part side by side, and says what a
    user reads. Subclasses supply `open` and `measure`, and where they need to, the hooks
    `on_stop`, `ended`, `display`, and the report of a part."""

    command = "run"  # the vae-bench command that resumes its runs
    voice = "vae-bench"  # how its messages begin
    several = False  # runs side by side: the messages and reports name each
    grace_s: float | None = None  # how long a stopped part may take to end (None: as long as it takes)

    def __init__(self, parts: list[Part]):
        self.parts = parts
        self.interrupted = False  # stopped by Ctrl-C
        self.print_paths = True  # the run folders last on stdout (run --format json prints its own)

    # -- what a launcher supplies --------------------------------------------------------

    def open(self) -> None:
        """Give every part its writer: a new run folder, or the stored run reopened."""
        raise NotImplementedError

    def measure(self, part: Part, progress: Callable, stop: threading.Event) -> Outcome | None:
        """Run the part's cases where this launcher runs them, telling `progress` of each,
        until done or `stop` is set; in a thread of its own."""
        raise NotImplementedError

    def on_stop(self) -> None:
        """Ctrl-C, or a part that failed: whatever else must stop (a fleet's tasks)."""

    def ended(self) -> None:
        """Every part has ended (or been given up on); the writers are still open."""

    def display(self):
        """What shows the progress of every part: a bar, or a line per case."""
        from bench.sweep.progress import Progress

        total, kept = sum(p.planned for p in self.parts), sum(p.kept for p in self.parts)
        return Progress(total=total, done=kept) if total > kept else None

    def resume_dirs(self) -> list[str]:
        """The runs a resume names: any one run of a sweep resumes every run of it."""
        return [str(p.run.path) for p in self.parts if p.run is not None][:1]

    # -- what every launcher says ----------------------------------------------------------

    def say(self, text: str, before: str = "") -> None:
        print(f"{before}{self.voice}: {text}", file=sys.stderr, flush=True)

    def warnings(self) -> list[str]:
        """The plans' warnings, each once (the runs of a host sweep share most)."""
        return list(dict.fromkeys(n for p in self.parts if p.plan is not None for n in p.plan.warnings))

    def dry_run(self) -> Ending:
        """What the launch would run, and nothing run or written."""
        from bench.analysis.summary import plan_table

        for note in self.warnings():
            self.say(f"warning: {note}")
        for part in self.parts:
            if self.several:
                print(f"== {part.name}")
            stored = part.stored.case_ids if part.stored is not None else set()
            print(plan_table(part.plan.cases, stored), end="\n\n" if self.several else "\n")
        count = sum(p.planned for p in self.parts)
        if self.several:
            print(f"{count} cases over {len(self.parts)} GPU(s); dry run, nothing was run or written")
        else:
            (part,) = self.parts
            print(
                f"\n{count} cases on {part.name}; weights: {part.plan.sweep.weights}; "
                "dry run, nothing was run or written"
            )
        return Ending.OK

    def launch(self) -> list[Outcome | None]:
        """Open the parts' runs, measure them side by side, close them, and say where the
        time went: each part's outcome (None where it had not ended when given up on)."""
        try:
            self.open()
            self.announce()
            display, lock = self.display(), threading.Lock()
            jobs = [
                (
                    f"sweep-{p.tag}",
                    partial(self.measure, p, _View(display, lock, p.tag if self.several else None)),
                )
                for p in self.parts
            ]
            try:
                outcomes, self.interrupted = side_by_side(jobs, self.on_stop, self.grace_s)
            finally:
                if display is not None:
                    display.close()
            for part, outcome in zip(self.parts, outcomes, strict=True):
                part.outcome = outcome
            self.ended()
        finally:
            for part in self.parts:
                if part.writer is not None:
                    part.writer.close()
        return [p.outcome for p in self.parts]

    def announce(self) -> None:
        """Before the first case: what each part has to run, and the plans' warnings."""
        for part in self.parts:
            if part.plan is not None:
                todo = part.planned - part.kept
                self.say(f"{todo} of {part.planned} cases to run on {part.name}; writing {part.writer.dir}")
        for note in self.warnings():
            self.say(f"warning: {note}")

    def say_times(self, reports_s: float) -> None:
        """Where the time went: of the whole command for one run (from its process's
        start, bench.sweep.timeline), of each sweep for several side by side."""
        from bench.analysis.summary import time_line
        from bench.sweep import timeline

        for part in self.parts:
            spent = part.outcome.time_spent if part.outcome is not None else None
            if spent and self.several:
                self.say(f"{part.tag} {time_line(spent)}")
            elif spent:
                self.say(time_line(spent, timeline.around(spent["wall_s"], reports_s)))

    def report(self) -> Ending:
        """The end of the launch: each run's report, how to resume what was stopped, and
        last on stdout each run folder, a line each, for a script to take."""
        code = Ending.OK
        t0 = time.perf_counter()
        for part in self.parts:
            code = max(code, self.report_part(part))
        self.say_times(time.perf_counter() - t0)
        self.epilogue()
        if self.interrupted:  # even where every case got stored as Ctrl-C came: exit 130
            code = Ending.STOPPED
        runs = [p for p in self.parts if p.run is not None]
        if code == Ending.STOPPED:
            if not runs:
                self.say("interrupted before any run was stored", before="\n")
                return code
            where = f"{len(runs)} runs" if self.several else str(runs[0].run.path)
            them = " them all" if self.several else ""
            self.say(
                f"interrupted; {sum(p.kept for p in self.parts)} of {sum(p.planned for p in self.parts)} "
                f"cases are stored in {where}\n"
                f"resume{them} with: vae-bench {self.command} --resume {' '.join(self.resume_dirs())}",
                before="\n",
            )
        if self.print_paths:
            for path in self.run_paths():
                print(path, flush=True)
        return code

    def run_paths(self) -> list[str]:
        return [str(p.run.path) for p in self.parts if p.run is not None]

    def report_part(self, part: Part) -> Ending:
        if not part.complete:
            return Ending.STOPPED
        if self.several:
            print(f"\n== {part.name}")
        return finished(part.run)

    def epilogue(self) -> None:
        """After the runs' reports, before the interrupt text."""


class _View:
    """One part's view of the shared display: its events, tagged with its name where
    several parts run."""

    def __init__(self, display, lock: threading.Lock, tag: str | None):
        self.display, self.lock, self.tag = display, lock, tag

    def __call__(self, event, case, record) -> None:
        if self.display is not None:
            with self.lock:
                self.display(event, case, record, tag=self.tag)


def finished(run: Run) -> Ending:
    """The end of a sweep into `run` (as its writer left it, not read again): its
    summary, its tables.md, and FAILED where a case ended in error."""
    from bench.analysis.summary import summary_table
    from bench.docs.tables import write_run_tables
    from bench.record.store import CASES

    def say(text):
        print(f"vae-bench: {text}", file=sys.stderr)

    print(summary_table(run.records))
    if run.left_out:
        say(f"warning: {run.left_out}")
    print(f"\nrun stored in {run.path}")
    try:
        print(f"tables written to {write_run_tables(run)}")
    except Exception as exc:  # the cases are stored; the tables can be rendered later
        say(f"warning: tables.md not written: {exc}")
    errors = sum(r.status == "error" for r in run.records)
    if errors:
        say(f"{errors} case(s) ended in error; see the `error` field in {run.path / CASES}")
        return Ending.FAILED
    return Ending.OK


def side_by_side(
    jobs: list[tuple[str, Callable]], on_stop: Callable[[], None] = lambda: None, grace_s: float | None = None
) -> tuple[list, bool]:
    """Each job (a thread name, and a callable given the stop event) in a thread of its
    own: their results in order, and whether Ctrl-C stopped them. Ctrl-C in the main
    thread, or a job that raises, sets the stop event and calls `on_stop` once; the jobs
    are then waited for (`grace_s` at most, where given: a result not in by then is
    None). A job that raised is raised here once the others have ended."""
    stop = threading.Event()
    results: list = [None] * len(jobs)
    ended = [False] * len(jobs)
    failed: list[BaseException] = []

    def one(i, job):
        try:
            results[i] = job(stop)
        except BaseException as exc:  # a bug, not a case's error: stop the others, raise it here
            failed.append(exc)
            stop.set()
        finally:
            ended[i] = True

    # A signal while the threads start is held until all have started: one cut short
    # there would leave a started thread writing a run nobody waits for.
    with _deferred_signals() as pending:
        for i, (name, job) in enumerate(jobs):
            # a thread that may be given up on must not keep the process alive
            threading.Thread(target=one, args=(i, job), name=name, daemon=grace_s is not None).start()
    # Only flags and sleeps here, no Thread.join or is_alive: Ctrl-C inside those can mark
    # a live thread ended (Python 3.11, bpo-45274), and the launch would close runs that
    # are still being written.
    interrupted, stopping = bool(pending), False
    deadline = None
    while True:
        try:
            if interrupted:
                stop.set()
                hold_signals()
            if stop.is_set() and not stopping:
                stopping = True
                deadline = time.monotonic() + grace_s if grace_s is not None else None
                # A Ctrl-C must not cut on_stop short (it is called once); after a job that
                # failed, the handlers come back once the jobs have ended.
                handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
                hold_signals()
                on_stop()
            if all(ended) or (deadline is not None and time.monotonic() > deadline):
                break
            time.sleep(POLL_S)
        except KeyboardInterrupt:  # the next round stops every job and holds further signals off
            interrupted = True
    if stopping and not interrupted and threading.current_thread() is threading.main_thread():
        for signum, handler in handlers.items():
            if handler is not None:
                signal.signal(signum, handler)
    if failed:
        raise failed[0]
    return results, interrupted


@contextmanager
def _deferred_signals():
    """Ctrl-C and SIGTERM noted, not raised, inside the block; yields the list of those
    that came (one ignored before, as in a background job, stays ignored)."""
    pending: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield pending
        return
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(signum)
        if handler is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, lambda n, frame: pending.append(n))
    try:
        yield pending
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def hold_signals() -> None:
    """After the first Ctrl-C or SIGTERM, ignore the next ones: what the run has must
    be marked interrupted and the resume command printed, however often a user (or a
    supervisor) repeats the signal. The CLI puts the handlers back when it returns.
    Only the main thread may set handlers; the sweep threads leave it to it."""
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
