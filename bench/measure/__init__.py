"""Measurement backends with one interface: `baseline()` before the model is built,
`run(call, warmup, repeats)` around the calls, `recover()` after a call that failed."""

from __future__ import annotations

from dataclasses import dataclass

from bench.record import Memory, Timing


@dataclass(frozen=True)
class Measured:
    """What a backend measured of one case."""

    first_call_s: float
    time: Timing
    mem: Memory


def make_backend(device: str, metric: str):
    if device == "cpu":
        from bench.measure.cpu import CpuBackend

        return CpuBackend()
    from bench.measure.cuda import CudaBackend

    return CudaBackend(device, metric)
