"""How long to warm up and how many calls to time: the rules every backend follows.

Warmup lasts at least `warmup` calls and `warmup_time` seconds, and on a GPU until its
clock has settled (`settled`), within a cap. Then calls are timed: a fixed number
(`repeats`), or (`repeats=None`, "auto") until the distribution-free 95% interval of
the median is within `precision` of the median and the samples are stationary (their
halves agree, bench.stats.stationary), no sooner than `min_repeats` calls and
`min_time` seconds and no later than `max_time` seconds or `max_repeats` calls. Under
auto, halves that disagree mean the case was still warming up (or something changed
under it): the first half is dropped, counted as warmup, and timing goes on.

Nothing here knows a device: a backend passes a function that makes one call and
returns its seconds, and a clock to read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.stats import MIN_SAMPLES_FOR_STATIONARITY, median, median_interval, stationary, within


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


CHECK_EVERY = 4


@dataclass
class Timed:
    """The timed calls' seconds: those kept, and those dropped as warmup because the
    samples were not stationary yet (in the order they were taken)."""

    samples: list[float] = field(default_factory=list)
    discarded: list[float] = field(default_factory=list)


def time_calls(
    call: Callable[[], float], p: Protocol, clock: Callable[[], float] = time.perf_counter
) -> Timed:
    """Timed calls, by the protocol's stop rules; each sample is what `call` returns."""
    t = Timed()
    start = clock()
    while True:
        t.samples.append(call())
        n, elapsed = len(t.samples), clock() - start
        if p.repeats is not None:
            if n >= p.repeats:
                return t
            continue
        precise = (
            n >= p.min_repeats
            and elapsed >= p.min_time
            and within(median_interval(t.samples), median(t.samples), p.precision)
        )
        # Where it could end the case, and every CHECK_EVERY calls besides: the check
        # sorts and ranks every sample, which between 3 ms calls is not free.
        steady = stationary(t.samples, p.precision) if precise or n % CHECK_EVERY == 0 else None
        if steady is False and n >= 2 * MIN_SAMPLES_FOR_STATIONARITY:
            # What came first belongs to another state than what came last: keep the
            # later, which is where the case has settled (or is now), and enough of it
            # that the check can still be made of what is kept.
            dropped = n // 2
            t.discarded.extend(t.samples[:dropped])
            del t.samples[:dropped]
        if len(t.samples) + len(t.discarded) >= p.max_repeats or elapsed >= p.max_time:
            return t
        if precise and steady:
            return t


def judge(samples: list[float], p: Protocol) -> tuple[tuple[float, float] | None, bool]:
    """The interval of the samples' median, and whether it is within the precision
    with the samples stationary (halves too few to tell count as not met)."""
    ci = median_interval(samples)
    return ci, within(ci, median(samples), p.precision) and stationary(samples, p.precision) is True
