"""Statistics of timing samples, with no dependency beyond the standard library: the
median and the distribution-free interval of the median that says how precise it is."""

from __future__ import annotations

from math import comb

CONFIDENCE = 0.95
# No interval of the median covers 95% with fewer samples: 2 * 0.5**5 > 0.05.
MIN_SAMPLES_FOR_INTERVAL = 6


def median(samples: list[float]) -> float:
    xs = sorted(samples)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def median_interval(samples: list[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The order-statistics interval [x_(j), x_(n+1-j)] of the median (1-based, sorted):
    the narrowest whose coverage, by the binomial law of how many samples fall below
    the true median, is at least `confidence`. None below MIN_SAMPLES_FOR_INTERVAL."""
    n = len(samples)
    tail = (1 - confidence) / 2
    # P(X <= j - 1) for X ~ Binomial(n, 1/2), growing j while it stays within the tail
    j, below = 0, 0.0
    while j < n // 2:
        below_next = below + comb(n, j) / 2**n
        if below_next > tail:
            break
        below, j = below_next, j + 1
    if j == 0:
        return None
    xs = sorted(samples)
    return xs[j - 1], xs[n - j]


def within(ci: tuple[float, float] | None, center: float, precision: float) -> bool:
    """Both ends of the interval within `precision` (a fraction) of the center."""
    if ci is None or center <= 0:
        return False
    return max(center - ci[0], ci[1] - center) <= precision * center


def overlap(a: tuple[float, float] | None, b: tuple[float, float] | None) -> bool:
    """Two intervals share a point (both known)."""
    return a is not None and b is not None and a[0] <= b[1] and b[0] <= a[1]
