"""The CPU backend's peak memory against allocations of known size."""

from __future__ import annotations

import pytest
import torch

from bench.measure.cpu import CpuBackend
from bench.measure.protocol import Protocol
from bench.record import Timing

MIB = 1024 * 1024
SIZE = 256 * MIB


def floats(nbytes: int) -> int:
    return nbytes // 4


def test_a_held_allocation_shows_in_the_peak():
    backend = CpuBackend()
    assert backend.can_measure
    backend.baseline()
    # Built after the baseline, like a model's weights: it counts.
    held = torch.ones(floats(SIZE))
    result = backend.run(lambda: held[:1024].sum(), Protocol(warmup=1, repeats=3))
    peak = result.mem.process_peak
    assert peak == pytest.approx(SIZE, rel=0.10)
    assert result.mem.percent == pytest.approx(peak / backend.total() * 100)


def test_a_transient_allocation_inside_the_call_shows_in_the_peak():
    backend = CpuBackend()
    backend.baseline()
    result = backend.run(lambda: torch.ones(floats(SIZE)).sum(), Protocol(warmup=1, repeats=3))
    assert result.mem.process_peak == pytest.approx(SIZE, rel=0.10)


def test_the_peak_resets_between_cases():
    backend = CpuBackend()
    backend.baseline()
    big = backend.run(lambda: torch.ones(floats(2 * SIZE)).sum(), Protocol(warmup=1, repeats=1))
    small = backend.run(lambda: torch.ones(floats(SIZE // 4)).sum(), Protocol(warmup=1, repeats=1))
    assert big.mem.process_peak == pytest.approx(2 * SIZE, rel=0.10)
    assert small.mem.process_peak < big.mem.process_peak / 4


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
