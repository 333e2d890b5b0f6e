"""Every run of one device in a results folder, ordered by start time: one line per
case with its median time (or memory peak) in each run, and the run where a step
change begins. Reads only from the store.

A step begins at run k when, against the median of the runs before k, run k is
beyond the factor and so are the median of runs k, k+1, ... and the median of the
runs after k (one slow run that comes back is no step); the largest such step is
reported. A status change (ok -> oom or error, or back) is a step too.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import InvalidVersion, Version
from tabulate import tabulate

from bench.analysis.compare import (
    CPU_FACTOR,
    GPU_FACTOR,
    MIB,
    NOT_OK,
    beyond,
    check_factor,
    environment_differences,
)
from bench.analysis.summary import seconds
from bench.errors import BadInput, shown
from bench.record import layer
from bench.record.case import parse_size
from bench.record.run import CaseRecord
from bench.record.store import Run, find_runs, oldest_first

METRICS = ("time", "memory")
UNITS = {"time": "median time (s)", "memory": "peak memory (MiB)"}


@dataclass
class Step:
    index: int  # the run where it begins
    change: str  # "x1.32" or "ok -> oom"
    ratio: float | None = None  # after / before, for a step of the figure


@dataclass
class Series:
    case_id: str
    label: str
    values: list[float | None]  # one per run; None: not measured there or not ok
    statuses: list[str | None]  # None: the case is not in that run
    step: Step | None = None
    model: str = ""
    op: str = ""

    @property
    def setting(self) -> str:
        """The label without its model and op, which a plot's panel names."""
        head = f"{self.model} {self.op} "
        return self.label[len(head) :] if self.label.startswith(head) else self.label


@dataclass
class History:
    root: Path
    device_label: str
    runs: list[Run]
    metric: str
    factor: float
    series: list[Series]
    other_devices: dict[str, int] = field(default_factory=dict)  # name -> runs left out
    by: str | None = None  # the package whose version orders the runs (None: their start)
    versions: list[str] = field(default_factory=list)  # that package's version in each run
    unversioned: int = 0  # runs left out for want of a version of `by`

    def when(self, i: int) -> str:
        """How the x axis names run i: its version of `by`, or its start time."""
        if self.by:
            return self.versions[i]
        run = self.runs[i]
        return (run.meta.started_at or run.run_id)[:16].replace("T", " ")


def _pick_device(runs: list[Run], device: str | None) -> tuple[str, list[Run]]:
    names = list(dict.fromkeys(r.device_label for r in runs))
    if device is None:
        chosen = runs[-1].device_label  # the device of the newest run
    else:
        # by label, by the driver's name of a labelled run's card, or by cuda:N / cpu
        matches = [
            r.device_label
            for r in runs
            if device.lower() in r.device_label.lower()
            or device.lower() in r.device_name.lower()
            or r.device_kind == device
        ]
        matches = list(dict.fromkeys(matches))
        exact = [n for n in matches if n.lower() == device.lower()]
        matches = exact or matches  # "RTX 4090" beside "RTX 4090 (300 W)"
        if not matches:
            raise BadInput(None, "--device", f"no run of {shown(device)}; devices here: {', '.join(names)}")
        if len(matches) > 1:
            raise BadInput(None, "--device", f"{shown(device)} matches several devices: {', '.join(matches)}")
        chosen = matches[0]
    return chosen, [r for r in runs if r.device_label == chosen]


def history(
    root: str | Path,
    model: str | None = None,
    op: str | None = None,
    device: str | None = None,
    metric: str = "time",
    factor: float | None = None,
    last: int | None = None,
    size: str | None = None,
    by: str | None = None,
    runs: list[Run] | None = None,
) -> History:
    """`runs`: the runs already read (the report's), instead of those below `root`.
    `size`: `1024` or `1024x768`, the image size (a video case of any frame count).
    `by`: a package (diffusers, torch, one a layer held): the runs in the order of its
    version, as `vae-bench matrix` and `bisect` make them, not of their start."""
    if metric not in METRICS:
        raise BadInput(None, "--metric", f"must be one of {', '.join(METRICS)} (got {shown(metric)})")
    wh = parse_size(size) if size else None
    all_runs = find_runs(root) if runs is None else oldest_first(runs)
    name, runs = _pick_device(all_runs, device)
    versions: list[str] = []
    unversioned = 0
    if by:
        runs, versions, unversioned = _by_version(runs, by)
    if last:
        versions = versions[-last:]
        runs = runs[-last:]
    others: dict[str, int] = {}
    for r in all_runs:
        if r.device_label != name:
            others[r.device_label] = others.get(r.device_label, 0) + 1
    if factor is None:
        factor = GPU_FACTOR if all(r.is_gpu for r in runs) else CPU_FACTOR
    else:
        check_factor(factor)

    by_case: dict[str, Series] = {}
    for i, run in enumerate(runs):
        for r in run.records:
            if (model and r.case.model != model) or (op and r.case.op != op):
                continue
            if wh and (r.case.width, r.case.height) != wh:
                continue
            s = by_case.get(r.case_id)
            if s is None:
                s = by_case[r.case_id] = Series(
                    r.case_id,
                    r.label,
                    [None] * len(runs),
                    [None] * len(runs),
                    model=r.case.model,
                    op=r.case.op,
                )
            s.statuses[i] = r.status
            s.values[i] = _value(r, metric)
    if not by_case:
        wanted = " ".join(f"{k} {v}" for k, v in (("model", model), ("op", op), ("size", size)) if v)
        raise BadInput(root, None, f"no case{' of ' + wanted if wanted else ''} in the runs of {name}")
    series = list(by_case.values())
    for s in series:
        s.step = find_step(s.values, s.statuses, factor)
    return History(Path(root), name, runs, metric, factor, series, others, by, versions, unversioned)


def package_version(run: Run, package: str) -> str | None:
    """The version of `package` a run recorded: the environment's own field (torch,
    diffusers, huggingface_hub) or what its layer held; a layer's commit is added."""
    env = run.meta.environment
    found = layer.from_environment(env)
    version = env.get(package) if isinstance(env.get(package), str) else None
    held = found.version(package) if found is not None else None
    if held is not None:
        version = held + (f" ({found.commit[:10]})" if found.commit else "")
    return version


def _by_version(runs: list[Run], by: str) -> tuple[list[Run], list[str], int]:
    pairs = [(run, v) for run in runs if (v := package_version(run, by)) is not None]
    if not pairs:
        raise BadInput(None, "--by", f"no run of this device recorded a version of {shown(by)}")

    def order(pair):
        text = pair[1].split()[0]
        try:
            return (0, Version(text), pair[0].meta.started_at or "")
        except InvalidVersion:
            return (1, text, pair[0].meta.started_at or "")

    pairs.sort(key=order)
    return [r for r, _ in pairs], [v for _, v in pairs], len(runs) - len(pairs)


def _value(record: CaseRecord, metric: str) -> float | None:
    if metric == "time":
        return record.median
    return None if record.peak is None else record.peak / MIB


def find_step(values: list[float | None], statuses: list[str | None], factor: float) -> Step | None:
    present = [(i, s) for i, s in enumerate(statuses) if s is not None]
    for (_, a), (j, b) in zip(present, present[1:], strict=False):
        if (a == "ok" and b in NOT_OK) or (a in NOT_OK and b == "ok"):
            return Step(j, f"{a} -> {b}")
    points = [(i, v) for i, v in enumerate(values) if v]
    best: tuple[float, Step] | None = None
    for k in range(1, len(points)):
        before = statistics.median(v for _, v in points[:k])
        after = statistics.median(v for _, v in points[k:])
        ratio, first = after / before, points[k][1] / before
        rest = statistics.median(v for _, v in points[k + 1 :]) / before if k + 1 < len(points) else first
        if not all(beyond(r, factor) and (r > 1) == (ratio > 1) for r in (ratio, first, rest)):
            continue
        size = abs(math.log(ratio))
        if best is None or size > best[0]:
            best = (size, Step(points[k][0], f"x{ratio:.2f}", ratio))
    return best[1] if best else None


def _cell(value: float | None, status: str | None, metric: str) -> str:
    if status is None:
        return "-"
    if status != "ok":
        return status.upper() if status == "oom" else status
    if value is None:
        return "n/a"
    return seconds(value) if metric == "time" else f"{value:.0f}"


def as_data(h: History) -> dict:
    """The history for a machine: time in seconds, memory in bytes."""
    scale = 1 if h.metric == "time" else MIB
    return {
        "device": h.device_label,
        "metric": h.metric,
        "unit": "s" if h.metric == "time" else "bytes",
        "factor": h.factor,
        "by": h.by,
        "runs": [
            {"run_id": r.run_id, "started_at": r.meta.started_at, **({h.by: h.versions[i]} if h.by else {})}
            for i, r in enumerate(h.runs)
        ],
        "cases": [
            {
                "case_id": s.case_id,
                "case": s.label,
                "values": [None if v is None else v * scale for v in s.values],
                "statuses": s.statuses,
                "step": None
                if s.step is None
                else {
                    "run_id": h.runs[s.step.index].run_id,
                    "ratio": s.step.ratio,
                    "status_change": None if s.step.ratio is not None else s.step.change,
                },
            }
            for s in h.series
        ],
    }


def render(h: History) -> str:
    headers = ["case", *[f"#{i}" for i in range(1, len(h.runs) + 1)], "step"]
    rows = []
    for s in h.series:
        cells = [_cell(v, st, h.metric) for v, st in zip(s.values, s.statuses, strict=True)]
        if s.step:
            cells[s.step.index] = "*" + cells[s.step.index]
        step = f"at #{s.step.index + 1}: {s.step.change}" if s.step else "-"
        rows.append([s.label, *cells, step])
    order = f"by {h.by} version" if h.by else "oldest first"
    lines = [f"{h.device_label}: {len(h.runs)} run(s) in {h.root}, {order}; {UNITS[h.metric]}"]
    if h.unversioned:
        lines.append(f"left out: {h.unversioned} run(s) that recorded no version of {h.by}")
    if h.other_devices:
        lines.append(
            "left out, other devices (choose with --device): "
            + ", ".join(f"{n} ({c} run{'s' if c > 1 else ''})" for n, c in h.other_devices.items())
        )
    lines += ["", tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True), ""]
    lines.append(
        f"* marks the run where a step change begins: beyond x{h.factor:.2f} of the median of the "
        "runs before it, and the runs after it stay beyond"
    )
    for i, run in enumerate(h.runs, 1):
        env = run.meta.environment
        line = (
            f"#{i} {run.run_id}  started {run.meta.started_at or '-'}  "
            f"torch {env.get('torch', '-')}  diffusers {env.get('diffusers', '-')}"
        )
        if h.by and h.by not in ("torch", "diffusers"):
            line += f"  {h.by} {h.versions[i - 1]}"
        if i > 1:
            changed = environment_differences(h.runs[i - 2].meta, run.meta)
            if changed:
                line += "  changed: " + "; ".join(
                    f"{w} {_or_dash(a)} -> {_or_dash(b)}" for w, a, b in changed
                )
        lines.append(line)
    return "\n".join(lines)


def _or_dash(value) -> str:
    return "-" if value is None else str(value)
