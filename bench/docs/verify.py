"""Does a run reproduce the published figures? For every cell of a page's tables that
the runs fill, the published figure beside ours and how far apart they are.

- On a device the page has: time and memory (as the page prints it, a percentage of
  the card) are compared cell by cell.
- On another device: memory only, in MiB. The allocator's peak hardly depends on the
  card, so ours is held against the median of the published cards' figures, each
  turned into MiB through configs/cards.yaml. Time on another card is not comparable.
- A run made in another setup than the block states (dtype, tiling knobs) is not
  compared at all: its cells say so.

A tolerance decides each cell (both default to 10%); times are printed to the
millisecond, so half a millisecond of rounding is allowed on top.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

from tabulate import tabulate

from bench.cards import card_mib, load_cards
from bench.docs.pages import block_table, find_blocks, read_lines
from bench.docs.published import Published, block_setups, read_table
from bench.docs.spec import DocSpec
from bench.docs.tables import Measurements
from bench.errors import BadInput
from bench.record.envelope import envelope
from bench.record.run import CaseRecord

MIB = 1024**2
REPRODUCES, OUTSIDE, NOT_COMPARED, SETUP_DIFFERS = "reproduces", "outside", "not compared", "setup differs"
FORMATS = ("text", "md", "json")


@dataclass
class Check:
    block: str
    device: str
    size: str
    tiled: bool
    figure: str  # "time (s)", "memory (%)", "memory (MiB)"
    ours: float | str | None
    published: float | str | None
    diff: float | None  # ours / published - 1
    verdict: str
    why: str = ""


@dataclass
class Verification:
    checks: list[Check]
    tolerance: float
    time_tolerance: float

    def count(self, verdict: str) -> int:
        return sum(c.verdict == verdict for c in self.checks)

    @property
    def failed(self) -> bool:
        return any(c.verdict in (OUTSIDE, SETUP_DIFFERS) for c in self.checks)


def verify(
    page: str | Path,
    spec: DocSpec,
    data: Measurements,
    tolerance: float = 0.10,
    time_tolerance: float = 0.10,
) -> Verification:
    page = Path(page)
    for run in data.runs:
        if not run.is_gpu:
            raise BadInput(
                run.path,
                None,
                f"made on {run.device_name} ({run.device_kind}); the published figures are of GPUs",
            )
    lines = read_lines(page)
    found = {b.title: b for b in find_blocks(lines)}
    missing = [b.title for b in spec.blocks if b.title not in found]
    if missing:
        raise BadInput(page, None, "no <details><summary> block titled " + ", ".join(map(repr, missing)))
    setups = block_setups(spec)
    cards = load_cards()
    checks: list[Check] = []
    for bs in spec.blocks:
        dtype, tiling = setups[bs.title]
        table = block_table(page, lines, found[bs.title])
        published = read_table(page, lines, table, bs, spec.batch, dtype, tiling)
        by_cell = {(p.device, p.case.size_label, p.case.tiled): p for p in published}
        sizes = list(dict.fromkeys(p.case.size_label for p in published))
        rows_of = {p.device for p in published}
        for run in data.runs:
            # the page's rows of the run's label, else of its card: a card in another
            # setup (a label) is still held against its card's published figures
            device = run.device_label if run.device_label in rows_of else run.device_name
            mine = [
                r
                for r in run.records
                if (r.case.model, r.case.op, r.case.batch) == (bs.model, bs.op, spec.batch)
                and r.case.size_label in sizes
            ]
            for r in mine:
                c = r.case
                cell = (bs.title, device, c.size_label, c.tiled)
                differs = _setup_difference(r, dtype, bs.tiling_dict)
                if differs:
                    checks.append(Check(*cell, "setup", c.dtype, dtype, None, SETUP_DIFFERS, differs))
                    continue
                if (device, c.size_label, c.tiled) in by_cell:
                    checks += _same_device(
                        cell, r, by_cell[(device, c.size_label, c.tiled)], tolerance, time_tolerance
                    )
                else:
                    others = [p for (d, s, t), p in by_cell.items() if (s, t) == (c.size_label, c.tiled)]
                    checks.append(_other_device(cell, r, others, cards, tolerance))
    return Verification(checks, tolerance, time_tolerance)


def _setup_difference(r: CaseRecord, dtype: str, knobs: dict) -> str:
    if r.case.dtype != dtype:
        return f"made in {r.case.dtype}; published in {dtype}"
    if r.case.tiled:
        ours = r.case.tiling_dict or {}
        for knob, value in knobs.items():
            if ours.get(knob) != value:
                return f"tiled with {knob} {ours.get(knob)}; published with {value}"
    return ""


def _judge(ours: float, theirs: float, tolerance: float, slack: float = 0.0) -> tuple[float | None, str]:
    if not theirs:
        return None, NOT_COMPARED
    diff = ours / theirs - 1
    return diff, REPRODUCES if abs(ours - theirs) <= tolerance * theirs + slack else OUTSIDE


def _same_device(cell, r: CaseRecord, p: Published, tolerance: float, time_tolerance: float) -> list[Check]:
    if r.status != p.status:
        why = f"ours {r.status}, published {p.status}"
        verdict = OUTSIDE if {r.status, p.status} <= {"ok", "oom"} else NOT_COMPARED
        return [Check(*cell, "status", r.status, p.status, None, verdict, why)]
    if r.status != "ok":
        return [Check(*cell, "status", r.status, p.status, None, REPRODUCES, "both out of memory")]
    out = []
    if r.median is not None and p.time is not None:
        # printed to the millisecond: half of one on top of the tolerance
        diff, verdict = _judge(r.median, p.time, time_tolerance, slack=0.0005)
        out.append(Check(*cell, "time (s)", r.median, p.time, diff, verdict))
    if r.percent is not None and p.percent is not None:
        diff, verdict = _judge(r.percent, p.percent, tolerance)
        out.append(Check(*cell, "memory (%)", r.percent, p.percent, diff, verdict))
    return out


def _other_device(cell, r: CaseRecord, published: list[Published], cards, tolerance: float) -> Check:
    if r.status != "ok" or r.peak is None:
        return Check(*cell, "memory (MiB)", r.status, None, None, NOT_COMPARED, "no peak of ours")
    if r.metric != "reserved":
        why = f"ours is the {r.metric} peak; the published figures are of what the allocator reserved"
        return Check(*cell, "memory (MiB)", None, None, None, NOT_COMPARED, why)
    theirs, unknown = [], []
    for p in published:
        mib = card_mib(cards, p.device)
        if p.status != "ok" or p.percent is None:
            continue
        if mib is None:
            unknown.append(p.device)
        else:
            theirs.append(p.percent / 100 * mib)
    if not theirs:
        why = "no published card of known memory ran it" + (
            f" ({', '.join(unknown)} unknown)" if unknown else ""
        )
        return Check(*cell, "memory (MiB)", r.peak / MIB, None, None, NOT_COMPARED, why)
    ref = statistics.median(theirs)
    diff, verdict = _judge(r.peak / MIB, ref, tolerance)
    why = f"median of {len(theirs)} card(s), {min(theirs):.0f}-{max(theirs):.0f} MiB"
    return Check(*cell, "memory (MiB)", r.peak / MIB, ref, diff, verdict, why)


def render(v: Verification, fmt: str = "text") -> str:
    if fmt == "json":
        return envelope(
            "docs verify",
            {
                "tolerance": v.tolerance,
                "time_tolerance": v.time_tolerance,
                "failed": v.failed,
                "counts": {k: v.count(k) for k in (REPRODUCES, OUTSIDE, NOT_COMPARED, SETUP_DIFFERS)},
                "cells": [asdict(c) for c in v.checks],
            },
        )
    rows = [
        [
            c.block,
            c.device,
            c.size,
            "tiled" if c.tiled else "untiled",
            c.figure,
            _figure(c.ours, c.figure),
            _figure(c.published, c.figure),
            None if c.diff is None else f"{c.diff * 100:+.1f}%",
            c.verdict,
            c.why,
        ]
        for c in v.checks
    ]
    headers = ["block", "device", "size", "", "figure", "ours", "published", "diff", "verdict", "note"]
    table = tabulate(rows, headers=headers, tablefmt="pipe" if fmt == "md" else "simple", missingval="-")
    summary = (
        f"{v.count(REPRODUCES)} cell(s) reproduce, {v.count(OUTSIDE)} outside the tolerance "
        f"(memory {v.tolerance * 100:g}%, time {v.time_tolerance * 100:g}% + 0.5 ms), "
        f"{v.count(SETUP_DIFFERS)} made in another setup, {v.count(NOT_COMPARED)} not comparable"
    )
    return f"{table}\n\n{summary}" if rows else f"(the runs fill no cell of the page's tables)\n\n{summary}"


def _figure(value, figure: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if figure.startswith("time"):
        return f"{value:.4f}"
    if figure.endswith("(%)"):
        return f"{value:.2f}%"
    return f"{value:.0f}"
