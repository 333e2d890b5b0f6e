"""One device of this machine: each part's cases measured here, by the runner and its
worker processes (bench.sweep.runner), into a run folder made here or the stored run
reopened. The launcher of a sweep on one device; the host's launcher builds on it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from bench.record.store import RunWriter, new_run_id
from bench.sweep import runner, worker
from bench.sweep.launch import Launcher, Outcome, Part


class Local(Launcher):
    """Parts whose plans were made here, each measured on its plan's device; new runs go
    into `out`."""

    def __init__(self, parts: list[Part], out: Path | None = None):
        super().__init__(parts)
        self.out = out

    def open(self) -> None:
        started = worker.now()
        for part in self.parts:
            if part.stored is not None:
                part.writer = RunWriter.reopen(part.stored)
            else:
                run_id = new_run_id(part.plan.run_id_slug(), part.plan.sweep.name)
                part.writer = RunWriter.create(self.out, run_id, part.plan.meta(started))

    def measure(self, part: Part, progress: Callable, stop: threading.Event) -> Outcome:
        return runner.sweep(part.plan, part.writer, progress, stop=stop)
