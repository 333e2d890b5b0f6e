"""The run format: what a case is and what was measured of it, a run's meta.json, how
runs are stored and opened, and the rules every reader shares for a series of cases.
See ARCHITECTURE.md."""

# The public API for scripts and notebooks: open a run, read its cases as a frame.
from bench.record.case import Case
from bench.record.figures import Memory, Timing
from bench.record.run import CaseRecord, RunMeta
from bench.record.store import Run, RunWriter, find_runs, open_run


def open_runs(paths) -> list[Run]:
    """Several runs, each opened strictly (a case record that does not read is refused):
    `pandas.concat(run.frame() for run in open_runs(paths))` is their cases in one table."""
    return [open_run(p, strict=True, need_cases=True) for p in paths]


__all__ = [
    "Case",
    "CaseRecord",
    "Memory",
    "Run",
    "RunMeta",
    "RunWriter",
    "Timing",
    "find_runs",
    "open_run",
    "open_runs",
]
