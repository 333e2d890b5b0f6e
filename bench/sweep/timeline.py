"""Where a command's wall time goes, from the moment its process started: so that the
time line a sweep prints leaves nothing it cannot name.

The runner adds up its own parts (bench.sweep.runner.time_spent); this module holds
what lies around a sweep: the interpreter's start and the CLI's imports (`startup`,
from the process's start as the kernel recorded it), the planning before the first
worker (`plan`), and the reports after the last case (`reports`). A command run more
than once in one process (tests call `main` in-process) counts from its own entry.
"""

from __future__ import annotations

import os
import time

_BEGUN: float | None = None  # perf_counter when the process (or this command) began
_ENTERED: float | None = None  # perf_counter when the command was entered
_PLANNED: float | None = None  # perf_counter when the first sweep began


def _process_age() -> float | None:
    """Seconds since this process started (Linux: /proc/self/stat against the boot
    clock, to a clock tick), or None where that cannot be read."""
    try:
        with open("/proc/self/stat", "rb") as f:
            # the command name may hold spaces and parentheses: fields follow the last ")"
            fields = f.read().rsplit(b")", 1)[1].split()
        ticks = int(fields[19])  # field 22 of the whole line: starttime
        return time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def enter() -> None:
    """A command starts: the first in this process counts from the process's start."""
    global _BEGUN, _ENTERED, _PLANNED
    now = time.perf_counter()
    age = _process_age() if _ENTERED is None else None
    _BEGUN = now - age if age is not None and 0 <= age < 600 else now
    _ENTERED, _PLANNED = now, None


def planned() -> None:
    """The planning is over: a sweep begins (the first, where several run side by side)."""
    global _PLANNED
    if _PLANNED is None:
        _PLANNED = time.perf_counter()


def around(sweep_s: float, reports_s: float) -> dict[str, float]:
    """The command's parts outside its sweep, and its wall time until now."""
    now = time.perf_counter()
    begun = _BEGUN if _BEGUN is not None else now - sweep_s - reports_s
    entered = _ENTERED if _ENTERED is not None else begun
    planned = _PLANNED if _PLANNED is not None else entered
    return {
        "command_wall_s": now - begun,
        "startup_s": entered - begun,
        "plan_s": max(0.0, planned - entered),
        "reports_s": reports_s,
    }
