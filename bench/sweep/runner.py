"""Run a plan into a run folder: hand each (model, dtype) group to a worker process
and store every finished case at once.

A worker that dies costs its case in flight, recorded as `error`, and a fresh worker
takes the rest of the group. Ctrl-C (or SIGTERM, which the CLI turns into Ctrl-C; the
launcher, bench.sweep.launch, passes it on as `stop`) stops the worker and leaves every
finished case stored; a resume then runs only what is missing.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable

from bench.measure import threads
from bench.measure.environment import host_load
from bench.record.case import Case
from bench.record.figures import Memory
from bench.record.run import CaseRecord
from bench.record.store import RunWriter
from bench.sweep import timeline, worker
from bench.sweep.launch import Outcome, hold_signals
from bench.sweep.plan import Plan, device_type


class Interrupted(Exception):
    """The user stopped the sweep; what finished is stored."""


def describe_exit(code: int | None) -> str:
    if code is None:
        return "worker stopped answering"
    if code < 0:
        try:
            return f"worker died: killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"worker died: signal {-code}"
    return f"worker died: exit status {code}"


# diffusers asks torch at import which accelerator the host has (`torch_device` in
# diffusers.utils.torch_utils), and torch's default answer initialises the CUDA driver,
# after which every process forked from the server fails its first CUDA call ("Cannot
# re-initialize CUDA in forked subprocess"). Asked through NVML, the same question
# leaves the server clean. The server inherits this from our environment when it starts.
SERVER_ENV = {"PYTORCH_NVML_BASED_CUDA_CHECK": "1"}
PRELOAD = [
    "bench.sweep.server",
    "torch",
    "diffusers",
    "bench.sweep.worker",
    "bench.models.build",
    "bench.measure.driver",
    "bench.measure.cpu",
    "bench.measure.cuda",
    "bench.measure.nvml",
]
_CONTEXT = None


def _context():
    """Workers fork from a server process that has imported torch and diffusers once
    (and never initialised CUDA): a fresh worker starts in a fraction of a second instead
    of paying those imports every time, and still shares nothing with the runner."""
    global _CONTEXT
    if _CONTEXT is None:
        for name, value in SERVER_ENV.items():
            os.environ.setdefault(name, value)
        _CONTEXT = mp.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(PRELOAD)
    return _CONTEXT


_SERVER_FOR: str | None = None  # "cpu" or "cuda": the runs the started server's environment suits
_ENV_SET: dict[str, str] = {}  # what this process put into its environment for that server
_SERVER_LOCK = threading.Lock()


def _server_env(kind: str) -> None:
    """The environment workers of `kind` start with: on the CPU, OpenMP threads that
    sleep while they wait (bench.measure.threads), unless the user set otherwise."""
    for name in _ENV_SET:
        os.environ.pop(name, None)
    _ENV_SET.clear()
    if kind == "cpu":
        for name, value in threads.CPU_ENV.items():
            if name not in os.environ:
                os.environ[name] = _ENV_SET[name] = value


def start_server(kind: str) -> None:
    """Start the fork server for runs on `kind` ("cpu" or "cuda") now rather than with
    the first worker: its imports of torch and diffusers (seconds) then run beside the
    planning's own, on another core. A server started for the other kind (a guess
    that was wrong) is stopped first: its OpenMP read its settings as it started."""
    global _SERVER_FOR
    with _SERVER_LOCK:  # the runners of a host sweep start side by side
        ctx = _context()
        if _SERVER_FOR == kind:
            return
        _server_env(kind)
        _SERVER_FOR = kind
        if ctx.get_start_method() != "forkserver":
            return
        from multiprocessing import forkserver

        stop = getattr(forkserver._forkserver, "_stop", None)  # not public: where it exists
        if stop is None:
            _start_by_spawn()  # fresh interpreters take the environment as it is now
            return
        stop()  # none running: nothing to do
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # as in _Worker
        try:
            forkserver.ensure_running()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _start_by_spawn() -> None:
    """Used when a forked worker finds CUDA unusable (something the server imported
    initialised it after all): every later worker starts as a fresh interpreter, which
    costs the imports each time but always works."""
    global _CONTEXT
    _CONTEXT = mp.get_context("spawn")


class _Worker:
    """One worker process and our end of its pipe."""

    def __init__(self, job: worker.Job):
        ctx = _context()
        self.conn, child = ctx.Pipe()
        watch, self.lifeline = ctx.Pipe(duplex=False)  # never written: it closes when we die
        self.proc = ctx.Process(target=worker.main, args=(child, job, watch), daemon=True)
        # The fork server starts with the first worker: with SIGINT blocked until it
        # ignores it (bench.sweep.server), a Ctrl-C cannot kill it as it starts.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self.proc.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        child.close()
        watch.close()

    def receive(self, stop=None):
        """The next message, or None when the worker died first; Interrupted once `stop`
        (a threading.Event) is set (the case in flight is not recorded: it runs on
        resume)."""
        while True:
            if stop is not None and stop.is_set():
                raise Interrupted()
            try:
                if self.conn.poll(0.1):
                    return self.conn.recv()
            except (EOFError, OSError):
                return None
            if not self.proc.is_alive():
                try:
                    return self.conn.recv() if self.conn.poll(0) else None
                except (EOFError, OSError):
                    return None

    def send(self, msg) -> bool:
        try:
            self.conn.send(msg)
            return True
        except (BrokenPipeError, OSError):
            return False

    def stop(self, kill: bool = False) -> None:
        if self.proc.is_alive() and not kill:
            self.send(("stop",))
            self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()
        self.conn.close()
        self.lifeline.close()

    def exit_reason(self) -> str:
        self.proc.join(5)
        return describe_exit(self.proc.exitcode)


class Runner:
    """Runs the plan's cases that are not `done`, storing each one in `writer`."""

    def __init__(
        self,
        plan: Plan,
        writer: RunWriter,
        done: set[str] | None = None,
        progress: Callable | None = None,
        stop=None,
    ):
        self.plan = plan
        self.stop = stop  # a threading.Event: the launcher's Ctrl-C (a launch runs the runner in a thread)
        self.writer = writer
        self.done = set(done or ())
        self.progress = progress
        self.current: _Worker | None = None
        self.workers: list[dict] = []  # started by this runner
        self.records: list[CaseRecord] = []  # stored by this runner
        # Seconds of this process's own work between the workers' (time_spent):
        # storing records, stopping workers, cases in transit, meta.json and load samples.
        self.spent = {"records_s": 0.0, "worker_stop_s": 0.0, "transfer_s": 0.0, "bookkeeping_s": 0.0}

    def todo(self) -> list[Case]:
        return [c for c in self.plan.cases if c.case_id not in self.done]

    def run(self) -> None:
        """Every case not done. Ctrl-C kills the worker, holds further signals off and
        raises Interrupted."""
        try:
            start_server(device_type(self.plan.device))
            for group in _groups(self.todo()):
                self._run_group(group)
        except (KeyboardInterrupt, Interrupted):
            hold_signals()
            if self.current is not None:
                self.current.stop(kill=True)
            raise Interrupted() from None
        finally:
            self.current = None

    def _job(self, case: Case) -> worker.Job:
        s = self.plan.sweep
        return worker.Job(
            spec=self.plan.specs[case.model],
            weights=self.plan.weights[case.model],
            device=self.plan.device,
            dtype=case.dtype,
            warmup=s.warmup,
            repeats=s.repeats,
            protocol=self.plan.protocol,
            memory_metric=s.memory_metric,
            quality=s.quality,
            trust_code=self.plan.trust_code,
            threads=s.threads,
        )

    def _finish(self, record: CaseRecord) -> None:
        t0 = time.perf_counter()
        self.writer.append(record)
        self.records.append(record)
        self.done.add(record.case_id)
        if self.progress:
            self.progress("done", record.case, record)
        self.spent["records_s"] += time.perf_counter() - t0

    def _stop(self, w: _Worker, kill: bool = False) -> None:
        t0 = time.perf_counter()
        w.stop(kill=kill)
        self.spent["worker_stop_s"] += time.perf_counter() - t0

    def _failed(self, job: worker.Job, case: Case, reason: str, started: str, ready=None) -> CaseRecord:
        mem = Memory(total=ready.total, metric=ready.metric) if ready is not None else Memory()
        return worker.record(job, case, "error", started, error=reason, mem=mem)

    def _ready(self, case: Case, ready: worker.Ready, spawned_at: float) -> None:
        """What only the worker can tell (the CUDA device, the model's size, how long it
        took to start) goes into meta.json."""
        meta = self.writer.meta
        meta.device = {**meta.device, **ready.device, **ready.threads, "device": self.plan.device}
        meta.models.setdefault(case.model, {})["params"] = ready.params
        meta.add_warnings(ready.warnings)
        start = {"model": case.model, "dtype": case.dtype, "start_to_ready_s": ready.ready_at - spawned_at}
        self.workers.append({**start, "build_s": ready.build_s, "pid": ready.pid, **ready.threads})
        meta.workers.append(self.workers[-1])
        t0 = time.perf_counter()
        self.writer.save_meta()
        self.spent["bookkeeping_s"] += time.perf_counter() - t0

    def _run_group(self, group: list[Case]) -> None:
        pending = list(group)
        job = self._job(pending[0])
        while pending:
            spawned_at = time.time()
            w = self.current = _Worker(job)
            started = worker.now()
            msg = w.receive(self.stop)
            if msg is not None and msg[0] == "bad_fork":
                self._stop(w, kill=True)
                self.writer.meta.add_warnings([msg[1]])
                _start_by_spawn()
                continue
            if msg is None or msg[0] != "ready":
                reason = msg[1] if msg is not None else w.exit_reason() + " while building the model"
                self._stop(w, kill=True)
                for case in pending:
                    self._finish(self._failed(job, case, reason, started))
                return
            ready = msg[1]
            self._ready(pending[0], ready, spawned_at)
            while pending:
                case = pending[0]
                if self.progress:
                    t0 = time.perf_counter()
                    self.progress("start", case, None)
                    self.spent["records_s"] += time.perf_counter() - t0
                started = worker.now()
                t0 = time.perf_counter()
                reply = w.receive(self.stop) if w.send(("case", case)) else None
                pending.pop(0)
                if reply is None:
                    self._finish(self._failed(job, case, w.exit_reason(), started, ready))
                    self._stop(w, kill=True)
                    break  # a fresh worker takes the rest
                r = reply[1]
                in_worker = sum(x or 0 for x in (r.setup_s, r.measure_s, r.quality_s))
                self.spent["transfer_s"] += max(0.0, time.perf_counter() - t0 - in_worker)
                self._finish(r)
            else:
                self._stop(w)
            self.current = None


def _groups(cases: list[Case]) -> list[list[Case]]:
    groups: dict[tuple[str, str], list[Case]] = {}
    for c in cases:
        groups.setdefault((c.model, c.dtype), []).append(c)
    return list(groups.values())


def sweep(plan: Plan, writer: RunWriter, progress: Callable | None = None, stop=None) -> Outcome:
    """Run what the run folder lacks, with its lock held, and mark in meta.json how the
    sweep ended and where its time went. A resume of a complete run changes nothing.
    `progress` is told of each case (see bench.sweep.progress); `stop` (a
    threading.Event) ends the sweep as Ctrl-C does, from another thread."""
    t0 = time.perf_counter()
    timeline.planned()
    done = writer.done_ids()
    todo = [c for c in plan.cases if c.case_id not in done]
    meta = writer.meta
    if plan.resume is not None and not todo:
        if meta.status != "complete":
            meta.status, meta.ended_at = "complete", worker.now()
            writer.save_meta()
        return Outcome("complete", len(plan.cases), len(plan.cases), 0)
    if plan.resume is not None:
        meta.status = "running"
        meta.resumed_at.append(worker.now())
    runner = Runner(plan, writer, done=done, progress=progress, stop=stop)
    booked = time.perf_counter()
    meta.load.append(host_load(plan.device, "start" if plan.resume is None else "resume", worker.now()))
    meta.add_warnings(plan.warnings)
    writer.save_meta()
    runner.spent["bookkeeping_s"] += time.perf_counter() - booked
    status = "complete"
    try:
        runner.run()
    except (Interrupted, KeyboardInterrupt):
        hold_signals()  # a second Ctrl-C must not cut this short
        status = "interrupted"
    booked = time.perf_counter()
    meta.status, meta.ended_at = status, worker.now()
    meta.load.append(host_load(plan.device, "end", meta.ended_at))
    runner.spent["bookkeeping_s"] += time.perf_counter() - booked
    spent = time_spent(time.perf_counter() - t0, runner)
    meta.time_spent.append(spent)
    writer.save_meta()
    stored = len(runner.done & {c.case_id for c in plan.cases})
    return Outcome(status, len(plan.cases), stored, len(runner.records), spent)


def time_spent(wall_s: float, runner: Runner) -> dict:
    """Where a sweep's wall time went (ARCHITECTURE.md, meta.json's `time_spent`): in
    the workers the calls (`first_calls_s` and `warmup_s` their shares before the
    timed ones), the measuring between them, setup, quality, start and builds; here
    storing records, cases in transit, stopping workers, meta.json and load samples;
    `other_s`, what none of these covers."""
    records = runner.records
    calls = sum((r.warmup_s or 0) + sum(r.samples) for r in records)
    measured = sum(r.measure_s or 0 for r in records)
    quality = sum(r.quality_s or 0 for r in records)
    builds = sum(w["build_s"] for w in runner.workers)
    parts = {
        "calls_s": calls,
        "between_calls_s": max(0.0, measured - calls),
        "setup_s": sum(r.setup_s or 0 for r in records),
        "worker_start_s": sum(w["start_to_ready_s"] for w in runner.workers) - builds,
        "model_build_s": builds,
        **runner.spent,
    }
    if quality:
        parts["quality_s"] = quality
    other = wall_s - sum(parts.values())
    firsts = sum(r.first_call_s or 0 for r in records)
    warmup = sum(r.warmup_s or 0 for r in records) - firsts
    return {"wall_s": wall_s, **parts, "other_s": other, "first_calls_s": firsts, "warmup_s": warmup}
