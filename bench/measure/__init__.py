"""Measurement backends with one interface: `baseline()` before the model is built,
`run(call, warmup, repeats)` around the calls, `after_oom()` to recover."""

from __future__ import annotations

from bench.measure.stats import summarize

__all__ = ["make_backend", "summarize"]


def make_backend(device: str, metric: str):
    if device == "cpu":
        from bench.measure.cpu import CpuBackend

        return CpuBackend()
    from bench.measure.cuda import CudaBackend

    return CudaBackend(device, metric)
