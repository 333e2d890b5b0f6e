"""Will it fit on my card? A memory model per series of a GPU run, and what it says
about cards the run was not made on.

The caching allocator's peaks hardly depend on the card, so each series (one model,
op, dtype, batch, tiled or untiled with its knobs) is fitted against pixels (width x
height x frames): a least-squares line for untiled cases; for tiled ones, where the
peak flattens once the image is larger than a tile, two lines meeting at a measured
size, when they fit better. The CUDA context and what the driver holds beside the
allocator come from NVML (the card's peak use minus the allocator's reserved peak)
and are a term of their own.

A case fits a card when its allocated peak, the context and the headroom asked for
fit the card's memory: near its limit the allocator frees its cache and retries, so
the reserved peak (which is what Memory (%) figures show, capped at the card) can
exceed a card that still runs the case.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.errors import BadInput, shown
from bench.record.run import CaseRecord
from bench.record.series import SeriesKey, card_budget, card_need, fits, series_key, series_label
from bench.record.store import Run

MIB = 1024**2
GIB = 1024**3
MIN_SIZES = 3  # fewer measured sizes: the measured points only, no fit
SIDE_STEP = 8  # square sides are reported as multiples of this


@dataclass(frozen=True)
class Fit:
    """Peak bytes against pixels: one line, or two meeting at a knee."""

    kind: str  # "linear", "piecewise" (a knee where tiling flattens it), "points" (too few sizes)
    xs: tuple[float, ...]  # the measured pixels, ascending
    ys: tuple[float, ...]  # their peaks
    lines: tuple[tuple[float, float, float], ...] = ()  # (from pixels, intercept, slope)
    r2: float | None = None
    max_residual: float | None = None  # largest |fit - measured| / measured

    @property
    def low(self) -> float:
        return self.xs[0]

    @property
    def high(self) -> float:
        return self.xs[-1]

    def extrapolated(self, x: float) -> bool:
        return x < self.low or x > self.high

    def __call__(self, x: float) -> float | None:
        """The peak at x pixels; None where only measured points are known and x is none of them."""
        if self.kind == "points":
            for xi, yi in zip(self.xs, self.ys, strict=True):
                if math.isclose(xi, x):
                    return yi
            return None
        start, a, b = self.lines[0]
        for start_i, a_i, b_i in self.lines:
            if x >= start_i:
                a, b = a_i, b_i
        return a + b * x

    def largest(self, budget: float) -> float | None:
        """The most pixels whose peak stays within `budget` bytes: math.inf where the
        last line does not rise, None where there is no fit to say it."""
        if self.kind == "points":
            return None
        best = 0.0
        for i, (start, a, b) in enumerate(self.lines):
            lo = start if i else 0.0
            hi = self.lines[i + 1][0] if i + 1 < len(self.lines) else math.inf
            if a + b * lo > budget:
                return best
            if b <= 0:
                best = hi
                continue
            x = (budget - a) / b
            if x < hi:
                return x
            best = hi
        return best


def fit(xs: Sequence[float], ys: Sequence[float], knee: bool = False) -> Fit:
    """Least squares on y = a + b x; with `knee`, also two lines meeting at a measured
    point, taken when they leave less than half the squared error of one line."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    xs = tuple(float(xs[i]) for i in order)
    ys = tuple(float(ys[i]) for i in order)
    if len(set(xs)) < MIN_SIZES:
        return Fit("points", xs, ys)
    a, b = _line(xs, ys)
    lines = ((xs[0], a, b),)
    sse = _sse(xs, ys, lines)
    kind = "linear"
    if knee and len(xs) >= 4:
        for k in range(1, len(xs) - 1):
            left, right = _line(xs[: k + 1], ys[: k + 1]), _line(xs[k:], ys[k:])
            candidate = ((xs[0], *left), (xs[k], *_through(xs[k], left, right[1])))
            err = _sse(xs, ys, candidate)
            if err < 0.5 * sse:
                lines, sse, kind = candidate, err, "piecewise"
    model = Fit(kind, xs, ys, lines)
    mean = statistics.fmean(ys)
    total = sum((y - mean) ** 2 for y in ys)
    residuals = [abs(model(x) - y) / y for x, y in zip(xs, ys, strict=True) if y]
    return Fit(kind, xs, ys, lines, 1 - sse / total if total else 1.0, max(residuals, default=0.0))


def _line(xs, ys) -> tuple[float, float]:
    if len(set(xs)) == 1:
        return statistics.fmean(ys), 0.0
    slope, intercept = statistics.linear_regression(xs, ys)
    return intercept, slope


def _through(x: float, left: tuple[float, float], slope: float) -> tuple[float, float]:
    """The line of `slope` that meets `left` at x: the curve stays continuous."""
    y = left[0] + left[1] * x
    return y - slope * x, slope


def _sse(xs, ys, lines) -> float:
    model = Fit("linear", xs, ys, lines)
    return sum((model(x) - y) ** 2 for x, y in zip(xs, ys, strict=True))


# -- series of a run ------------------------------------------------------------------------


@dataclass
class Series:
    model: str
    op: str
    dtype: str
    batch: int
    tiled: bool
    tiling: tuple | None
    variant: tuple | None = None  # Case.variant: one series per variant
    records: list[CaseRecord] = field(default_factory=list)
    allocated: Fit | None = None
    reserved: Fit | None = None

    @property
    def label(self) -> str:
        return series_label(self.model, self.op, None, self.dtype, self.batch, self.tiled, self.variant)

    @property
    def video(self) -> bool:
        return any(r.case.frames for r in self.records)

    @property
    def rate(self) -> float | None:
        """Audio: samples per second of input (the fit's x is samples), else None."""
        audio = [r.case for r in self.records if r.case.seconds]
        if not audio:
            return None
        longest = max(audio, key=lambda c: c.seconds)
        return longest.width / longest.seconds


def pixels(r: CaseRecord) -> float:
    c = r.case
    return float(c.width * c.height * (c.frames or 1))


@dataclass
class RunModel:
    """Every series of one GPU run fitted, and its CUDA context term."""

    run: Run
    series: list[Series]
    context: int | None  # bytes the card held beyond the allocator's reserved peak
    context_note: str


def model_run(run: Run) -> RunModel:
    """Bad input for a run whose memory is not a GPU allocator's."""
    if not run.is_gpu:
        raise BadInput(
            run.path,
            None,
            f"made on {run.device_name} ({run.device_kind}): CPU memory (a process's RSS) is not GPU "
            "memory, and says nothing of what fits a card",
        )
    ok = [r for r in run.records if r.ok]
    if not ok or all(r.mem.peak_allocated is None for r in ok):
        what = "an imported run holds percentages only" if run.imported else "no allocated peak is stored"
        raise BadInput(
            run.path, None, f"needs the allocator's allocated peaks ({what}); run a sweep on a GPU"
        )
    groups: dict[SeriesKey, Series] = {}
    for r in run.records:
        c = r.case
        series = Series(c.model, c.op, c.dtype, c.batch, c.tiled, c.tiling, c.variant)
        groups.setdefault(series_key(c, knobs=True), series).records.append(r)
    for s in groups.values():
        s.records.sort(key=pixels)
        measured = [r for r in s.records if r.ok and r.mem.peak_allocated is not None]
        xs = [pixels(r) for r in measured]
        s.allocated = fit(xs, [r.mem.peak_allocated for r in measured], knee=s.tiled) if measured else None
        with_reserved = [r for r in measured if r.mem.peak_reserved is not None]
        if with_reserved:
            s.reserved = fit(
                [pixels(r) for r in with_reserved], [r.mem.peak_reserved for r in with_reserved], s.tiled
            )
    context, note = cuda_context(ok)
    return RunModel(run, list(groups.values()), context, note)


def cuda_context(records: list[CaseRecord]) -> tuple[int | None, str]:
    extra = [
        r.mem.nvml_peak_used - r.mem.nvml_baseline_used - r.mem.peak_reserved
        for r in records
        if None not in (r.mem.nvml_peak_used, r.mem.nvml_baseline_used, r.mem.peak_reserved)
    ]
    if not extra:
        return None, "CUDA context unknown (NVML not sampled): not counted"
    ctx = int(statistics.median(extra))
    return ctx, f"CUDA context and driver: {ctx / MIB:.0f} MiB (NVML, median of {len(extra)} cases)"


# -- what fits a card -------------------------------------------------------------------------


@dataclass
class Cell:
    """One size of one series on one card."""

    size: str
    pixels: float
    need: float | None  # allocated peak + context + headroom, bytes
    reserved: float | None  # the reserved peak, bytes
    fits: bool | None
    how: str  # "measured", "fitted", "extrapolated", "unknown"
    status: str | None = None  # the run's own status of this case


def on_card(series: Series, size: str, x: float, total: float, context: int | None, headroom: float) -> Cell:
    """Whether one size of a series fits a card of `total` bytes."""
    measured = next((r for r in series.records if r.case.size_label == size), None)
    if measured is not None and measured.ok and measured.mem.peak_allocated is not None:
        need = card_need(measured.mem.peak_allocated, context, headroom)
        return Cell(size, x, need, measured.mem.peak_reserved, fits(need, total), "measured", measured.status)
    model = series.allocated
    peak = model(x) if model is not None else None
    if peak is None:
        return Cell(size, x, None, None, None, "unknown", measured.status if measured else None)
    reserved = series.reserved(x) if series.reserved is not None else None
    need = card_need(peak, context, headroom)
    how = "extrapolated" if model.extrapolated(x) else "fitted"
    return Cell(size, x, need, reserved, fits(need, total), how, measured.status if measured else None)


def _most(series: Series, total: float, context: int | None, headroom: float) -> float | None:
    """The largest x (pixels, or audio samples) the untiled line fits on the card."""
    if series.allocated is None:
        return None
    most = series.allocated.largest(card_budget(total, context, headroom))
    return min(most, 1e15) if most is not None and most > 0 else None


def longest_audio(
    series: Series, total: float, context: int | None, headroom: float
) -> tuple[float | None, bool]:
    """The longest audio, in whole seconds, that fits untiled, and whether it lies
    beyond the measured lengths."""
    most = _most(series, total, context, headroom) if series.rate else None
    seconds = math.floor(most / series.rate) if most else 0
    if not seconds:
        return None, False
    return float(seconds), series.allocated.extrapolated(seconds * series.rate)


def largest_side(
    series: Series, total: float, context: int | None, headroom: float
) -> tuple[int | None, bool]:
    """The largest square side (a multiple of SIDE_STEP) that fits untiled, and whether
    it lies beyond the measured sizes."""
    most = _most(series, total, context, headroom)
    side = int(math.sqrt(most) // SIDE_STEP * SIDE_STEP) if most else 0
    if not side:
        return None, False
    return side, series.allocated.extrapolated(float(side * side))


def parse_vram(text: str, option: str = "--vram", zero: bool = False) -> int:
    """`10GiB`, `10 GB` (a "10 GB" card has 10 GiB), `10240MiB`: a number needs its
    unit (is 8 gigabytes meant, or 8 MiB?); a bare 0 only where `zero` allows it."""
    m = re.fullmatch(r"\s*([0-9]{1,9}(?:\.[0-9]{1,6})?)\s*([GgMm]i?[Bb]?)?\s*", text or "")
    if not m or (float(m.group(1)) <= 0 and not zero):
        raise BadInput(None, option, f"{shown(text)} is not a memory size; say 10GiB, 12 GB or 10240MiB")
    if m.group(2) is None and float(m.group(1)) != 0:
        raise BadInput(None, option, f"{shown(text)} needs a unit: {m.group(1)}GiB or {m.group(1)}MiB")
    unit = (m.group(2) or "g").lower()[0]
    return int(float(m.group(1)) * (GIB if unit == "g" else MIB))


# What a measurement on one card does not see on yours: other processes and the display
# (a desktop session holds a few hundred MiB to a GiB), and a CUDA context that another
# driver and torch size differently. fit, advise, project and plot all start from it.
DEFAULT_HEADROOM = "10%"


@dataclass(frozen=True)
class Headroom:
    """Memory kept free on the card: a share of it, or a size."""

    text: str
    share: float = 0.0
    size: float = 0.0  # bytes

    def of(self, total: float) -> float:
        """In bytes, on a card of `total` bytes."""
        return self.share * total + self.size

    def describe(self, total: float) -> str:
        """`797 MiB headroom (10% of the card)`, `1024 MiB headroom`, `no headroom`."""
        if not self.of(total):
            return "no headroom"
        share = f" ({self.text})" if self.share else ""
        return f"{self.of(total) / MIB:.0f} MiB headroom{share}"


def parse_headroom(text: str, option: str = "--headroom") -> Headroom:
    """`10%` of the card, or a size (`1GiB`, `512MiB`), or 0."""
    m = re.fullmatch(r"\s*([0-9]{1,2}(?:\.[0-9]{1,3})?)\s*%\s*", text or "")
    if m:
        return Headroom(f"{float(m.group(1)):g}% of the card", share=float(m.group(1)) / 100)
    if re.fullmatch(r"\s*([0-9]{1,3})\s*%\s*", text or ""):
        raise BadInput(None, option, f"{shown(text)}: a share of the card must be below 100%")
    size = parse_vram(text, option, zero=True)
    return Headroom(f"{size / MIB:.0f} MiB" if size else "none", size=size)
