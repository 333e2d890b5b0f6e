"""`vae-bench fit --model --op --size`: one case on one card, answered in one line.

The figure compared is the one every fit answer uses (bench.analysis.fit): the
allocated peak plus the CUDA context, with the headroom kept free, against the card's
memory. When the case does not fit, the cheapest setting that does (the least time,
among the settings the runs measured at that input: tiling and its tile size, slicing,
channels_last, another attention, a lower dtype), with its time cost against the plain
setting and its quality (PSNR against the untiled output, where the run measured it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.analysis.advise import pick
from bench.analysis.fit import MIB, Cell, Headroom, RunModel, Series, on_card
from bench.errors import BadInput
from bench.record.case import size_label
from bench.record.run import CaseRecord

EXIT_FITS, EXIT_DOES_NOT_FIT = 0, 1


@dataclass(frozen=True)
class Ask:
    """The case asked about."""

    model: str
    op: str
    width: int
    height: int
    dtype: str | None = None  # None: the one dtype the runs measured it in
    frames: int | None = None
    seconds: float | None = None  # audio: width and height are unused

    @property
    def size(self) -> str:
        return size_label(self.width, self.height, self.frames, self.seconds)

    def x(self, series: Series) -> float:
        """Where the asked case lies on the series' line: pixels, or audio samples at
        the series' rate."""
        if self.seconds is not None:
            return self.seconds * (series.rate or 0.0)
        return float(self.width * self.height * (self.frames or 1))

    def suits(self, series: Series) -> bool:
        """A series of the asked kind of input: video for frames, audio for seconds."""
        return series.video == bool(self.frames) and (series.rate is not None) == (self.seconds is not None)


@dataclass
class Option:
    """A setting measured (or fitted) at the input asked about, on the card."""

    series: Series
    run: RunModel
    cell: Cell
    record: CaseRecord | None  # the measured case at that input, where there is one

    @property
    def median(self) -> float | None:
        return self.record.median if self.record is not None and self.record.ok else None


@dataclass
class Verdict:
    ask: Ask
    dtype: str
    card: str
    total: float
    nominal: bool
    headroom: Headroom
    base: Option
    cheapest: Option | None = None
    plain_time: float | None = None  # the asked setting's median, where measured
    min_psnr: float | None = None
    models: list[RunModel] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return bool(self.base.cell.fits)


def _plain(s: Series) -> bool:
    return not s.tiled and s.variant is None


def _base(models: list[RunModel], ask: Ask) -> tuple[RunModel, Series]:
    """The plain series (untiled, no variant) of the case asked about: the first run
    that measured it in the dtype asked for (or its one dtype)."""
    found = [
        (rm, s)
        for rm in models
        for s in rm.series
        if (s.model, s.op) == (ask.model, ask.op) and _plain(s) and s.batch == 1 and ask.suits(s)
    ]
    if not found:
        kind = {True: " (audio: a size in seconds)", False: ""}
        measured = sorted(
            {
                f"{s.model} {s.op}" + (" (video)" if s.video else kind[s.rate is not None])
                for rm in models
                for s in rm.series
            }
        )
        asked = f"{ask.model} {ask.op} at {ask.size}"
        raise BadInput(None, "--model", f"{asked} is not in the run(s); they hold {', '.join(measured)}")
    dtypes = sorted({s.dtype for _, s in found})
    if ask.dtype is None and len(dtypes) > 1:
        raise BadInput(None, "--dtype", f"{ask.model} {ask.op} was measured in {', '.join(dtypes)}: name one")
    want = ask.dtype or dtypes[0]
    for rm, s in found:
        if s.dtype == want:
            return rm, s
    raise BadInput(
        None,
        "--dtype",
        f"{ask.model} {ask.op} was measured in {', '.join(dtypes)} only, not {want}; "
        "give a run that measured it",
    )


def _at(s: Series, size: str) -> CaseRecord | None:
    return next((r for r in s.records if r.case.size_label == size), None)


def _acceptable(models: list[RunModel], o: Option, floor: float | None) -> bool:
    """Its quality meets the floor, or was not measured (said so in the line)."""
    q, _ = _measured_quality(models, o)
    if floor is None or q is None:
        return True
    return q.max_abs == 0 or (q.psnr_db is not None and q.psnr_db >= floor)


def judge(
    models: list[RunModel],
    ask: Ask,
    card: str,
    total: float,
    headroom: Headroom,
    nominal: bool = False,
    min_psnr: float | None = 40.0,
) -> Verdict:
    rm, series = _base(models, ask)
    room = headroom.of(total)
    cell = on_card(series, ask.size, ask.x(series), total, rm.context, room)
    if cell.fits is None:
        raise BadInput(
            rm.run.path,
            None,
            f"{series.label} was measured at {len(series.records)} size(s), none {ask.size}: too few "
            "to fit a line through; run the sweep at that size",
        )
    base = Option(series, rm, cell, _at(series, ask.size))
    v = Verdict(ask, series.dtype, card, total, nominal, headroom, base, min_psnr=min_psnr, models=models)
    v.plain_time = base.median
    if v.fits:
        return v
    options = []
    for other in models:
        for s in other.series:
            if (s.model, s.op, s.batch) != (ask.model, ask.op, 1) or s is series or not ask.suits(s):
                continue
            c = on_card(s, ask.size, ask.x(s), total, other.context, room)
            if c.fits:
                options.append(Option(s, other, c, _at(s, ask.size)))
    timed = [o for o in options if o.median is not None]
    good = [o for o in timed if _acceptable(models, o, min_psnr)]
    # the fastest; among those no faster beyond noise, the plainest (advise's rule)
    best = pick([o.record for o in good or timed], None)
    ranked = [o for o in good or timed if o.record is best]
    # a setting fitted at a size no run measured has no time: the least memory then
    ranked += sorted((o for o in options if o.median is None), key=lambda o: o.cell.need)
    v.cheapest = ranked[0] if ranked else None
    return v


def _case(o: Option):
    return o.record.case if o.record is not None else o.series.records[0].case


def _setting(o: Option, dtype: str) -> str:
    """What to turn on, in words: the dtype where it is not the one asked, tiling with
    its tile size, and the other variant axes."""
    c = _case(o)
    tiling = dict(c.tiling or ())
    words = [] if c.dtype == dtype else [c.dtype]
    if c.tiled:
        tile = tiling.get("tile_sample_min_size")
        words.append(f"tiled ({tile} px tiles)" if tile else "tiled")
    else:
        words.append("untiled")
    words += [
        key if value is True else f"{key} {value}" for key, value in c.variant or () if key not in tiling
    ]
    return ", ".join(words)


def _setting_key(case) -> tuple:
    """A setting at an input, the same whether a run swept its tile size as a variant
    axis or fixed it in the tiling."""
    tiling = dict(case.tiling or ())
    rest = tuple((k, v) for k, v in case.variant or () if k not in tiling)
    return (case.model, case.op, case.size_label, case.batch, case.dtype, case.tiled, case.tiling, rest)


def _measured_quality(models: list[RunModel], o: Option):
    """The option's quality, from its own run or another that measured the same setting
    at the same input: (quality, the run it came from)."""
    if o.record is not None and o.record.quality is not None:
        return o.record.quality, None
    want = _setting_key(_case(o))
    for rm in models:
        for r in rm.run.records:
            if r.ok and r.quality is not None and _setting_key(r.case) == want:
                return r.quality, rm.run.run_id
    return None, None


def render(v: Verdict) -> str:
    a, room = v.ask, v.headroom.of(v.total)
    usable = (v.total - room) / MIB
    need = (v.base.cell.need - room) / MIB
    card = v.card + (" (nominal size: its reported total was not found)" if v.nominal else "")
    head = (
        f"{a.model} {a.op} {a.size} {v.dtype} untiled on {card}: needs {need:.0f} MiB (allocated peak + "
        f"CUDA context, {v.base.cell.how} on {v.base.run.run.device_name}); usable {usable:.0f} of "
        f"{v.total / MIB:.0f} MiB after {v.headroom.describe(v.total)}"
    )
    if v.fits:
        return f"FITS: {head}; {usable - need:.0f} MiB to spare\n"
    o = v.cheapest
    if o is None:
        return f"DOES NOT FIT: {head}; nor does any setting the run(s) measured\n"
    how = "" if o.cell.how == "measured" else f" ({o.cell.how})"
    parts = [f"{(o.cell.need - room) / MIB:.0f} MiB{how}", _time_cost(v, o), _quality(v, o)]
    return (
        f"DOES NOT FIT: {head}; cheapest that fits: {_setting(o, v.dtype)}: "
        f"{', '.join(parts)} (from {o.run.run.run_id})\n"
    )


def _time_cost(v: Verdict, o: Option) -> str:
    """Against the asked setting's time in the option's own run where it has one (times
    compare best within a run), else in the run the verdict came from."""
    plain = _plain_time(o, v.dtype) or v.plain_time
    if o.median is None:
        return "time not measured"
    if not plain:
        return f"{o.median:.3g} s (the untiled time was not measured)"
    return f"{(o.median / plain - 1) * 100:+.0f}% time"


def _quality(v: Verdict, o: Option) -> str:
    q, elsewhere = _measured_quality(v.models, o)
    where = f" (measured in {elsewhere})" if elsewhere else ""
    if q is None:
        return "quality not measured"
    if q.max_abs == 0:
        return "output identical to untiled" + where
    if q.psnr_db is None:
        return f"quality: {q.note or 'no figure'}"
    below = v.min_psnr is not None and q.psnr_db < v.min_psnr
    return f"PSNR {q.psnr_db:.1f} dB against untiled{where}" + (f", below {v.min_psnr:g} dB" if below else "")


def _plain_time(o: Option, dtype: str) -> float | None:
    if o.record is None:
        return None
    for s in o.run.series:
        if _plain(s) and (s.model, s.op, s.dtype, s.batch) == (o.series.model, o.series.op, dtype, 1):
            r = _at(s, o.record.case.size_label)
            if r is not None and r.ok:
                return r.median
    return None
