"""What was measured of a case: seconds per call (`Timing`), bytes (`Memory`), the
GPU's clocks (`Clocks`) and the output's distance from its reference (`Quality`), each
with its JSON; what a backend hands the sweep of one case (`Measured`); and which peak
a memory metric names."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from bench import stats
from bench.strict import MAX_BYTES, MAX_SECONDS, Obj

# The smallest change of the halves' medians that counts as drift where no precision
# was given: a sweep's default `precision`.
DRIFT_FLOOR = 0.01

# The peaks a record's `percent` may be of (a sweep's `auto` is resolved by then).
METRICS = ("reserved", "allocated", "nvml", "process")


@dataclass(frozen=True)
class Timing:
    """Seconds per call: the raw samples, and the statistics derived from them when
    they were measured (`of`): the median with its 95% interval (distribution-free,
    from order statistics; None below six samples), and whether the samples are
    stationary: `drift` is the median of their second half over that of their first,
    `stationary` False where the halves differ beyond noise and the precision
    (bench.stats.stationary), None below sixteen samples; `discarded` is how many timed
    calls were dropped as warmup because they were not. A run imported from a
    published table has the median alone; runs of format 1 have no interval, and
    records made before the check get `drift` and `stationary` from their samples as
    they are read (the sweeps' default precision, 1%, as the floor)."""

    median: float | None
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    iqr: float | None = None
    samples: tuple[float, ...] = ()
    ci_low: float | None = None
    ci_high: float | None = None
    calls: int | None = None  # timed calls: len(samples)
    drift: float | None = None
    stationary: bool | None = None
    discarded: int | None = None

    @classmethod
    def of(cls, samples: list[float], precision: float = DRIFT_FLOOR, discarded: int = 0) -> Timing:
        import numpy as np

        a = np.asarray(samples, dtype=float)
        q1, q3 = np.percentile(a, [25, 75])
        ci = stats.median_interval(list(samples))
        return cls(
            median=float(np.median(a)),
            mean=float(a.mean()),
            min=float(a.min()),
            max=float(a.max()),
            iqr=float(q3 - q1),
            samples=tuple(float(s) for s in samples),
            ci_low=ci[0] if ci else None,
            ci_high=ci[1] if ci else None,
            calls=len(samples),
            drift=stats.drift(list(samples)),
            stationary=stats.stationary(list(samples), precision),
            discarded=discarded,
        )

    @property
    def drifting(self) -> bool:
        return self.stationary is False

    @property
    def half_width(self) -> float | None:
        """The larger distance from the median to an end of its interval."""
        if self.median is None or self.ci_low is None or self.ci_high is None:
            return None
        return max(self.median - self.ci_low, self.ci_high - self.median)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["samples"] = list(self.samples)
        return d

    @classmethod
    def from_json(cls, d: Any, path: str = "time_s") -> Timing | None:
        """Strictly (see bench.strict): Invalid for a field of the wrong type or range."""
        if not d:
            return None
        o = Obj(d, path)
        keys = ("median", "mean", "min", "max", "iqr", "ci_low", "ci_high")
        seconds = {k: o.num(k, hi=MAX_SECONDS) for k in keys}
        median, low, high = seconds["median"], seconds["ci_low"], seconds["ci_high"]
        # what every reader takes for granted: an interval around its median, a least
        # below a most (a plot's error bars, a fit's ratios)
        if median is not None and low is not None and high is not None and not low <= median <= high:
            raise o.bad("ci_low", f"the interval [{low:g}, {high:g}] does not hold the median {median:g}")
        if seconds["min"] is not None and seconds["max"] is not None and seconds["min"] > seconds["max"]:
            raise o.bad("min", f"{seconds['min']:g} is above the max {seconds['max']:g}")
        samples = o.nums("samples", hi=MAX_SECONDS)
        drift, steady = o.num("drift", hi=1e9), o.bool("stationary")
        if "stationary" not in d and samples:
            drift, steady = stats.drift(list(samples)), stats.stationary(list(samples), DRIFT_FLOOR)
        if steady is False and drift is None:
            raise o.bad("drift", "must be given where stationary is false (the halves' ratio)")
        return cls(
            **seconds,
            samples=samples,
            calls=o.int("calls", hi=10**9),
            drift=drift,
            stationary=steady,
            discarded=o.int("discarded", hi=10**9),
        )


# The Memory field that holds the peak of each metric; nvml is computed.
PEAK_FIELD = {"reserved": "peak_reserved", "allocated": "peak_allocated", "process": "process_peak"}


@dataclass(frozen=True)
class Memory:
    """Bytes; None where the backend cannot measure a figure. `percent` is the peak
    of `metric` over `total`."""

    peak_allocated: int | None = None
    peak_reserved: int | None = None
    nvml_peak_used: int | None = None
    nvml_baseline_used: int | None = None
    process_peak: int | None = None
    total: int | None = None
    percent: float | None = None
    metric: str | None = None
    # The first call's own peaks (cuDNN's search, lazy initialization), apart from
    # the steady state above.
    first_call_allocated: int | None = None
    first_call_reserved: int | None = None
    first_call_process: int | None = None

    @property
    def peak(self) -> int | None:
        """The peak `metric` names (nvml: the card's peak use minus what it used before
        the worker touched CUDA), or None where it was not measured."""
        return peak_of(self, self.metric)

    def with_percent(self) -> Memory:
        return replace(self, percent=percent(self.peak, self.total))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: Any, path: str = "mem") -> Memory:
        if d is None:
            return cls()
        o = Obj(d, path)
        byte_fields = [f.name for f in fields(cls) if f.name not in ("percent", "metric")]
        return cls(
            **{k: o.int(k, hi=MAX_BYTES) for k in byte_fields},
            percent=o.num("percent", hi=1e6),
            metric=o.str("metric", choices=METRICS),
        )


# Clock-event reasons NVML gives that slow the GPU down (the others, such as an
# idle GPU or application clocks, do not mean the work ran slower than it could).
THROTTLE_REASONS = {
    "sw_power_cap": "power cap",
    "hw_slowdown": "HW slowdown",
    "hw_power_brake_slowdown": "HW power brake",
    "sw_thermal_slowdown": "thermal (SW)",
    "hw_thermal_slowdown": "thermal (HW)",
}


@dataclass(frozen=True)
class Clocks:
    """A GPU's clocks while the case's timed calls ran, as NVML sampled them."""

    sm_mhz_min: int | None = None
    sm_mhz_median: float | None = None
    mem_mhz_min: int | None = None
    mem_mhz_median: float | None = None
    throttle: tuple[str, ...] = ()  # THROTTLE_REASONS seen during the timed calls
    temperature_start_c: int | None = None
    temperature_end_c: int | None = None
    settled: bool | None = None  # the SM clock settled during warmup, before the cap

    @property
    def throttled(self) -> str | None:
        """The reasons in words, or None when the GPU was not held back."""
        return ", ".join(THROTTLE_REASONS.get(r, r) for r in self.throttle) or None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["throttle"] = list(self.throttle)
        return d

    @classmethod
    def from_json(cls, d: Any, path: str = "clocks") -> Clocks | None:
        if not d:
            return None
        o = Obj(d, path)
        return cls(
            sm_mhz_min=o.int("sm_mhz_min", hi=100_000),
            sm_mhz_median=o.num("sm_mhz_median", hi=100_000),
            mem_mhz_min=o.int("mem_mhz_min", hi=100_000),
            mem_mhz_median=o.num("mem_mhz_median", hi=100_000),
            throttle=o.strs("throttle", max_len=64),
            temperature_start_c=o.int("temperature_start_c", lo=-100, hi=300),
            temperature_end_c=o.int("temperature_end_c", lo=-100, hi=300),
            settled=o.bool("settled"),
        )


@dataclass(frozen=True)
class Quality:
    """How far a case's output lies from its reference's: the same model, op, input
    and size, untiled, with no variant (in `reference`, the reference's own words).
    Decode compares pixels clamped to [-1, 1] (PSNR over a range of 2); encode compares
    latents (the distribution's mean), PSNR over the reference latent's range. The
    figures are None, with `note` saying why, where there was no reference. Random
    weights show seams and numeric drift, not what a person would see."""

    reference: str
    max_abs: float | None = None
    mean_abs: float | None = None
    psnr_db: float | None = None  # None for an output identical to the reference
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: Any, path: str = "quality") -> Quality | None:
        if not d:
            return None
        o = Obj(d, path)
        return cls(
            reference=o.str("reference", required=True),
            max_abs=o.num("max_abs"),
            mean_abs=o.num("mean_abs"),
            psnr_db=o.num("psnr_db", lo=-1e4, hi=1e4),
            note=o.str("note"),
        )


def peak_of(mem: Memory, metric: str | None) -> int | None:
    if metric == "nvml":
        peak, base = mem.nvml_peak_used, mem.nvml_baseline_used
        return None if peak is None or base is None else int(peak - base)
    name = PEAK_FIELD.get(metric or "")
    value = getattr(mem, name) if name else None
    return None if value is None else int(value)


def percent(peak: int | None, total: int | None) -> float | None:
    if peak is None or not total:
        return None
    return peak / total * 100


@dataclass(frozen=True)
class Measured:
    """What a backend measured of one case: a CaseRecord takes it whole
    (CaseRecord.new(case, measured=...)), under the same field names."""

    first_call_s: float
    warmup_calls: int
    warmup_s: float
    time: Timing
    precision_met: bool
    mem: Memory
    clocks: Clocks | None = None

    def values(self) -> dict[str, Any]:
        """The fields by name, each as it is (not turned into dicts as asdict would)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
