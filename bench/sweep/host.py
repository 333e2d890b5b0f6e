"""Every GPU of one host at once. The sweep's (model, dtype) groups are dealt out over
the GPUs so that they finish close together; each GPU gets a run folder of its own (an
ordinary run, so tables, compare and docs read it unchanged), and all are driven side by
side, each by its own runner and worker, with one progress display. Ctrl-C stops them
all; a resume of any one of the runs resumes them all."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from pathlib import Path

from bench.errors import BadInput
from bench.record.case import Case
from bench.record.sections import HostSection
from bench.sweep.config import Sweep
from bench.sweep.plan import Plan, make_plan, resume_plan

Key = tuple[str, str]  # (model, dtype): what one worker measures


def host_devices(sweep: Sweep) -> list[str] | None:
    """The GPUs a sweep asks for, or None for a sweep on one device."""
    if sweep.devices:
        return list(sweep.devices)
    if sweep.device != "all":
        return None
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if not count:
        raise BadInput(
            sweep.source or "<sweep>", "device", "all asks for every GPU, but torch sees none here"
        )
    return [f"cuda:{i}" for i in range(count)]


def key(case: Case) -> Key:
    return (case.model, case.dtype)


def group_costs(cases: list[Case], previous: dict[str, float] | None = None) -> dict[Key, float]:
    """What each group should take: the seconds its cases took in a previous run (a case
    that run lacks counts as the mean of those it has), else its number of cases."""
    groups: dict[Key, list[Case]] = {}
    for c in cases:
        groups.setdefault(key(c), []).append(c)
    if not previous:
        return {k: float(len(v)) for k, v in groups.items()}
    mean = sum(previous.values()) / len(previous)
    return {k: sum(previous.get(c.case_id, mean) for c in v) for k, v in groups.items()}


def deal(costs: dict[Key, float], devices: list[str]) -> dict[str, list[Key]]:
    """The longest group first, each to the GPU with the least work so far (the first
    such GPU on a tie): within 4/3 of the best possible finish."""
    load = {d: 0.0 for d in devices}
    dealt: dict[str, list[Key]] = {d: [] for d in devices}
    for k in sorted(costs, key=lambda k: (-costs[k], k)):
        d = min(devices, key=lambda d: load[d])
        dealt[d].append(k)
        load[d] += costs[k]
    return dealt


def previous_times(run_dirs: list[str | Path]) -> dict[str, float]:
    """Seconds per case_id in earlier runs: setup, calls and quality, as each record says."""
    from bench.record.store import open_run

    times: dict[str, float] = {}
    for run_dir in run_dirs:
        for r in open_run(run_dir).records:
            spent = sum(x or 0 for x in (r.setup_s, r.measure_s, r.quality_s))
            if spent:
                times[r.case_id] = spent
    return times


def plans(
    sweep: Sweep, devices: list[str], previous: dict[str, float] | None, resolve=True, trust_code=False
) -> list[Plan]:
    """One plan per GPU, each with the groups dealt to it (a GPU dealt none gets no plan)."""
    first = make_plan(
        dataclasses.replace(sweep, device=devices[0], devices=None), resolve=resolve, trust_code=trust_code
    )
    dealt = deal(group_costs(first.cases, previous), devices)
    out = []
    for device in devices:
        if not dealt[device]:
            continue
        if device == devices[0]:
            plan = first
        else:  # the same weights as the first: looked for once
            plan = make_plan(
                dataclasses.replace(sweep, device=device, devices=None), resolve, first.weights, trust_code
            )
        keys = set(dealt[device])
        plan.cases = [c for c in plan.cases if key(c) in keys]
        out.append(plan)
    return out


def assigned(plan: Plan) -> list[list[str]]:
    return [list(k) for k in dict.fromkeys(key(c) for c in plan.cases)]


def resume_plans(run_dir: str | Path, dry_run: bool = False, trust_code: bool = False) -> list[Plan]:
    """The plans that continue a host run: every run of it, found beside `run_dir`."""
    from bench.record.store import open_run

    run_dir = Path(run_dir)
    host = open_run(run_dir).meta.host or HostSection()
    siblings = [run_dir.parent / run_id for run_id in host.runs or []]  # plain names (bench.record.sections)
    for sibling in siblings:  # every one checked before any is planned
        if sibling.is_symlink():
            raise BadInput(
                sibling, None, "is a symbolic link; the runs of a host sweep are folders side by side"
            )
        if not (sibling / "meta.json").exists():
            raise BadInput(sibling, None, f"a run of this host sweep is missing (expected beside {run_dir})")
    out = []
    for sibling in siblings:
        sibling_host = open_run(sibling).meta.host or HostSection()
        plan = resume_plan(sibling, None, resolve=not dry_run, trust_code=trust_code)
        out.append(only_assigned(plan, sibling_host))
    return out


def only_assigned(plan: Plan, host: HostSection) -> Plan:
    groups = {tuple(k) for k in host.assigned or []}
    if groups:
        plan.cases = [c for c in plan.cases if key(c) in groups]
    return plan


def others_on(devices: list[str], load: bool = True) -> dict:
    """What else is on the host before our workers start or after they end: per GPU, the
    processes NVML sees using it, and the load average (`load`; at the end it holds the
    sweep's own load, so it is left out there)."""
    from bench.measure.environment import gpu_processes

    seen: dict = {"loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None} if load else {}
    seen["gpu_processes"] = {d: gpu_processes(int(d.split(":")[1])) for d in devices if d.startswith("cuda:")}
    return seen


class _Tagged:
    """One run's view of the shared display: its events, tagged with its GPU."""

    def __init__(self, progress, lock: threading.Lock, device: str):
        self.progress, self.lock, self.device = progress, lock, device

    def __call__(self, event, case, record):
        with self.lock:
            self.progress(event, case, record, tag=self.device)

    def close(self):
        pass  # the host closes the display once every run has ended


def run_side_by_side(parts, progress) -> list:
    """Each (plan, writer) swept in a thread of its own; Ctrl-C (in the main thread)
    stops every one, keeping what each stored. The outcomes, in the order of `parts`."""
    from bench.sweep import runner

    stop = threading.Event()
    lock = threading.Lock()
    outcomes: list = [None] * len(parts)
    failed: list[BaseException] = []

    def one(i, plan, writer):
        view = _Tagged(progress, lock, plan.device)
        try:
            outcomes[i] = runner.sweep(plan, writer, lambda total, done: view, stop=stop)
        except BaseException as exc:  # a bug, not a case's error: stop the others, raise it here
            failed.append(exc)
            stop.set()

    threads = [
        threading.Thread(target=one, args=(i, *part), name=f"sweep-{part[0].device}")
        for i, part in enumerate(parts)
    ]
    for t in threads:
        t.start()
    try:
        while any(t.is_alive() for t in threads):
            time.sleep(0.1)
    except KeyboardInterrupt:
        runner.hold_signals()
        stop.set()
        for t in threads:
            t.join()
    finally:
        progress.close()
    if failed:
        raise failed[0]
    return outcomes
