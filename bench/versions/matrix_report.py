"""A matrix's one table: each case, each environment's median time and peak memory,
and every environment after the first against the first, judged as `compare` judges
two runs (the ratio of medians beyond the factor and a Mann-Whitney U test, its
p-values adjusted over the cases, Benjamini-Hochberg; memory beyond its floor)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tabulate import tabulate

from bench.analysis.compare import MIB, REGRESSION, Comparison, compare_runs
from bench.analysis.summary import seconds
from bench.record.store import Run, open_run
from bench.versions import state
from bench.versions.matrix import Matrix


@dataclass
class Column:
    label: str
    run: Run | None
    error: str | None
    reused: bool | None = None  # its layer came from the cache (None: not built this time)
    comparison: Comparison | None = None  # against the first column (None for the first)

    def version(self, package: str) -> str | None:
        if self.run is None:
            return None
        value = self.run.meta.environment.get(package)
        return value if isinstance(value, str) else None


@dataclass
class Report:
    matrix: Matrix
    columns: list[Column]

    @property
    def regressed(self) -> bool:
        """An environment regressed against the first, or did not run."""
        return any(c.run is None or (c.comparison and c.comparison.regressed) for c in self.columns)


def report(m: Matrix, factor: float | None = None) -> Report:
    columns = []
    for i, e in enumerate(m.entries):
        path = state.run_of(m.folder, i, e.run) if e.run else None
        run = open_run(path, strict=True) if path is not None else None
        columns.append(Column(e.label, run, e.error if run is None else None, e.reused))
    first = columns[0]
    for c in columns[1:]:
        if first.run is not None and c.run is not None and first.run.records and c.run.records:
            c.comparison = compare_runs(first.run.path, c.run.path, factor=factor)
    return Report(m, columns)


def _cell(record) -> str:
    if record is None:
        return "-"
    if record.status != "ok":
        return record.status.upper() if record.status == "oom" else record.status
    time = seconds(record.median) if record.median is not None else "n/a"
    mem = f"{record.peak / MIB:.0f}" if record.peak is not None else "n/a"
    return f"{time} s, {mem} MiB"


def rows(r: Report) -> list[list[Any]]:
    first = r.columns[0]
    order: list[tuple[str, str]] = []
    for c in r.columns:
        for rec in c.run.records if c.run else []:
            if rec.case_id not in {cid for cid, _ in order}:
                order.append((rec.case_id, rec.label))
    out = []
    for cid, label in order:
        row: list[Any] = [label, _cell(_record(first, cid))]
        for c in r.columns[1:]:
            row.append(_cell(_record(c, cid)))
            diff = _diff(c, cid)
            row.append("-" if diff is None else _verdict(diff))
        out.append(row)
    return out


def _record(c: Column, case_id: str):
    if c.run is None:
        return None
    return next((rec for rec in c.run.records if rec.case_id == case_id), None)


def _diff(c: Column, case_id: str):
    if c.comparison is None:
        return None
    return next((d for d in c.comparison.cases if d.case_id == case_id), None)


def _verdict(d) -> str:
    parts = [d.verdict]
    if d.ratio is not None:
        parts.append(f"x{d.ratio:.2f}")
    if d.mem_delta is not None:
        parts.append(f"{d.mem_delta / MIB:+.0f} MiB")
    return " ".join(parts)


def render(r: Report) -> str:
    headers = ["case", r.columns[0].label]
    for c in r.columns[1:]:
        headers += [c.label, "against the first"]
    lines = [f"matrix {r.matrix.folder}", f"sweep: {r.matrix.sweep.path}", ""]
    for n, c in enumerate(r.columns, 1):
        if c.run is None:
            lines.append(f"#{n} {c.label}: no run ({c.error or 'not measured'})")
            continue
        env = c.run.meta.environment
        lines.append(
            f"#{n} {c.label}: run {c.run.run_id}, diffusers {env.get('diffusers', '-')}, "
            f"torch {env.get('torch', '-')}, status {c.run.meta.status}"
        )
    gate = next((c.comparison for c in r.columns if c.comparison is not None), None)
    if gate is not None:
        lines.append(
            f"time: flagged beyond x{gate.factor:.2f} ({gate.factor_source}) with q < {gate.alpha} "
            f"(Mann-Whitney U, Benjamini-Hochberg over each environment's cases); memory beyond "
            f"{gate.mem_floor / MIB:.0f} MiB or {gate.mem_fraction * 100:.0f}% of the first"
        )
    lines += ["", tabulate(rows(r), headers=headers, tablefmt="simple", disable_numparse=True), ""]
    for c in r.columns[1:]:
        if c.comparison is None:
            continue
        counts = ", ".join(
            f"{c.comparison.count(v)} {v}"
            for v in (REGRESSION, "improvement", "trade-off", "unchanged", "untested")
        )
        lines.append(f"{c.label} against {r.columns[0].label}: {counts}")
    lines.append("REGRESSION" if r.regressed else "no regression")
    return "\n".join(lines)


def as_data(r: Report) -> dict:
    def figures(c: Column) -> list[dict]:
        out = []
        for rec in c.run.records if c.run else []:
            d = _diff(c, rec.case_id)
            out.append(
                {
                    "case_id": rec.case_id,
                    "case": rec.label,
                    "status": rec.status,
                    "median_s": rec.median,
                    "peak_bytes": rec.peak,
                    "verdict": None if d is None else d.verdict,
                    "ratio": None if d is None else d.ratio,
                    "q": None if d is None or d.test is None else d.test.q_value,
                    "memory_delta_bytes": None if d is None else d.mem_delta,
                }
            )
        return out

    return {
        "folder": str(r.matrix.folder),
        "sweep": str(r.matrix.sweep.path),
        "regressed": r.regressed,
        "environments": [
            {
                "with": c.label,
                "run": None if c.run is None else str(c.run.path),
                "error": c.error,
                "environment_reused": c.reused,
                "diffusers": c.version("diffusers"),
                "torch": c.version("torch"),
                "layer": c.run and c.run.meta.environment.get("layer"),
                "cases": figures(c),
            }
            for c in r.columns
        ],
    }
