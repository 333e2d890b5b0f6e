"""The answers of `vae-bench fit` (one card: what fits untiled, what needs tiling and
what tiling costs) and `vae-bench project` (the Memory (%) and fits/OOM columns for
cards a run was not made on), from the memory model of bench.analysis.fit. Every
figure not measured on the card itself says so: fitted, extrapolated, projected."""

from __future__ import annotations

from dataclasses import dataclass, field

from tabulate import tabulate

from bench.analysis.fit import (
    MIB,
    Cell,
    Headroom,
    RunModel,
    Series,
    largest_side,
    longest_audio,
    on_card,
    pixels,
)
from bench.record.case import size_label
from bench.record.envelope import envelope
from bench.record.run import CaseRecord
from bench.record.series import SeriesKey, series_key, table_groups, table_title, untiled_partner
from bench.stats import overlap

# Beyond the largest measured side, the sizes a user asks about next.
NEXT_SIDES = (3072, 4096)
NEXT_SECONDS = (60, 300, 600)  # audio: a minute, five, ten


@dataclass
class Group:
    """One model, op, dtype and batch: its untiled and tiled series on one card."""

    title: str
    untiled: Series | None
    tiled: Series | None
    largest: int | None = None  # square side that fits untiled
    longest: float | None = None  # audio: seconds that fit untiled
    largest_extrapolated: bool = False
    rows: list[dict] = field(default_factory=list)


@dataclass
class Answer:
    run: str
    device: str
    card: str
    total: float  # bytes
    headroom: float
    context_note: str
    groups: list[Group]
    headroom_text: str = ""


def _groups(rm: RunModel) -> list[tuple[str, Series | None, Series | None]]:
    """(title, untiled, tiled) per table of the run (bench.record.series.table_groups):
    a tiling swept as a list makes a group of each setting, beside one untiled series."""
    by_key = {series_key(s.records[0].case): s for s in rm.series}
    out = []
    for table in table_groups(s.records[0].case for s in rm.series):
        model, op, dtype, batch = table[:4]
        tiled = SeriesKey(*table, tiled=True)
        title = table_title(f"{model} {op} {dtype}", batch, tiled.variant)
        out.append((title, by_key.get(untiled_partner(tiled)), by_key.get(tiled)))
    return out


def _sizes(*series: Series | None) -> list[tuple[str, float]]:
    """Every measured size, then the next square sides beyond the largest (images)."""
    seen: dict[str, float] = {}
    for s in series:
        for r in s.records if s else ():
            seen.setdefault(r.case.size_label, pixels(r))
    rate = next((s.rate for s in series if s and s.rate), None)
    biggest = max(seen.values(), default=0)
    if rate:  # audio: the next lengths beyond the longest, in seconds
        for sec in NEXT_SECONDS:
            if sec * rate > biggest:
                seen.setdefault(size_label(0, 0, seconds=sec), float(sec * rate))
    elif not any(s and s.video for s in series):
        for side in NEXT_SIDES:
            if side * side > biggest:
                seen.setdefault(size_label(side, side), float(side * side))
    return sorted(seen.items(), key=lambda kv: kv[1])


def tiled_cost(untiled: CaseRecord | None, tiled: CaseRecord | None) -> str | None:
    """What tiling costs in time where both ran: `+59%`, or `within noise`."""
    if untiled is None or tiled is None or untiled.median is None or tiled.median is None:
        return None
    if overlap(untiled.interval, tiled.interval):
        return "within noise"
    pct = (tiled.median / untiled.median - 1) * 100
    if abs(pct) < 0.5:
        return "0%"  # not -0%: apart beyond noise, but by less than the digit shown
    return f"{pct:+.0f}%"


def fit_card(rm: RunModel, card: str, total: float, kept: Headroom | None = None) -> Answer:
    """Every group of the run on one card, with the headroom `kept` free (none where
    not given)."""
    headroom = kept.of(total) if kept is not None else 0.0
    headroom_text = kept.describe(total) if kept is not None else ""
    groups = []
    for title, untiled, tiled in _groups(rm):
        g = Group(title, untiled, tiled)
        if untiled is not None and untiled.rate:
            g.longest, g.largest_extrapolated = longest_audio(untiled, total, rm.context, headroom)
        elif untiled is not None and not untiled.video:
            g.largest, g.largest_extrapolated = largest_side(untiled, total, rm.context, headroom)
        for size, x in _sizes(untiled, tiled):
            u = on_card(untiled, size, x, total, rm.context, headroom) if untiled else None
            t = on_card(tiled, size, x, total, rm.context, headroom) if tiled else None
            mu = _record(untiled, size)
            mt = _record(tiled, size)
            ratio = mt.median / mu.median if mu and mt and mu.median and mt.median is not None else None
            g.rows.append(
                {
                    "size": size,
                    "untiled": u,
                    "tiled": t,
                    "tiled_time": tiled_cost(mu, mt),
                    "tiled_ratio": ratio,
                    "tiled_within_noise": ratio is not None and overlap(mu.interval, mt.interval),
                }
            )
        groups.append(g)
    return Answer(
        rm.run.run_id, rm.run.device_name, card, total, headroom, rm.context_note, groups, headroom_text
    )


def _record(s: Series | None, size: str) -> CaseRecord | None:
    return next((r for r in s.records if r.case.size_label == size), None) if s else None


def _verdict(c: Cell | None) -> str | None:
    if c is None:
        return None
    if c.fits is None:
        return "unknown (too few sizes)"
    word = "fits" if c.fits else "OOM"
    return word if c.how == "measured" else f"{word} ({c.how})"


def _figure(c: Cell | None, headroom: float) -> float | None:
    """The figure a verdict compares, in bytes: the need less the headroom kept."""
    return None if c is None or c.need is None else c.need - headroom


def _mib(c: Cell | None, headroom: float = 0.0) -> float | None:
    figure = _figure(c, headroom)
    return None if figure is None else figure / MIB


def render_fit(a: Answer, fmt: str = "text") -> str:
    if fmt == "json":
        return envelope("fit", _fit_json(a))
    tablefmt = "pipe" if fmt == "md" else "simple"
    out = [
        f"{a.card}: {a.total / MIB:.0f} MiB; {a.headroom_text or f'{a.headroom / MIB:.0f} MiB headroom'}; "
        f"{a.context_note}",
        f"from {a.run} on {a.device}: the figure is the allocated peak + the CUDA context (MiB), "
        "measured where the run holds a size, fitted or extrapolated (beyond the measured sizes) "
        "elsewhere; a case fits when it and the headroom fit the card",
        "",
    ]
    for g in a.groups:
        head = f"{'## ' if fmt == 'md' else ''}{g.title}"
        most = f"{g.largest}x{g.largest}" if g.largest else f"{g.longest:g} s of audio" if g.longest else ""
        if most:
            head += f": untiled up to {most}" + (" (extrapolated)" if g.largest_extrapolated else "")
        rows = [
            [
                r["size"],
                _mib(r["untiled"], a.headroom),
                _verdict(r["untiled"]),
                _mib(r["tiled"], a.headroom),
                _verdict(r["tiled"]),
                r["tiled_time"],
                _advice(r),
            ]
            for r in g.rows
        ]
        headers = ["size", "untiled (MiB)", "untiled", "tiled (MiB)", "tiled", "tiling costs", "so"]
        out += [
            head,
            "",
            tabulate(rows, headers=headers, tablefmt=tablefmt, floatfmt=".0f", missingval="-"),
            "",
        ]
    return "\n".join(out).rstrip() + "\n"


def _advice(row: dict) -> str:
    u, t = row["untiled"], row["tiled"]
    if u is not None and u.fits:
        return "untiled"
    if t is not None and t.fits:
        return "tile"
    if (u is None or u.fits is False) and (t is None or t.fits is False):
        return "does not fit, tiled or not"
    return "-"


def _cell_json(c: Cell | None, headroom: float) -> dict | None:
    if c is None:
        return None
    return {"need_bytes": _figure(c, headroom), "fits": c.fits, "how": c.how}


def _fit_json(a: Answer) -> dict:
    return {
        "run": a.run,
        "device": a.device,
        "card": a.card,
        "card_bytes": a.total,
        "headroom_bytes": a.headroom,
        "headroom": a.headroom_text,
        "figure": "allocated peak + CUDA context",
        "context": a.context_note,
        "groups": [
            {
                "group": g.title,
                "largest_untiled_side": g.largest,
                "longest_untiled_seconds": g.longest,
                "largest_extrapolated": g.largest_extrapolated,
                "sizes": [
                    {
                        "size": r["size"],
                        "untiled": _cell_json(r["untiled"], a.headroom),
                        "tiled": _cell_json(r["tiled"], a.headroom),
                        "tiling_time_ratio": r["tiled_ratio"],
                        "tiling_time_within_noise": r["tiled_within_noise"],
                    }
                    for r in g.rows
                ],
            }
            for g in a.groups
        ],
    }


# -- projection onto other cards ---------------------------------------------------------


@dataclass
class Projected:
    """One measured case on one card it was not measured on."""

    card: str
    percent: float | None  # the reserved peak, capped at the card, of its memory
    fits: bool | None
    how: str


def project(
    rm: RunModel, cards: list[tuple[str, float]], headroom: Headroom | None = None
) -> list[tuple[CaseRecord, list[Projected]]]:
    """Every case of the run on every card: projected Memory (%) and whether it fits
    with the headroom kept free (none where not given)."""
    rows = []
    for s in rm.series:
        for r in s.records:
            cells = []
            for name, total in cards:
                room = headroom.of(total) if headroom is not None else 0.0
                c = on_card(s, r.case.size_label, pixels(r), total, rm.context, room)
                pct = None if c.reserved is None else min(c.reserved, total) / total * 100
                cells.append(Projected(name, pct, c.fits, c.how))
            rows.append((r, cells))
    return rows


def render_project(
    rm: RunModel, cards: list[tuple[str, float]], fmt: str = "text", headroom: Headroom | None = None
) -> str:
    rows = project(rm, cards, headroom)
    kept = headroom.text if headroom is not None else "none"
    if fmt == "json":
        return envelope(
            "project",
            {
                "projected_from": {"run": rm.run.run_id, "device": rm.run.device_name},
                "context": rm.context_note,
                "memory_fraction": "reserved peak, capped at the card, as a fraction of the card",
                "fits": "allocated peak + CUDA context + headroom within the card",
                "headroom": kept,
                "cases": [
                    {
                        "case": r.label,
                        "measured_status": r.status,
                        "cards": [
                            {
                                "card": p.card,
                                "memory_fraction": None if p.percent is None else p.percent / 100,
                                "fits": p.fits,
                                "how": p.how,
                            }
                            for p in cells
                        ],
                    }
                    for r, cells in rows
                ],
            },
        )
    headers = ["case (projected)", *[name for name, _ in cards]]
    body = [[r.label, *[_projected(p) for p in cells]] for r, cells in rows]
    table = tabulate(body, headers=headers, tablefmt="pipe" if fmt == "md" else "simple", missingval="-")
    return (
        f"PROJECTED from {rm.run.run_id} ({rm.run.device_name}): not measured on these cards. Memory (%) "
        "is the reserved peak, capped at the card; fits when the allocated peak, the CUDA context and "
        f"the headroom ({kept}) fit. {rm.context_note}\n\n{table}\n"
    )


def _projected(p: Projected) -> str:
    pct = "-" if p.percent is None else f"{p.percent:.2f}%"
    word = "?" if p.fits is None else ("fits" if p.fits else "OOM")
    return f"{pct} {word} (projected)"
