"""The CPU backend's peak memory against allocations of known size."""

from __future__ import annotations

import pytest
import torch

from bench.measure.cpu import CpuBackend
from bench.measure.protocol import Protocol
from bench.record.run import Timing

MIB = 1024 * 1024
SIZE = 256 * MIB


def floats(nbytes: int) -> int:
    return nbytes // 4


# The peak is the whole process's RSS high-water mark, which is why the harness measures
# in a worker process that does nothing else. These tests do the same: each runs in a
# fresh interpreter, not in a pytest process where earlier tests (a Ray driver, threads
# they left) can move RSS during the calls.
PEAKS = """
import json, torch
from bench.measure.cpu import CpuBackend
from bench.measure.protocol import Protocol

SIZE = 256 * 1024 * 1024
backend = CpuBackend()
assert backend.can_measure
backend.baseline()
held = torch.ones(SIZE // 4)  # built after the baseline, like a model's weights: it counts
held_run = backend.run(lambda: held[:1024].sum(), Protocol(warmup=1, repeats=3))
del held
backend.baseline()
transient = backend.run(lambda: torch.ones(SIZE // 4).sum(), Protocol(warmup=1, repeats=3))
big = backend.run(lambda: torch.ones(SIZE // 2).sum(), Protocol(warmup=1, repeats=1))
small = backend.run(lambda: torch.ones(SIZE // 16).sum(), Protocol(warmup=1, repeats=1))
print(json.dumps({
    "held": held_run.mem.process_peak,
    "held_percent": held_run.mem.percent,
    "total": backend.total(),
    "transient": transient.mem.process_peak,
    "big": big.mem.process_peak,
    "small": small.mem.process_peak,
}))
"""


@pytest.fixture(scope="module")
def peaks() -> dict:
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    out = subprocess.run(
        [sys.executable, "-c", PEAKS], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_held_allocation_shows_in_the_peak(peaks):
    assert peaks["held"] == pytest.approx(SIZE, rel=0.10)
    assert peaks["held_percent"] == pytest.approx(peaks["held"] / peaks["total"] * 100)


def test_a_transient_allocation_inside_the_call_shows_in_the_peak(peaks):
    assert peaks["transient"] == pytest.approx(SIZE, rel=0.10)


def test_the_peak_resets_between_cases(peaks):
    assert peaks["big"] == pytest.approx(2 * SIZE, rel=0.10)
    assert peaks["small"] < peaks["big"] / 4


def test_timing_keeps_every_sample():
    backend = CpuBackend()
    backend.baseline()
    result = backend.run(lambda: torch.ones(8).sum(), Protocol(warmup=2, repeats=7))
    assert len(result.time.samples) == 7
    assert result.first_call_s > 0


def test_summary_statistics():
    s = Timing.of([3.0, 1.0, 2.0, 10.0])
    assert s.median == 2.5 and s.min == 1.0 and s.max == 10.0
    assert s.mean == 4.0
    assert s.iqr == pytest.approx(4.75 - 1.75)
    assert s.samples == (3.0, 1.0, 2.0, 10.0)
