"""Statistics of timing samples, with no dependency beyond the standard library: the
median and the distribution-free interval of the median that says how precise it is."""

from __future__ import annotations

from math import comb, erfc, sqrt

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


# The check runs again and again as calls are timed, so a chance alarm must be rare
# at each.
DRIFT_ALPHA = 0.001
# Two halves of eight: the fewest whose rank test can reach DRIFT_ALPHA (halves of
# six that do not overlap at all give p = 0.005); below, a drift cannot be told from
# noise.
MIN_SAMPLES_FOR_STATIONARITY = 16


def halves(samples: list[float]) -> tuple[list[float], list[float]]:
    """The first and the last half of the samples in the order they were taken (the
    middle one left out of an odd count)."""
    h = len(samples) // 2
    return samples[:h], samples[len(samples) - h :]


def drift(samples: list[float]) -> float | None:
    """The median of the second half over the median of the first: above 1, the calls
    got slower as they went on. None below two samples."""
    first, second = halves(samples)
    if not first or median(first) <= 0:
        return None
    return median(second) / median(first)


def rank_test(a: list[float], b: list[float]) -> float:
    """The two-sided p-value of a Mann-Whitney U test of `a` against `b`, by the normal
    approximation with the correction for ties and for continuity (the halves tested
    here hold eight samples or more each)."""
    n_a, n_b = len(a), len(b)
    n = n_a + n_b
    pooled = sorted([(x, 0) for x in a] + [(x, 1) for x in b])
    rank_a, ties, i = 0.0, 0.0, 0
    while i < n:
        j = i
        while j + 1 < n and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        rank = (i + j) / 2 + 1  # the average rank of a run of ties
        rank_a += rank * sum(1 for k in range(i, j + 1) if pooled[k][1] == 0)
        t = j - i + 1
        ties += t**3 - t
        i = j + 1
    u = rank_a - n_a * (n_a + 1) / 2
    variance = n_a * n_b / 12 * ((n + 1) - ties / (n * (n - 1)))
    if variance <= 0:
        return 1.0  # every sample equal
    z = max(0.0, abs(u - n_a * n_b / 2) - 0.5) / sqrt(variance)
    return erfc(z / sqrt(2))


def stationary(samples: list[float], precision: float) -> bool | None:
    """Whether the samples look like one distribution: False when the medians of their
    halves differ by more than `precision` and a rank test of the halves says it is
    not chance (p < DRIFT_ALPHA); None below MIN_SAMPLES_FOR_STATIONARITY."""
    if len(samples) < MIN_SAMPLES_FOR_STATIONARITY:
        return None
    ratio = drift(samples)
    if ratio is None or ratio <= 0 or max(ratio, 1 / ratio) - 1 <= precision:
        return True
    return rank_test(*halves(samples)) >= DRIFT_ALPHA
