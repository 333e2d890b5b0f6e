"""The phase driver every backend runs (against a fake backend), and the CPU backend's
peak memory against allocations of known size."""

from __future__ import annotations

import pytest
import torch

from bench.measure.cpu import CpuBackend
from bench.measure.driver import FIRST_CALL, TIMED, WARMUP, Backend
from bench.measure.protocol import Protocol
from bench.record.figures import Clocks, Timing

MIB = 1024 * 1024
SIZE = 256 * MIB


def floats(nbytes: int) -> int:
    return nbytes // 4


class Scripted(Backend):
    """A backend whose calls take the seconds given and whose peak is the size of the
    call that made it; it notes each hook the driver calls, with the phase then."""

    device, metric = "fake", "allocated"

    def __init__(self, sizes, fail_at: int | None = None, settles_after: int | None = None):
        self.sizes, self.fail_at, self.settles_after = iter(sizes), fail_at, settles_after
        self.warnings, self.log, self.calls, self.high = [], [], 0, 0

    def timer(self, call):
        def timed() -> float:
            self.calls += 1
            if self.calls == self.fail_at:
                raise RuntimeError("boom")
            self.high = max(self.high, next(self.sizes))
            self.log.append(("call", self.phase))
            return 0.001 * self.calls

        return timed

    def reset(self) -> None:
        self.high = 0
        self.log.append(("reset", self.phase))

    def peaks(self) -> dict:
        self.log.append(("peaks", self.phase))
        return {"allocated": self.high}

    def settle(self):
        if self.settles_after is None:
            return None
        return lambda: self.calls >= self.settles_after

    def watch(self):
        backend = self

        class Watch:
            def __enter__(self):
                backend.log.append(("watch", backend.phase))
                return "seen"

            def __exit__(self, *exc):
                backend.log.append(("unwatch", backend.phase))

        return Watch()

    def seen(self, watched, settled):
        assert watched == "seen"
        return {"nvml_peak_used": 7}, Clocks(settled=settled)

    def total(self) -> int:
        return 1000


def test_the_driver_runs_the_phases_in_order_and_keeps_the_first_peak_apart():
    backend = Scripted([900, 10, 10, 30, 20, 10], settles_after=3)
    m = backend.run(lambda: None, Protocol(warmup=2, repeats=3))
    assert backend.log == [
        ("reset", FIRST_CALL),
        ("call", FIRST_CALL),
        ("peaks", FIRST_CALL),
        ("call", WARMUP),
        ("call", WARMUP),  # the clock settles after the third call
        ("reset", WARMUP),
        ("watch", TIMED),
        *[("call", TIMED)] * 3,
        ("unwatch", TIMED),
        ("peaks", TIMED),
    ]
    assert (m.warmup_calls, m.time.calls, m.time.samples) == (3, 3, (0.004, 0.005, 0.006))
    assert m.first_call_s == 0.001 and m.warmup_s >= m.first_call_s
    assert (m.mem.first_call_allocated, m.mem.peak_allocated, m.mem.nvml_peak_used) == (900, 30, 7)
    assert (m.mem.metric, m.mem.total, m.mem.percent) == ("allocated", 1000, 3.0)
    assert m.clocks == Clocks(settled=True)


@pytest.mark.parametrize("fail_at,phase", [(1, FIRST_CALL), (2, WARMUP), (4, TIMED)])
def test_a_failing_call_leaves_the_phase_it_failed_in(fail_at, phase):
    backend = Scripted(iter(lambda: 1, None), fail_at=fail_at)
    with pytest.raises(RuntimeError, match="boom"):
        backend.run(lambda: None, Protocol(warmup=2, repeats=3))
    assert backend.phase == phase


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
