"""The tables a sweep prints: its plan (a dry run) and, at the end, one row per
stored case."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tabulate import tabulate

from bench.record import Case, CaseRecord

# Every terminal report prints a median time so: summary, compare and history.
SECONDS = ".4f"


def seconds(value: float) -> str:
    return format(value, SECONDS)


def summary_table(records: Sequence[CaseRecord], tablefmt: str = "simple") -> str:
    if not records:
        return "(no cases stored)"
    rows = [[r.label, r.status, r.median, r.percent] for r in records]
    return tabulate(
        rows,
        headers=["case", "status", "median time (s)", "memory (%)"],
        tablefmt=tablefmt,
        floatfmt=("", "", SECONDS, ".2f"),
        missingval="-",
    )


def plan_table(cases: Sequence[Case], stored: Iterable[str] = ()) -> str:
    """The cases a sweep would run, each marked stored (in the run it resumes) or not."""
    stored = set(stored)
    rows = [
        [i, c.case_id, c.label, "stored" if c.case_id in stored else "to run"] for i, c in enumerate(cases, 1)
    ]
    return tabulate(rows, headers=["#", "case_id", "case", "state"])
