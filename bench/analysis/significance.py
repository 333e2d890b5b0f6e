"""Is the difference between two sets of timing samples more than chance, across all
the cases of one comparison?

A two-sided Mann-Whitney U test on the raw samples, as airspeed velocity does: it
assumes no distribution, so a few slow outliers (a context switch, a page fault)
do not decide it. With very few samples no ordering of them can be significant at
`alpha`; that is reported as untestable rather than as "no difference".

One compare tests every case at once; at p < 0.05 each, 32 unchanged cases would
give about 1.6 false alarms. So the p-values of one compare are adjusted together
(Benjamini-Hochberg, `control_fdr`): a case is significant when its q-value is
below `alpha`, which keeps the expected share of false alarms among the flagged
cases at `alpha`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from math import comb

ALPHA = 0.05


@dataclass(frozen=True)
class MannWhitney:
    testable: bool  # False: too few samples for any result to reach alpha
    p_value: float | None  # of this case alone
    significant: bool  # q_value < alpha
    n_base: int
    n_new: int
    q_value: float | None = None  # p adjusted over the cases tested together

    @property
    def note(self) -> str:
        if self.testable:
            return f"q={self.q_value:.3g}"
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
    """One case's test, as if it were the only one (its q-value is its p-value)."""
    n_base, n_new = len(base), len(new)
    if not testable(n_base, n_new, alpha):
        return MannWhitney(False, None, False, n_base, n_new)
    if len(set(base) | set(new)) == 1:  # all equal: the test is undefined, and nothing differs
        return MannWhitney(True, 1.0, False, n_base, n_new, 1.0)
    from scipy.stats import mannwhitneyu  # here: loading scipy takes longer than a CLI's --help

    p = float(mannwhitneyu(base, new, alternative="two-sided").pvalue)
    return MannWhitney(True, p, p < alpha, n_base, n_new, p)


def control_fdr(tests: list[MannWhitney | None], alpha: float = ALPHA) -> list[MannWhitney | None]:
    """The same tests with their p-values adjusted together (Benjamini-Hochberg) over
    the testable ones; the others are returned as they are."""
    tested = [i for i, t in enumerate(tests) if t is not None and t.testable]
    if not tested:
        return list(tests)
    from scipy.stats import false_discovery_control

    q = false_discovery_control([tests[i].p_value for i in tested])
    out = list(tests)
    for i, qi in zip(tested, q, strict=True):
        out[i] = replace(tests[i], q_value=float(qi), significant=bool(qi < alpha))
    return out
