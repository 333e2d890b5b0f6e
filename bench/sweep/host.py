"""Every GPU of one host at once. The sweep's (model, dtype) groups are dealt out over
the GPUs so that they finish close together; each GPU gets a run folder of its own (an
ordinary run, so tables, compare and docs read it unchanged), and all are driven side by
side, each by its own runner and worker, with one progress display (the `Host`
launcher: the local one's, with the host's section of meta.json kept). Ctrl-C stops them
all; a resume of any one of the runs resumes them all."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from bench.errors import BadInput
from bench.record.case import Case
from bench.record.sections import HostSection
from bench.record.store import META, Run, open_run
from bench.sweep.config import Sweep
from bench.sweep.launch import Part
from bench.sweep.local import Local
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


def resume_plans(run: Run, dry_run: bool = False, trust_code: bool = False) -> list[tuple[Plan, Run]]:
    """The plans that continue a host run, each with its run as read (once; `run`, the
    one named, is one of them): every run of the sweep, found beside `run`."""
    host = run.meta.host or HostSection()
    siblings = [run.path.parent / run_id for run_id in host.runs or []]  # plain names (bench.record.sections)
    for sibling in siblings:  # every one checked before any is planned
        if sibling.is_symlink():
            raise BadInput(
                sibling, None, "is a symbolic link; the runs of a host sweep are folders side by side"
            )
        if not (sibling / META).exists():
            raise BadInput(sibling, None, f"a run of this host sweep is missing (expected beside {run.path})")
    out = []
    for sibling in siblings:
        stored = run if sibling.name == run.path.name else open_run(sibling)
        plan = resume_plan(stored, None, resolve=not dry_run, trust_code=trust_code)
        out.append((only_assigned(plan, stored.meta.host or HostSection()), stored))
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


class Host(Local):
    """The runs of one sweep on several GPUs of this host, side by side."""

    several = True

    def __init__(self, parts: list[Part], out: Path | None = None, dealt_by: str | None = None):
        super().__init__(parts, out)
        self.dealt_by = dealt_by
        self.devices = [p.plan.device for p in parts]

    @classmethod
    def starting(
        cls, sweep: Sweep, devices: list[str], times_from: list[str] | None, out: Path, **plan
    ) -> Host:
        """A new host sweep: its groups dealt by the case times of `times_from`, else by case count."""
        previous = previous_times(times_from) if times_from else None
        dealt_by = "the case times of " + ", ".join(times_from) if times_from else "case count"
        parts = [Part(p.named, p) for p in plans(sweep, devices, previous, **plan)]
        return cls(parts, out, dealt_by)

    @classmethod
    def resuming(cls, run: Run, dry_run: bool = False, trust_code: bool = False) -> Host:
        """The rest of the host sweep `run` is one run of (as read: it is not read again)."""
        return cls(
            [Part(plan.named, plan, stored) for plan, stored in resume_plans(run, dry_run, trust_code)]
        )

    def open(self) -> None:
        super().open()
        seen = others_on(self.devices)
        runs = [p.writer.dir.name for p in self.parts]
        for part in self.parts:
            meta = part.writer.meta
            if part.stored is not None:
                meta.host = dataclasses.replace(meta.host or HostSection(), at_resume=seen)
            else:
                meta.host = HostSection(
                    devices=self.devices,
                    runs=runs,
                    assigned=assigned(part.plan),
                    dealt_by=self.dealt_by,
                    at_start=seen,
                )
            part.writer.save_meta()

    def ended(self) -> None:
        # what else is on the GPUs once ours have let go: a job that came during the sweep
        # and stayed shows here
        seen = others_on(self.devices, load=False)
        for part in self.parts:
            part.writer.meta.host = dataclasses.replace(part.writer.meta.host or HostSection(), at_end=seen)
            part.writer.save_meta()
