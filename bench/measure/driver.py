"""Measurement backends with one interface: `baseline()` before the model is built,
`run(call, protocol)` around the calls (bench.measure.protocol says how many), and
`recover()` after a call that failed; `phase` says which part of `run` is going on,
so that a failure can say where it happened."""

from __future__ import annotations

from dataclasses import dataclass

from bench.record.run import Clocks, Memory, Timing

FIRST_CALL, WARMUP, TIMED = "first_call", "warmup", "timed"


@dataclass(frozen=True)
class Measured:
    """What a backend measured of one case."""

    first_call_s: float
    warmup_calls: int
    warmup_s: float
    time: Timing
    precision_met: bool
    mem: Memory
    clocks: Clocks | None = None


def make_backend(device: str, metric: str):
    if device == "cpu":
        from bench.measure.cpu import CpuBackend

        return CpuBackend()
    from bench.measure.cuda import CudaBackend

    return CudaBackend(device, metric)
