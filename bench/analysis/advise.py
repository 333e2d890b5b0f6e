"""`vae-bench advise`: per model, op and input, the fastest measured setting (dtype,
tiling, variant) that fits a card and meets a quality floor, and what it saves against
the plain default (untiled, no variant, the sweep's first dtype).

A GPU run fits by the rule of bench.analysis.fit: the allocated peak plus the CUDA
context (from NVML) within the card. A CPU run has only its process's RSS, checked
against the memory given, and says so."""

from __future__ import annotations

from dataclasses import dataclass

from tabulate import tabulate

from bench.analysis.fit import MIB, Headroom, cuda_context
from bench.analysis.summary import SECONDS, psnr, quality_caveat
from bench.errors import BadInput
from bench.record.envelope import envelope
from bench.record.figures import peak_of
from bench.record.run import CaseRecord
from bench.record.series import card_need, fits, input_key, interval, is_reference, setting_label
from bench.record.store import Run
from bench.stats import overlap


@dataclass
class Advice:
    """One model, op and input: the setting to use, and the plain one it beats."""

    model: str
    op: str
    size: str
    batch: int
    best: CaseRecord | None
    plain: CaseRecord | None
    need: float | None  # bytes the best takes on the card (peak + context)
    why_none: str | None = None  # when nothing qualifies
    plain_need: float | None = None
    total: float = 0.0  # the card's bytes

    @property
    def plain_fits(self) -> bool | None:
        return fits(self.plain_need, self.total)

    @property
    def time_saved(self) -> float | None:
        """A share of the plain default's time (0.25: a quarter less)."""
        if self.best is None or self.plain is None or not self.plain.median or self.best.median is None:
            return None
        return 1 - self.best.median / self.plain.median

    @property
    def time_unsure(self) -> bool:
        """The time saved may be noise: a median without its interval, or intervals that
        overlap (a difference within them is not one to act on)."""
        if self.time_saved is None or self.best is self.plain:
            return False
        a, b = interval(self.best, unmet=True), interval(self.plain, unmet=True)
        return a is None or b is None or overlap(a, b)

    @property
    def memory_saved(self) -> float | None:
        """A share of what the plain default needs, by the same rule as fits."""
        b, p = self.need, self.plain_need
        return None if b is None or not p else 1 - b / p


@dataclass
class Answer:
    run: str
    device: str
    card: str
    total: float
    min_psnr: float | None
    rule: str  # how "fits" was judged, in words
    quality_measured: bool
    caveat: str | None
    rows: list[Advice]


def setting(r: CaseRecord) -> str:
    """What to turn on (bench.record.series.setting_label)."""
    return setting_label(r.case)


def _psnr_ok(r: CaseRecord, floor: float | None) -> bool:
    """Meets the floor: a PSNR at or above it, or identical to the reference. A case
    whose quality could not be measured does not, where a floor applies."""
    if floor is None:
        return True
    q = r.quality
    return q is not None and (q.max_abs == 0 or (q.psnr_db is not None and q.psnr_db >= floor))


# Medians without intervals (too few calls) closer than this are not told apart.
TIE = 0.02


def pick(good: list[CaseRecord], plain: CaseRecord | None) -> CaseRecord | None:
    """The fastest; among those no faster beyond noise (intervals that overlap, or
    medians within TIE where an interval is missing), the plainest setting: the
    default, then untiled, then the fewest variant axes."""
    if not good:
        return None
    fastest = min(good, key=lambda r: r.median)

    def tied(r: CaseRecord) -> bool:
        a, b = interval(r, unmet=True), interval(fastest, unmet=True)
        if a is not None and b is not None:
            return overlap(a, b)
        return r.median <= fastest.median * (1 + TIE)

    return min(
        (r for r in good if tied(r)),
        key=lambda r: (r is not plain, r.case.tiled, len(r.case.variant or ()), r.median),
    )


def advise(
    run: Run, card: str, total: float, min_psnr: float | None, headroom: Headroom | None = None
) -> Answer:
    if run.imported:
        raise BadInput(
            run.path,
            None,
            "needs the allocator's allocated peaks (an imported run holds percentages only); "
            "run a sweep on a GPU",
        )
    ok = [r for r in run.records if r.ok and r.median is not None]
    room = headroom.of(total) if headroom is not None else 0.0
    kept = f" + {headroom.describe(total)}" if headroom is not None and room else ""
    # A GPU run's need is the allocated peak with its context; a CPU run has its RSS alone.
    if run.is_gpu:
        context, note = cuda_context(ok)
        metric = "allocated"
        rule = f"allocated peak + CUDA context{kept} within {card}; {note}"
    else:
        context, metric = None, "process"
        rule = (
            f"process's peak RSS on {run.device_name}{kept} within {card}: CPU memory, not what a GPU "
            "would need"
        )

    def need(r: CaseRecord) -> float | None:
        return card_need(peak_of(r.mem, metric), context)

    quality_measured = any(r.quality is not None for r in run.records)
    floor = min_psnr if quality_measured else None
    groups: dict[tuple, list[CaseRecord]] = {}
    for r in run.records:
        groups.setdefault(input_key(r.case), []).append(r)
    rows = []
    for (model, op, size, batch), records in groups.items():
        plain = next((r for r in records if is_reference(r.case, None)), None)
        fitting = [r for r in records if r.ok and r.median is not None and fits(need(r), total - room)]
        good = [r for r in fitting if _psnr_ok(r, floor)]
        best = pick(good, plain)
        why = None
        if best is None:
            if not fitting:
                why = f"no measured setting fits {card}"
            else:
                why = f"none that fits reaches {floor:g} dB"
        plain_need = need(plain) if plain is not None and plain.ok else None
        rows.append(
            Advice(
                model,
                op,
                size,
                batch,
                best,
                plain,
                need(best) if best else None,
                why_none=why,
                plain_need=plain_need,
                total=total - room,
            )
        )
    return Answer(
        run.run_id,
        run.device_name or "?",
        card,
        total,
        floor,
        rule,
        quality_measured,
        quality_caveat(run.records),
        rows,
    )


def _share(x: float | None) -> str | None:
    return None if x is None else f"{x * 100:+.0f}%".replace("+-", "-")


def _plain_state(a: Advice) -> str:
    if a.plain is None:
        return "not measured"
    if not a.plain.ok:
        return a.plain.status
    if a.plain is a.best:
        return "is the best"
    time = f"{format(a.plain.median, SECONDS)} s"
    return f"{time}, does not fit" if a.plain_fits is False else time


def render(a: Answer, fmt: str = "text") -> str:
    if fmt == "json":
        return envelope("advise", _json(a))
    head = [
        "model",
        "op",
        "size",
        "use",
        "time (s)",
        "needs (MiB)",
        "of card",
        "PSNR",
        "time saved",
        "memory saved",
        "plain default",
    ]
    body = []
    for x in a.rows:
        label = x.size + (f" batch {x.batch}" if x.batch != 1 else "")
        if x.best is None:
            body.append([x.model, x.op, label, x.why_none, *[None] * 6, _plain_state(x)])
            continue
        b = x.best
        body.append(
            [
                x.model,
                x.op,
                label,
                setting(b),
                format(b.median, SECONDS),
                None if x.need is None else f"{x.need / MIB:.0f}",
                None if x.need is None else f"{x.need / a.total * 100:.0f}%",
                psnr(b),
                ("~" if x.time_unsure else "") + (_share(x.time_saved) or "") or None,
                _share(x.memory_saved),
                _plain_state(x),
            ]
        )
    style = "pipe" if fmt == "md" else "simple"
    table = tabulate(body, headers=head, tablefmt=style, missingval="-", disable_numparse=True)
    floor = (
        f"PSNR at least {a.min_psnr:g} dB"
        if a.min_psnr is not None
        else "no quality floor (the run did not measure quality; sweep with `quality: true`)"
    )
    lines = [
        f"Fastest measured setting per input on {a.card}, from {a.run} ({a.device}): fits when the "
        f"{a.rule}; {floor}. Saved: against the plain default (untiled, no variant).",
        "",
        table,
    ]
    unsure = sum(x.time_unsure for x in a.rows)
    if unsure:
        lines += [
            "",
            f"~: {unsure} time(s) saved may be noise: a median without its 95% interval, or "
            "intervals that overlap (see `vae-bench show`); sweep with `repeats: auto`.",
        ]
    if a.caveat:
        lines += ["", a.caveat]
    return "\n".join(lines) + "\n"


def _json(a: Answer) -> dict:
    def rec(r: CaseRecord | None) -> dict | None:
        if r is None:
            return None
        return {
            "case": r.label,
            "case_id": r.case_id,
            "status": r.status,
            "dtype": r.case.dtype,
            "tiled": r.case.tiled,
            "tiling": r.case.tiling_dict,
            "variant": r.case.variant_dict or None,
            "time_s": r.median,
            "peak_bytes": r.peak,
            "psnr_db": r.quality.psnr_db if r.quality else None,
        }

    return {
        "run": a.run,
        "device": a.device,
        "card": a.card,
        "card_bytes": a.total,
        "fits_when": a.rule,
        "min_psnr_db": a.min_psnr,
        "quality_measured": a.quality_measured,
        "caveat": a.caveat,
        "inputs": [
            {
                "model": x.model,
                "op": x.op,
                "size": x.size,
                "batch": x.batch,
                "use": rec(x.best),
                "need_bytes": x.need,
                "time_saved": x.time_saved,
                "memory_saved": x.memory_saved,
                "plain_default": rec(x.plain),
                "plain_default_fits": x.plain_fits,
                "why_none": x.why_none,
            }
            for x in a.rows
        ],
    }
