"""The run format as types: what a case is (`Case`), what was measured of it
(`Timing`, `Memory`, together a `CaseRecord`), and where (`RunMeta`, meta.json).

Records in memory are these objects; dicts exist only as their JSON. `from_json`
reads every format written so far (format 1 stored no version) and `to_json` writes
FORMAT_VERSION, in the field order of DESIGN.md. The rules every reader shares live
here too: which peak a memory metric names, and when a record's median can be used.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from bench import MEASUREMENT_VERSION, stats
from bench.errors import shown as _shown
from bench.files import RUN_NAME_RULE, is_plain_name
from bench.strict import MAX_BYTES, MAX_SECONDS, NAME_RE, Invalid, Newer, Obj, printable_tree

# 1: runs written before records and meta.json stored a version; 2: both store it.
FORMAT_VERSION = 2
STATUSES = ("ok", "oom", "error", "skipped")
OPS = ("encode", "decode")
DTYPES = ("float16", "bfloat16", "float32")
# The peaks a record's `percent` may be of (a sweep's `auto` is resolved by then).
METRICS = ("reserved", "allocated", "nvml", "process")
RUN_STATUSES = ("running", "complete", "interrupted")
WEIGHT_KINDS = ("pretrained", "random")
# Bounds no real case comes near: a side of a million pixels, a batch of 4096.
MAX_SIDE = 2**20
MAX_FRAMES = 100_000
MAX_BATCH = 4096
CASE_ID_RE = re.compile(r"^[0-9a-f]{8,64}$")
DEVICE_RE = re.compile(r"^(cpu|cuda:[0-9]{1,3})$")
KNOB_RE = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
PHASE_RE = re.compile(r"^[a-z_]{1,32}$")
# What a device's name or label may not hold: it stands in a docs table cell (a pipe
# would end the cell, a line break the row) and on a page rendered as HTML (a tag, an
# entity, a link or emphasis would be markup, not a name).
LABEL_FORBIDDEN = "|<>&`[]*~\\"
# and what markdown makes a link or emphasis of, though each character alone is plain
LABEL_FORBIDDEN_PARTS = ("__", "://", "www.")
MAX_LABEL = 80


def label_problem(text: Any) -> str | None:
    """Why `text` cannot name a device in tables and docs, or None when it can."""
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_LABEL:
        return f"must be a name of 1 to {MAX_LABEL} characters, got {_shown(text)}"
    bad = sorted({ch for ch in text if ch in LABEL_FORBIDDEN or not ch.isprintable()})
    bad += [part for part in LABEL_FORBIDDEN_PARTS if part in text.lower()]
    if bad:
        listed = " ".join(repr(ch) for ch in bad)
        return (
            f"{_shown(text)} holds {listed}, which a docs table cell cannot show as it is "
            "(no | < > & ` [ ] * ~ \\, line break, __, :// or www.)"
        )
    return None


def as_label(text: str) -> str:
    """A driver's name of a device, made a name label_problem takes: what a cell cannot
    show becomes a space, and it is cut to MAX_LABEL (a run is never refused for the
    name its own processor or GPU reports)."""
    clean = "".join(" " if ch in LABEL_FORBIDDEN or not ch.isprintable() else ch for ch in str(text))
    for part in LABEL_FORBIDDEN_PARTS:
        clean = re.sub(re.escape(part), " ", clean, flags=re.IGNORECASE)
    return " ".join(clean.split())[:MAX_LABEL].strip() or "device"


def newer_format(found: int) -> str:
    return (
        f"made by a newer vae-bench (format {found}; this one reads formats up to {FORMAT_VERSION}): "
        "update vae-bench"
    )


# Variant axes a case can set, with what a case that sets none of them runs with
# (their defaults are left out of a case, so that its case_id is the one it had
# before variants existed). Tiling knobs given as lists join them by name.
VARIANT_DEFAULTS = {
    "channels_last": False,
    "compile": "none",
    "attention": "sdpa",
    "cudnn_benchmark": False,
    "slicing": False,
}


def variant_words(variant: tuple[tuple[str, Any], ...] | None) -> str:
    """A variant in words: a true flag by its name, any other axis by name and value."""
    return ", ".join(key if value is True else f"{key} {value}" for key, value in variant or ())


def series_label(model, op, size, dtype, batch, tiled, variant) -> str:
    """`sd-v1 decode 1024x1024 float16 tiled [channels_last]`; without a size (None), the
    label of a series of sizes."""
    parts = [model, op, *([size] if size else []), dtype]
    if batch != 1:
        parts.append(f"batch {batch}")
    parts.append("tiled" if tiled else "untiled")
    label = " ".join(parts)
    return f"{label} [{variant_words(variant)}]" if variant else label


def table_groups(cases: Iterable[Case]) -> list[tuple]:
    """(model, op, dtype, batch, variant axes, swept tiling) of each table the cases
    fill, in their order: one per variant, and one per tiling swept as a list. An
    untiled case stands beside each tiling its variant was swept with, so it makes no
    table of its own there."""
    found = dict.fromkeys((c.model, c.op, c.dtype, c.batch, c.axes, c.swept_tiling) for c in cases)
    swept = {g[:5] for g in found if g[5] is not None}
    return [g for g in found if g[5] is not None or g[:5] not in swept]


@dataclass(frozen=True)
class Case:
    """What runs: never what was measured. The same parameters give the same case_id
    on any machine, so runs from different devices or days match case by case."""

    model: str
    op: str
    width: int
    height: int
    frames: int | None
    batch: int
    dtype: str
    tiled: bool
    tiling: tuple[tuple[str, Any], ...] | None  # knobs in force; None when untiled
    # Variant axes in force that differ from VARIANT_DEFAULTS, and the tiling knobs a
    # sweep swept (given as lists): None for a case of none.
    variant: tuple[tuple[str, Any], ...] | None = None

    @property
    def tiling_dict(self) -> dict[str, Any] | None:
        return dict(self.tiling) if self.tiling is not None else None

    @property
    def variant_dict(self) -> dict[str, Any]:
        return dict(self.variant or ())

    @property
    def axes(self) -> tuple[tuple[str, Any], ...] | None:
        """The variant axes of `variant` (those of VARIANT_DEFAULTS), or None."""
        mine = tuple((k, v) for k, v in self.variant or () if k in VARIANT_DEFAULTS)
        return mine or None

    @property
    def swept_tiling(self) -> tuple[tuple[str, Any], ...] | None:
        """The tiling knobs of `variant` (swept as lists), or None."""
        mine = tuple((k, v) for k, v in self.variant or () if k not in VARIANT_DEFAULTS)
        return mine or None

    def axis(self, name: str) -> Any:
        """A variant axis as it is in force for this case."""
        return self.variant_dict.get(name, VARIANT_DEFAULTS.get(name))

    def params(self) -> dict[str, Any]:
        d = asdict(self)
        d["tiling"] = self.tiling_dict
        if self.variant is None:
            d.pop("variant")  # a case of no variant hashes as it always did
        else:
            d["variant"] = self.variant_dict
        return d

    @property
    def case_id(self) -> str:
        payload = json.dumps(
            {"v": MEASUREMENT_VERSION, **self.params()}, sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def size_label(self) -> str:
        """`WxH`, or `WxHxF` for video."""
        label = f"{self.width}x{self.height}"
        return f"{label}x{self.frames}" if self.frames else label

    @property
    def megapixels(self) -> float:
        return self.width * self.height * (self.frames or 1) / 1e6

    @property
    def label(self) -> str:
        c = self
        return series_label(c.model, c.op, c.size_label, c.dtype, c.batch, c.tiled, c.variant)

    @classmethod
    def from_params(cls, d: dict[str, Any]) -> Case:
        tiling = d.get("tiling")
        variant = d.get("variant")
        return cls(
            model=d["model"],
            op=d["op"],
            width=int(d["width"]),
            height=int(d["height"]),
            frames=_frames(d.get("frames")),
            batch=int(d["batch"]),
            dtype=d["dtype"],
            tiled=bool(d["tiled"]),
            tiling=tuple(sorted(tiling.items())) if tiling is not None else None,
            variant=tuple(sorted(variant.items())) if variant else None,
        )


def read_case(o: Obj) -> Case:
    """A case's parameters as a stored record holds them, strictly."""
    return Case(
        model=o.str("model", required=True, pattern=NAME_RE),
        op=o.str("op", required=True, choices=OPS),
        width=o.int("width", required=True, lo=1, hi=MAX_SIDE),
        height=o.int("height", required=True, lo=1, hi=MAX_SIDE),
        frames=o.int("frames", lo=1, hi=MAX_FRAMES),
        batch=o.int("batch", required=True, lo=1, hi=MAX_BATCH),
        dtype=o.str("dtype", required=True, choices=DTYPES),
        tiled=o.bool("tiled", required=True),
        tiling=_knobs(o, "tiling"),
        variant=_knobs(o, "variant") or None,
    )


def _knobs(o: Obj, key: str) -> tuple[tuple[str, Any], ...] | None:
    """Tiling knobs or variant axes: names to a flag, a finite number or a short word."""
    knobs = o.obj(key)
    if knobs is None:
        return None
    for name, value in knobs.d.items():
        if not KNOB_RE.match(name):
            raise knobs.bad(name, "is not a knob or axis name (lowercase letters, digits and _)")
        if isinstance(value, str):
            knobs.str(name, max_len=64)
        elif not isinstance(value, bool):
            knobs.num(name, lo=-1e12, hi=1e12)
    return tuple(sorted(knobs.d.items()))


def _frames(value: Any) -> int | None:
    """Frames as an int, or None for an image; a DataFrame that mixes image and video
    rows hands them over as floats, with NaN for None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)


@dataclass(frozen=True)
class Timing:
    """Seconds per call: the raw samples, and the statistics derived from them when
    they were measured (`of`): the median with its 95% interval (distribution-free,
    from order statistics; None below six samples). A run imported from a published
    table has the median alone; runs of format 1 have no interval."""

    median: float | None
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    iqr: float | None = None
    samples: tuple[float, ...] = ()
    ci_low: float | None = None
    ci_high: float | None = None
    calls: int | None = None  # timed calls: len(samples)

    @classmethod
    def of(cls, samples: list[float]) -> Timing:
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
        )

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
        return cls(**seconds, samples=o.nums("samples", hi=MAX_SECONDS), calls=o.int("calls", hi=10**9))


# The Memory field that holds the peak of each metric; nvml is computed.
_PEAK_FIELD = {"reserved": "peak_reserved", "allocated": "peak_allocated", "process": "process_peak"}


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
    name = _PEAK_FIELD.get(metric or "")
    value = getattr(mem, name) if name else None
    return None if value is None else int(value)


def percent(peak: int | None, total: int | None) -> float | None:
    if peak is None or not total:
        return None
    return peak / total * 100


# Keys a record has on disk, in order; `approximate` and `source` only in imported runs.
_RECORD_HEAD = ("case_id", "model", "weights", "op", "height", "width", "frames", "batch", "dtype")


@dataclass
class CaseRecord:
    """One case as measured: one cases.jsonl line."""

    case: Case
    case_id: str  # as stored: older measurement versions hash to other ids
    weights: str | None
    device: str | None
    status: str
    error: str | None = None
    error_phase: str | None = None  # setup | first_call | warmup | timed: where it failed
    warmup: int | None = None
    repeats: int | str | None = None
    first_call_s: float | None = None
    warmup_calls: int | None = None  # the first call included
    warmup_s: float | None = None
    time: Timing | None = None
    precision_met: bool | None = None  # the median's interval is within the precision
    mem: Memory = field(default_factory=Memory)
    clocks: Clocks | None = None
    quality: Quality | None = None  # where the sweep asked for it
    setup_s: float | None = None  # building the input, setting tiling
    measure_s: float | None = None  # every call, warmup and timed, with what is between
    quality_s: float | None = None  # the output's call and the reference's, compared
    started_at: str | None = None
    ended_at: str | None = None
    approximate: bool = False  # imported from a published table
    source: str | None = None  # where on that page
    format: int = FORMAT_VERSION

    @classmethod
    def new(cls, case: Case, **values: Any) -> CaseRecord:
        return cls(case=case, case_id=case.case_id, **values)

    # -- the rules every reader uses -------------------------------------------------

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def median(self) -> float | None:
        """The median time, where it can be used: the case ran (`ok`) and was timed."""
        return self.time.median if self.ok and self.time is not None else None

    @property
    def samples(self) -> list[float]:
        return list(self.time.samples) if self.time is not None else []

    @property
    def peak(self) -> int | None:
        """The peak of the record's own memory metric, where the case ran."""
        return self.mem.peak if self.ok else None

    @property
    def percent(self) -> float | None:
        return self.mem.percent if self.ok else None

    @property
    def metric(self) -> str | None:
        return self.mem.metric

    @property
    def throttled(self) -> str | None:
        """Why the GPU ran slower than it could during the timed calls, in words."""
        return self.clocks.throttled if self.clocks is not None else None

    @property
    def half_width(self) -> float | None:
        return self.time.half_width if self.ok and self.time is not None else None

    @property
    def interval(self) -> tuple[float, float] | None:
        """The median's 95% interval, where the case ran and it met the precision."""
        t = self.time
        if not self.ok or not self.precision_met or t is None or t.ci_low is None or t.ci_high is None:
            return None
        return t.ci_low, t.ci_high

    # -- the case, for short (its other parameters: record.case.model, ...) -----------

    @property
    def label(self) -> str:
        return self.case.label

    @property
    def size_label(self) -> str:
        return self.case.size_label

    @property
    def megapixels(self) -> float:
        return self.case.megapixels

    # -- JSON ----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        params = self.case.params()
        d: dict[str, Any] = {"case_id": self.case_id, "model": params["model"], "weights": self.weights}
        for key in _RECORD_HEAD[3:]:
            d[key] = params[key]
        d.update(
            tiled=params["tiled"],
            tiling=params["tiling"],
            variant=params.get("variant"),
            device=self.device,
            status=self.status,
            error=self.error,
            error_phase=self.error_phase,
            warmup=self.warmup,
            repeats=self.repeats,
            first_call_s=self.first_call_s,
            warmup_calls=self.warmup_calls,
            warmup_s=self.warmup_s,
            time_s=self.time.to_json() if self.time is not None else None,
            precision_met=self.precision_met,
            mem=self.mem.to_json(),
            clocks=self.clocks.to_json() if self.clocks is not None else None,
            quality=self.quality.to_json() if self.quality is not None else None,
            setup_s=self.setup_s,
            measure_s=self.measure_s,
            quality_s=self.quality_s,
            started_at=self.started_at,
            ended_at=self.ended_at,
        )
        if self.approximate:
            d.update(approximate=True, source=self.source)
        d["format"] = FORMAT_VERSION
        return d

    @classmethod
    def from_json(cls, d: Any) -> CaseRecord:
        """Any format written so far, read strictly: Invalid (naming the field) for a
        value that is not what the format says, and for a format newer than this one."""
        o = Obj(d)
        version = o.int("format", lo=1, hi=2**31) or 1
        if version > FORMAT_VERSION:
            raise Newer("format", newer_format(version))
        printable_tree(o.d)
        repeats = o.d.get("repeats")
        if repeats is not None and repeats != "auto":
            repeats = o.int("repeats", lo=1, hi=10**9)
        status = o.str("status", required=True, choices=STATUSES)
        time = Timing.from_json(o.d.get("time_s"))
        if status == "ok" and (time is None or not time.median):
            raise Invalid("time_s.median", "missing or 0: a case that ran (status ok) took a time above 0")
        return cls(
            case=read_case(o),
            case_id=o.str("case_id", required=True, pattern=CASE_ID_RE),
            weights=o.str("weights", choices=WEIGHT_KINDS),
            device=o.str("device", pattern=DEVICE_RE),
            status=status,
            error=o.str("error"),
            error_phase=o.str("error_phase", pattern=PHASE_RE),
            warmup=o.int("warmup", hi=10**9),
            repeats=repeats,
            first_call_s=o.num("first_call_s", hi=MAX_SECONDS),
            warmup_calls=o.int("warmup_calls", hi=10**9),
            warmup_s=o.num("warmup_s", hi=MAX_SECONDS),
            time=time,
            precision_met=o.bool("precision_met"),
            mem=Memory.from_json(o.d.get("mem")),
            clocks=Clocks.from_json(o.d.get("clocks")),
            quality=Quality.from_json(o.d.get("quality")),
            setup_s=o.num("setup_s", hi=MAX_SECONDS),
            measure_s=o.num("measure_s", hi=MAX_SECONDS),
            quality_s=o.num("quality_s", hi=MAX_SECONDS),
            started_at=o.str("started_at", max_len=64),
            ended_at=o.str("ended_at", max_len=64),
            approximate=bool(o.bool("approximate")),
            source=o.str("source"),
            format=version,
        )

    def flat(self) -> dict[str, Any]:
        """One row of the DataFrame view: `time_s` and `mem` spread into
        `time_s.median`, `mem.percent`, ...; `tiling` stays one dict, since it is a
        parameter of the case, not a measurement."""
        d = self.to_json()
        flat = {k: v for k, v in d.items() if k not in ("time_s", "mem", "clocks", "quality", "format")}
        for key in ("time_s", "mem", "clocks", "quality"):
            for sub, value in (d[key] or {}).items():
                flat[f"{key}.{sub}"] = value
        return flat


# meta.json's keys in the order they are written; the others a run may hold (older
# formats, fields of later versions) are kept as they are, after these.
_META_KEYS = (
    "run_id",
    "name",
    "status",
    "started_at",
    "ended_at",
    "command",
    "config_file",
    "imported",
    "approximate",
    "config",
    "environment",
    "device",
    "models",
    "cases_planned",
    "warnings",
    "resumed_at",
    "workers",
    "time_spent",
    "format",
)


@dataclass
class RunMeta:
    """meta.json: where and how a run was made."""

    run_id: str | None = None
    name: str | None = None
    status: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    command: str | None = None
    config_file: str | None = None
    imported: dict | None = None  # {page, spec, blocks} of a run read from published tables
    approximate: str | None = None  # why its figures are approximate
    config: dict | None = None  # the resolved sweep
    environment: dict = field(default_factory=dict)
    device: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)
    cases_planned: int | None = None
    warnings: list[str] = field(default_factory=list)
    resumed_at: list[str] = field(default_factory=list)
    # one per worker started: model, dtype, start_to_ready_s (imports, CUDA init and
    # the build), build_s, pid
    workers: list[dict] = field(default_factory=list)
    # one per sweep into the run (the first, then each resume): where its wall time went
    time_spent: list[dict] = field(default_factory=list)
    format: int = FORMAT_VERSION
    extra: dict = field(default_factory=dict)

    @property
    def device_kind(self) -> str | None:
        """ "cuda:0", "cpu", ...: what the run measured on."""
        return self.device.get("device")

    @property
    def device_name(self) -> str | None:
        """What the driver calls the device."""
        return self.device.get("name")

    @property
    def device_label(self) -> str | None:
        """What tables, docs and history call it: the sweep's device_label, else its name."""
        return self.device.get("label") or self.device_name

    def add_warnings(self, messages) -> bool:
        """Add the messages not yet known; whether any was new."""
        new = [m for m in messages if m and m not in self.warnings]
        self.warnings.extend(new)
        return bool(new)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for key in _META_KEYS:
            value = getattr(self, key)
            if key in ("imported", "approximate", "config_file") and value is None:
                continue
            if key in ("resumed_at", "workers", "time_spent") and not value:
                continue
            d[key] = FORMAT_VERSION if key == "format" else value
        d.update({k: v for k, v in self.extra.items() if k not in d})
        return d

    @classmethod
    def from_json(cls, d: Any) -> RunMeta:
        """Any meta.json written so far, read strictly: Invalid (naming the field) for a
        value that is not what the format says, and for a format newer than this one.
        Sections this version does not know are kept as they are, for the next writer."""
        o = Obj(d)
        version = o.int("format", lo=1, hi=2**31) or 1
        if version > FORMAT_VERSION:
            raise Newer("format", newer_format(version))
        printable_tree(o.d)
        config = o.obj("config")
        imported = o.obj("imported")
        if imported is not None:
            for key in ("page", "spec"):
                imported.str(key)
            imported.strs("blocks")
        extra = {k: v for k, v in o.d.items() if k not in _META_KEYS}
        if "host" in extra:
            _check_host(o.obj("host", required=True))
        if "fleet" in extra:
            o.scalars("fleet")
        return cls(
            run_id=o.str("run_id", max_len=255),
            name=o.str("name", max_len=255),
            status=o.str("status", choices=RUN_STATUSES),
            started_at=o.str("started_at", max_len=64),
            ended_at=o.str("ended_at", max_len=64),
            command=o.str("command", max_len=100_000),
            config_file=o.str("config_file"),
            imported=imported.d if imported is not None else None,
            approximate=o.str("approximate"),
            config=config.d if config is not None else None,
            environment=_informational(o, "environment"),
            device=_device(o),
            models=_models(o),
            cases_planned=o.int("cases_planned", hi=10**9),
            warnings=list(o.strs("warnings", max_len=100_000)),
            resumed_at=list(o.strs("resumed_at", max_len=64)),
            workers=[w.d for w in o.objs("workers")],
            time_spent=[_seconds(t) for t in o.objs("time_spent")],
            format=version,
            extra=extra,
        )


def _informational(o: Obj, key: str) -> dict:
    """A section only printed and compared (the environment): an object, its values any
    JSON (versions, flags, lists of processes)."""
    section = o.obj(key)
    return dict(section.d) if section is not None else {}


def _device(o: Obj) -> dict:
    device = o.obj("device")
    if device is None:
        return {}
    device.str("device", pattern=DEVICE_RE)
    for key in ("name", "label"):
        value = device.str(key, max_len=1000)
        why = label_problem(value) if value is not None else None
        if why:
            raise device.bad(key, why)
    device.int("total_memory", lo=1)
    return dict(device.d)


def _models(o: Obj) -> dict:
    models = o.obj("models")
    if models is None:
        return {}
    for name in models.d:
        entry = models.obj(name, required=True)
        for key in ("class", "repo", "subfolder", "config", "config_sha256"):
            entry.str(key)
        entry.int("params", hi=10**15)
        weights = entry.obj("weights")
        if weights is not None:
            weights.str("kind", choices=WEIGHT_KINDS)
            for key in ("path", "source", "revision", "note"):
                weights.str(key)
    return dict(models.d)


def _seconds(o: Obj) -> dict:
    return {k: o.num(k, hi=10 * MAX_SECONDS) for k in o.d}


def _check_host(host: Obj) -> None:
    """meta.json's `host`: the runs of one sweep over several GPUs of a host."""
    for i, run in enumerate(host.strs("runs", max_len=255)):
        if not is_plain_name(run):
            raise host.bad(f"runs[{i}]", f"{_shown(run)} is not {RUN_NAME_RULE}")
    for i, device in enumerate(host.strs("devices", max_len=16)):
        if not DEVICE_RE.match(device):
            raise host.bad(f"devices[{i}]", f"{_shown(device)} is not a device such as cuda:0")
    for i, group in enumerate(host.list("assigned")):
        if not (isinstance(group, list) and len(group) == 2 and all(isinstance(g, str) for g in group)):
            raise host.bad(f"assigned[{i}]", "must be [model, dtype]")
    host.str("dealt_by")
    for key in ("at_start", "at_resume", "at_end"):
        host.obj(key)
