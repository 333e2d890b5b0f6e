"""Is the difference between two sets of timing samples more than chance?

A two-sided Mann-Whitney U test on the raw samples, as airspeed velocity does: it
assumes no distribution, so a few slow outliers (a context switch, a page fault)
do not decide it. With very few samples no ordering of them can be significant at
`alpha`; that is reported as untestable rather than as "no difference".
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

from scipy.stats import mannwhitneyu

ALPHA = 0.05


@dataclass(frozen=True)
class MannWhitney:
    testable: bool  # False: too few samples for any result to reach alpha
    p_value: float | None
    significant: bool
    n_base: int
    n_new: int

    @property
    def note(self) -> str:
        if self.testable:
            return f"p={self.p_value:.3g}"
        return f"too few samples ({self.n_base} vs {self.n_new})"


def smallest_p(n_base: int, n_new: int) -> float:
    """The smallest two-sided p-value the exact test can give for these sizes: when
    every sample of one set lies beyond every sample of the other."""
    if n_base < 1 or n_new < 1:
        return 1.0
    return min(1.0, 2 / comb(n_base + n_new, n_base))


def testable(n_base: int, n_new: int, alpha: float = ALPHA) -> bool:
    return smallest_p(n_base, n_new) < alpha


def compare_samples(base: list[float], new: list[float], alpha: float = ALPHA) -> MannWhitney:
    n_base, n_new = len(base), len(new)
    if not testable(n_base, n_new, alpha):
        return MannWhitney(False, None, False, n_base, n_new)
    if len(set(base) | set(new)) == 1:  # all equal: the test is undefined, and nothing differs
        return MannWhitney(True, 1.0, False, n_base, n_new)
    p = float(mannwhitneyu(base, new, alternative="two-sided").pvalue)
    return MannWhitney(True, p, p < alpha, n_base, n_new)
