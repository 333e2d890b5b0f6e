"""Where a sweep's wall time goes, with nothing left unnamed, and the work around the
calls done once where once is enough (a quality reference per input)."""

from __future__ import annotations

import re

import pytest
import torch

from bench.record.case import Case
from bench.sweep import worker
from tests.cli_helpers import start

PART = re.compile(r"([a-z][a-z .]*?) ([0-9.]+) s \(")


def case(tiled=False, dtype="float16", variant=None) -> Case:
    tiling = (("tile_sample_min_size", 32),) if tiled else None
    return Case("tiny", "decode", 64, 64, None, 1, dtype, tiled, tiling, variant)


class Model:
    def __init__(self):
        self.conversions = []

    def to(self, dtype):
        self.conversions.append(dtype)


class Backend:
    def recover(self):
        pass


@pytest.mark.parametrize("quality, conversions", [(True, []), ("float32", [torch.float32, torch.float16])])
def test_the_cases_of_one_input_share_one_reference(monkeypatch, quality, conversions):
    made = []

    def output(call):
        made.append(call)
        return torch.zeros(1, 3, 64, 64)

    monkeypatch.setattr(worker, "_output", output)
    monkeypatch.setattr("bench.models.workloads.prepare", lambda model, spec, c, device: c)
    job = worker.Job(None, None, "cuda:0", "float16", 1, 5, None, "reserved", quality=quality)
    model, out = Model(), torch.zeros(1, 3, 64, 64)
    worker._REFERENCE.clear()
    for c in [case(), case(variant=(("channels_last", True),)), case(tiled=True)]:
        q = worker._quality(model, Backend(), job, c, out)
        assert q.max_abs == 0
    # the untiled float16 case is its own reference; a float32 one is made once
    assert len(made) == (0 if quality is True else 1)
    assert model.conversions == conversions
    worker._REFERENCE.clear()


def test_a_cpu_run_holds_no_reference_between_cases(monkeypatch):
    """There it would sit in the memory the next case's peak RSS is read from."""
    made = []
    monkeypatch.setattr(worker, "_output", lambda call: made.append(call) or torch.zeros(1, 3, 64, 64))
    monkeypatch.setattr("bench.models.workloads.prepare", lambda model, spec, c, device: c)
    job = worker.Job(None, None, "cpu", "float16", 1, 5, None, "process", quality=True)
    for c in [case(), case(tiled=True), case(tiled=True, variant=(("channels_last", True),))]:
        worker._quality(Model(), Backend(), job, c, torch.zeros(1, 3, 64, 64))
    assert len(made) == 2 and not worker._REFERENCE


@pytest.mark.slow
def test_the_time_line_names_all_but_two_percent_of_a_cpu_sweep(tmp_path):
    """configs/cpu.yaml (the real SD v1 architecture, encode and decode, untiled and
    tiled) at its smallest size, in a process of its own: its time line counts from the
    process's start, and what no part names stays under 2% of the wall time."""
    sweep = ["run", "cpu", "resolutions=64", "min_time=0.2", "max_time=1", "--out", tmp_path]
    proc = start(sweep)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    (line,) = [x for x in err.splitlines() if "time: " in x]
    wall = float(re.search(r"time: ([0-9.]+) s wall", line).group(1))
    parts = dict(PART.findall(line.split("wall: ", 1)[1]))
    named = {k: float(v) for k, v in parts.items() if k != "other"}
    for part in ("startup", "plan", "worker start", "model builds", "calls", "reports", "records"):
        assert part in named, line
    assert named["calls"] > 0
    # `other` is what the named parts leave of the wall time: below zero, a part was
    # counted twice; large, time went unnamed
    rounding = 0.05 * (len(named) + 2)  # each figure is shown to a tenth of a second
    assert -rounding <= float(parts["other"]) <= 0.02 * wall, line
