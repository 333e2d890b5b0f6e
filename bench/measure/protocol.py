"""How long to warm up and how many calls to time: the rules every backend follows.

Warmup lasts at least `warmup` calls and `warmup_time` seconds, and on a GPU until its
clock has settled (`settled`), within a cap. Then calls are timed: a fixed number
(`repeats`), or (`repeats=None`, "auto") until the distribution-free 95% interval of
the median is within `precision` of the median, no sooner than `min_repeats` calls
and `min_time` seconds and no later than `max_time` seconds or `max_repeats` calls.

Nothing here knows a device: a backend passes a function that makes one call and
returns its seconds, and a clock to read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.stats import median, median_interval, within


@dataclass(frozen=True)
class Protocol:
    warmup: int = 1
    warmup_time: float = 0.0
    repeats: int | None = None  # None: until the interval meets `precision`
    precision: float = 0.01
    min_repeats: int = 5
    min_time: float = 0.0
    max_time: float = 20.0
    max_repeats: int = 300
    clock_cap: float = 5.0  # at most this long waiting for a GPU clock to settle


def warm_up(
    call: Callable[[], float],
    p: Protocol,
    first_s: float,
    settled: Callable[[], bool] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[int, float, bool | None]:
    """Calls after the first (which took `first_s`) until the protocol's warmup is
    done: (calls including the first, seconds including the first, clock settled)."""
    calls, start = 1, clock()
    elapsed = first_s
    while calls < p.warmup or elapsed < p.warmup_time:
        call()
        calls += 1
        elapsed = first_s + clock() - start
    is_settled = None
    if settled is not None:
        cap = clock() + p.clock_cap
        is_settled = settled()
        while not is_settled and clock() < cap:
            call()
            calls += 1
            is_settled = settled()
        elapsed = first_s + clock() - start
    return calls, elapsed, is_settled


def time_calls(
    call: Callable[[], float], p: Protocol, clock: Callable[[], float] = time.perf_counter
) -> list[float]:
    """Timed calls, by the protocol's stop rules; each sample is what `call` returns."""
    samples: list[float] = []
    start = clock()
    while True:
        samples.append(call())
        n, elapsed = len(samples), clock() - start
        if p.repeats is not None:
            if n >= p.repeats:
                return samples
            continue
        if n >= p.max_repeats or elapsed >= p.max_time:
            return samples
        if n >= p.min_repeats and elapsed >= p.min_time:
            if within(median_interval(samples), median(samples), p.precision):
                return samples


def judge(samples: list[float], p: Protocol) -> tuple[tuple[float, float] | None, bool]:
    """The interval of the samples' median, and whether it is within the precision."""
    ci = median_interval(samples)
    return ci, within(ci, median(samples), p.precision)
