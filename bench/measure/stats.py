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


# The `mem` field that holds the peak for each memory metric; nvml is computed.
MEM_FIELD = {"reserved": "peak_reserved", "allocated": "peak_allocated", "process": "process_peak"}


def peak_of(mem: dict, metric: str | None) -> int | None:
    """The peak a memory metric names (nvml: the card's peak use minus what it used
    before the worker touched CUDA), or None where it was not measured."""
    if metric == "nvml":
        peak, base = mem.get("nvml_peak_used"), mem.get("nvml_baseline_used")
        return None if peak is None or base is None else int(peak - base)
    value = mem.get(MEM_FIELD.get(metric or "", ""))
    return None if value is None else int(value)


def percent(peak: int | None, total: int | None) -> float | None:
    if peak is None or not total:
        return None
    return peak / total * 100
