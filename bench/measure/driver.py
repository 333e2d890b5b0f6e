"""The phase script every measurement backend runs, and the interface a backend fills in.

`Backend.run(call, protocol)` is the one script: the first call (its own peaks), the
warmup (bench.measure.protocol says how long), the timed calls, the stop rule (timed
calls dropped as not stationary count as warmup). While
it runs, `phase` says which part is going on (FIRST_CALL, WARMUP, TIMED), so that a
failure can say where it happened. A backend (cpu, cuda) supplies only what differs
between devices: a timer, a reset, the peaks, and where it has them a clock to wait
for and a watch over the timed calls; and, outside the script, `baseline()` before
the model is built, `recover()` after a call that failed, `total()` and
`device_info()`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from bench.measure import protocol
from bench.record.figures import PEAK_FIELD, Clocks, Measured, Memory, Timing

FIRST_CALL, WARMUP, TIMED = "first_call", "warmup", "timed"

# The Memory fields a peak goes to, by the metric `peaks()` names it by: after the
# timed calls, and after the first call alone.


class Backend:
    """One device's measurements. A subclass sets `device`, `metric` and `warnings`
    and supplies `timer`, `reset` and `peaks`; `settle`, `watch` and `seen` are for a
    device with more to watch than its peaks (a GPU's clocks, NVML)."""

    device: str
    metric: str
    warnings: list[str]
    phase: str | None = None
    clock: Callable[[], float] = staticmethod(time.perf_counter)  # what the stop rules read

    def timer(self, call: Callable[[], Any]) -> Callable[[], float]:
        """A function that makes one call and returns the seconds it took."""
        raise NotImplementedError

    def reset(self) -> None:
        """Free what earlier calls left behind and start the peaks anew."""
        raise NotImplementedError

    def peaks(self) -> dict[str, int | None]:
        """The peaks since the last reset, by metric (a key of bench.record.figures.PEAK_FIELD)."""
        raise NotImplementedError

    def settle(self) -> Callable[[], bool] | None:
        """What the warmup waits on after its calls and time (a GPU's clock), or None."""
        return None

    def watch(self) -> AbstractContextManager[Any]:
        """A context around the timed calls; what it yields goes to `seen`."""
        return nullcontext()

    def seen(self, watched: Any, settled: bool | None) -> tuple[dict[str, Any], Clocks | None]:
        """The Memory fields and the clocks from what `watch` yielded."""
        return {}, None

    def total(self) -> int:
        raise NotImplementedError

    def run(self, call: Callable[[], Any], p: protocol.Protocol) -> Measured:
        import torch

        timed = self.timer(call)
        with torch.inference_mode():
            # The first call's own peaks: cuDNN's algorithm search and lazy
            # initialization can take more than any later call.
            self.phase = FIRST_CALL
            self.reset()
            first = timed()
            first_peaks = self.peaks()
            self.phase = WARMUP
            calls, warm_s, settled = protocol.warm_up(timed, p, first, self.settle(), self.clock)
            self.reset()
            self.phase = TIMED
            with self.watch() as watched:
                t = protocol.time_calls(timed, p, self.clock)
            peaks = self.peaks()
        _, met = protocol.judge(t.samples, p)
        # Calls dropped by the stationarity check were warmup after all.
        calls, warm_s = calls + len(t.discarded), warm_s + sum(t.discarded)
        fields, clocks = self.seen(watched, settled)
        for metric, value in peaks.items():
            fields[PEAK_FIELD[metric]] = value
        for metric, value in first_peaks.items():
            fields[f"first_call_{metric}"] = value
        mem = Memory(**fields, total=self.total(), metric=self.metric).with_percent()
        timing = Timing.of(t.samples, p.precision, discarded=len(t.discarded))
        return Measured(first, calls, warm_s, timing, met, mem, clocks)


def make_backend(device: str, metric: str) -> Backend:
    if device == "cpu":
        from bench.measure.cpu import CpuBackend

        return CpuBackend()
    from bench.measure.cuda import CudaBackend

    return CudaBackend(device, metric)
