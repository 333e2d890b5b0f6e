"""Statistics derived from the raw samples, which are always kept beside them."""

from __future__ import annotations

import numpy as np


def summarize(samples: list[float]) -> dict:
    a = np.asarray(samples, dtype=float)
    q1, q3 = np.percentile(a, [25, 75])
    return {
        "median": float(np.median(a)),
        "mean": float(a.mean()),
        "min": float(a.min()),
        "max": float(a.max()),
        "iqr": float(q3 - q1),
        "samples": [float(s) for s in samples],
    }


def percent(peak: int | None, total: int | None) -> float | None:
    if peak is None or not total:
        return None
    return peak / total * 100
