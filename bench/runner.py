"""Run a sweep: check everything up front, then hand each (model, dtype) group to a
spawned worker process and stream every finished case to the sink at once.

A worker that dies costs its case in flight, recorded as `error`, and a fresh worker
takes the rest of the group. Ctrl-C (or SIGTERM) stops the worker and leaves every
finished case stored; `--resume` then runs only what is missing.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from bench import worker
from bench.cases import Case, expand
from bench.config import Sweep
from bench.errors import BadInput, shown
from bench.models import Weights, resolve_weights
from bench.registry import ModelSpec

GIB = 1024**3
RECORD_MEM_KEYS = (
    "peak_allocated",
    "peak_reserved",
    "nvml_peak_used",
    "nvml_baseline_used",
    "process_peak",
    "total",
    "percent",
    "metric",
)


class Interrupted(Exception):
    """The user stopped the sweep; what finished is stored."""


class Sink(Protocol):
    def append(self, record: dict) -> None: ...
    def worker_ready(self, model: str, info: dict) -> None: ...


@dataclass
class Plan:
    sweep: Sweep
    device: str
    device_name: str
    specs: dict[str, ModelSpec]
    weights: dict[str, Weights]
    cases: list[Case]
    warnings: list[str] = field(default_factory=list)


def resolve_device(sweep: Sweep) -> tuple[str, str, int | None]:
    """(device, its name, its total memory in bytes where known), or bad input when the
    sweep asks for a GPU that is not here."""
    # Make cuda:N mean what nvidia-smi and NVML call device N.
    os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    import torch

    where = sweep.source or "<sweep>"
    want = sweep.device
    if want == "cpu" or (want == "auto" and not torch.cuda.is_available()):
        if sweep.memory_metric not in ("auto", "process"):
            raise BadInput(
                where,
                "memory_metric",
                f"{shown(sweep.memory_metric)} needs a CUDA device; on cpu use auto or process",
            )
        from bench.measure.environment import cpu_name

        return "cpu", cpu_name(), os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if not torch.cuda.is_available():
        raise BadInput(
            where, "device", f"{shown(want)} asked for, but torch sees no CUDA device here; use auto or cpu"
        )
    index = int(want.split(":")[1]) if ":" in want else 0
    count = torch.cuda.device_count()
    if index >= count:
        raise BadInput(where, "device", f"{shown(want)} asked for, but only cuda:0..cuda:{count - 1} exist")
    from bench.measure.environment import gpu_summary

    # NVML, not torch: the runner must not make a CUDA context of its own on the card.
    summary = gpu_summary(index)
    name = summary.get("name") or torch.cuda.get_device_name(index)
    return f"cuda:{index}", name, summary.get("total_memory")


def plan(sweep: Sweep, resolve: bool = True, pinned: dict[str, Weights] | None = None) -> Plan:
    """Everything that can be wrong with a sweep is found here, before a run exists:
    the device, each model's class and config, cases that cannot fit the device, and
    weights that cannot be had.

    Without `resolve` (a dry run) weights are not looked for, so nothing is downloaded;
    `pinned` gives the weights of a run being resumed, which are not looked for again.
    """
    from bench.models import check_class
    from bench.workloads import io_bytes

    device, device_name, total = resolve_device(sweep)
    specs = sweep.specs()
    for spec in specs.values():
        check_class(spec)
    cases = expand(sweep, specs)
    if total:
        for case in cases:
            need = io_bytes(case, specs[case.model])
            if need > total:
                raise BadInput(
                    sweep.source or "<sweep>",
                    None,
                    f"{case.label}: its input and output alone take {need / GIB:.1f} GiB, more than "
                    f"the {total / GIB:.1f} GiB of {device_name}; leave out this resolution, frame "
                    "count or batch",
                )
    notes: list[str] = []
    weights = {name: Weights(sweep.weights) for name in specs}
    for name, spec in specs.items() if resolve else ():
        if pinned and name in pinned:
            weights[name] = pinned[name]
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            weights[name] = resolve_weights(spec, sweep.weights, where=f"{sweep.source}: weights")
        notes.extend(str(w.message) for w in caught)
    return Plan(sweep, device, device_name, specs, weights, cases, notes)


def make_record(plan: Plan, case: Case, outcome: dict, ready: dict | None) -> dict:
    """One cases.jsonl line, in the field order of DESIGN.md."""
    result = outcome.get("result") or {}
    mem = result.get("mem") or {k: None for k in RECORD_MEM_KEYS} | {
        "total": (ready or {}).get("total"),
        "metric": (ready or {}).get("metric"),
    }
    return {
        "case_id": case.case_id,
        "model": case.model,
        "weights": plan.weights[case.model].kind,
        "op": case.op,
        "height": case.height,
        "width": case.width,
        "frames": case.frames,
        "batch": case.batch,
        "dtype": case.dtype,
        "tiled": case.tiled,
        "tiling": case.tiling_dict,
        "device": plan.device,
        "status": outcome["status"],
        "error": outcome.get("error"),
        "warmup": plan.sweep.warmup,
        "repeats": plan.sweep.repeats,
        "first_call_s": result.get("first_call_s"),
        "time_s": result.get("time_s"),
        "mem": {k: mem.get(k) for k in RECORD_MEM_KEYS},
        "started_at": outcome["started_at"],
        "ended_at": outcome["ended_at"],
    }


def describe_exit(code: int | None) -> str:
    if code is None:
        return "worker stopped answering"
    if code < 0:
        try:
            return f"worker died: killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"worker died: signal {-code}"
    return f"worker died: exit status {code}"


class _Worker:
    """One spawned worker process and our end of its pipe."""

    def __init__(self, job: worker.Job):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=worker.main, args=(child, job), daemon=True)
        self.proc.start()
        child.close()

    def receive(self):
        """The next message, or None when the worker died first."""
        while True:
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

    def exit_reason(self) -> str:
        self.proc.join(5)
        return describe_exit(self.proc.exitcode)


class Runner:
    def __init__(
        self, plan: Plan, sink: Sink, done: set[str] | None = None, progress: Callable | None = None
    ):
        self.plan = plan
        self.sink = sink
        self.done = set(done or ())
        self.progress = progress
        self.current: _Worker | None = None

    def todo(self) -> list[Case]:
        return [c for c in self.plan.cases if c.case_id not in self.done]

    def run(self) -> None:
        """Every case not done. Ctrl-C (SIGTERM, which the CLI turns into Ctrl-C) kills
        the worker, holds further signals off and raises Interrupted."""
        try:
            for group in _groups(self.todo()):
                self._run_group(group)
        except KeyboardInterrupt:
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
            memory_metric=s.memory_metric,
        )

    def _finish(self, case: Case, outcome: dict, ready: dict | None) -> None:
        record = make_record(self.plan, case, outcome, ready)
        self.sink.append(record)
        self.done.add(case.case_id)
        if self.progress:
            self.progress("done", case, record)

    def _run_group(self, group: list[Case]) -> None:
        pending = list(group)
        while pending:
            w = self.current = _Worker(self._job(pending[0]))
            started = worker.now()
            msg = w.receive()
            if msg is None or msg[0] != "ready":
                reason = msg[1] if msg is not None else w.exit_reason() + " while building the model"
                w.stop(kill=True)
                for case in pending:
                    self._finish(
                        case,
                        {"status": "error", "error": reason, "started_at": started, "ended_at": worker.now()},
                        None,
                    )
                return
            ready = msg[1]
            self.sink.worker_ready(pending[0].model, ready)
            while pending:
                case = pending[0]
                if self.progress:
                    self.progress("start", case, None)
                started = worker.now()
                reply = w.receive() if w.send(("case", case.params())) else None
                pending.pop(0)
                if reply is None:
                    self._finish(
                        case,
                        {
                            "status": "error",
                            "error": w.exit_reason(),
                            "started_at": started,
                            "ended_at": worker.now(),
                        },
                        ready,
                    )
                    w.stop(kill=True)
                    break  # a fresh worker takes the rest
                self._finish(case, reply[1], ready)
            else:
                w.stop()
            self.current = None


def _groups(cases: list[Case]) -> list[list[Case]]:
    groups: dict[tuple[str, str], list[Case]] = {}
    for c in cases:
        groups.setdefault((c.model, c.dtype), []).append(c)
    return list(groups.values())


def hold_signals() -> None:
    """After the first Ctrl-C or SIGTERM, ignore the next ones: what the run has must
    be marked interrupted and the resume command printed, however often a user (or a
    supervisor) repeats the signal. The CLI puts the handlers back when it returns."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
