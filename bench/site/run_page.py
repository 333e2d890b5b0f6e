"""A run's page: what it is and what to doubt about it, its cases (a row each, sortable),
the memory, time and tiling charts of each model and op, the fit chart of a GPU run
against the card sizes of configs/cards.yaml, the documentation tables exactly as
`vae-bench tables` prints them, and the environment it was made in."""

from __future__ import annotations

from collections import Counter

from bench.analysis.compare import MIB
from bench.analysis.fit import model_run, pixels
from bench.analysis.plot_axes import labelled
from bench.analysis.plot_cases import memory_figure, overhead_figure, time_figure
from bench.analysis.plot_fit import fit_figure
from bench.analysis.summary import notes, psnr, spread, time_line
from bench.cards import CardSize
from bench.docs.tables import tables_markdown
from bench.errors import BadInput
from bench.record.run import CaseRecord
from bench.record.series import card_need, interval
from bench.record.store import Run
from bench.site.charts import svg
from bench.site.figures import cards_up_to
from bench.site.html import Cell, esc, items, key_values, num, page, table

COLUMNS = [
    "case",
    "status",
    "median time (s)",
    "95% interval (s)",
    "± of median",
    "calls",
    "reserved (MiB)",
    "allocated (MiB)",
    "NVML (MiB)",
    "process RSS (MiB)",
    "first call's peak (MiB)",
    "memory (%)",
    "PSNR",
    "notes",
]


def counts(run: Run) -> str:
    """`30 ok, 2 oom`: the cases by status, ok first."""
    by = Counter(r.status for r in run.records)
    order = ["ok", *sorted(k for k in by if k != "ok")]
    return ", ".join(f"{by[k]} {k}" for k in order if by[k])


def when(stamp: str | None) -> str | None:
    """`2026-11-26 05:46:19`: a stored UTC time, to the second."""
    return None if stamp is None else str(stamp)[:19].replace("T", " ")


def doubts(run: Run, brief: bool = False) -> list[str]:
    """What a reader should know before trusting the run's figures; `brief`: the sweep's
    own warnings counted, not quoted (the index's column)."""
    warned = run.meta.warnings
    out = [f"{len(warned)} warning(s) of the sweep"] if brief and warned else list(warned)
    for said in (run.meta.busy, run.unfinished, run.left_out):
        if said:
            out.append(said)
    imprecise = sum(1 for r in run.records if r.ok and r.precision_met is False)
    if imprecise:
        out.append(f"{imprecise} case(s) did not meet their precision (interval or stationarity)")
    throttled = sum(1 for r in run.records if r.throttled)
    if throttled:
        out.append(f"{throttled} case(s) ran on a GPU held back by its clocks (throttled)")
    if run.meta.approximate:
        out.append(f"approximate: {run.meta.approximate}")
    return out


def _mib(value: int | None) -> Cell:
    return num(None if value is None else value / MIB, ".0f")


def case_row(r: CaseRecord) -> list:
    lo_hi = interval(r, unmet=True) if r.ok else None  # the notes say why it is not met
    half = r.half_width / r.median * 100 if r.ok and r.half_width is not None and r.median else None
    m = r.mem
    return [
        r.label,
        r.status,
        num(r.median, ".4f"),
        Cell(f"{lo_hi[0]:.4f} – {lo_hi[1]:.4f}", lo_hi[0], "num") if lo_hi else Cell("-", "", "num"),
        Cell(spread(r) or "-", half if half is not None else "", "num"),
        num(r.time.calls if r.ok and r.time else None, "d"),
        _mib(m.peak_reserved),
        _mib(m.peak_allocated),
        _mib(None if m.nvml_peak_used is None else m.nvml_peak_used - (m.nvml_baseline_used or 0)),
        _mib(m.process_peak),
        _mib(m.first_call_reserved if m.first_call_reserved is not None else m.first_call_process),
        num(r.percent, ".2f"),
        psnr(r),
        notes(r),
    ]


# columns a run may have no figure for at all (a CPU run has no allocator, a sweep
# without quality no PSNR): left out where every case has none
OPTIONAL = {
    "reserved (MiB)",
    "allocated (MiB)",
    "NVML (MiB)",
    "process RSS (MiB)",
    "first call's peak (MiB)",
    "PSNR",
}


def cases_table(run: Run) -> str:
    rows = [case_row(r) for r in run.records]

    def empty(i: int) -> bool:
        return all(
            (c.text if isinstance(c, Cell) else c) in (None, "", "-") for c in (row[i] for row in rows)
        )

    keep = [i for i, name in enumerate(COLUMNS) if name not in OPTIONAL or not empty(i)]
    return table(
        [COLUMNS[i] for i in keep],
        [[row[i] for i in keep] for row in rows],
        row_classes=[r.status for r in run.records],
        id="cases",
    )


def charts(run: Run, sizes: list[CardSize]) -> str:
    """Per model and op: memory, time and the cost of tiling; and for a GPU run with
    allocated peaks, what fits which card."""
    data = labelled([run])  # named as `vae-bench plot` names it (a matrix run by its layer)
    try:
        fitted = model_run(run) if run.is_gpu else None
    except BadInput:
        fitted = None  # an imported run: percentages only, nothing to fit
    out = []
    pairs = list(dict.fromkeys((r.case.model, r.case.op) for r in run.records))
    for model, op in pairs:
        figures = []
        for name, make in (("memory", memory_figure), ("time", time_figure), ("tiling", overhead_figure)):
            fig = make(data, model, op)
            if fig is not None:
                figures.append(svg(fig, f"{name}-{model}-{op}", f"{model} {op}: {name}"))
        if fitted is not None:
            fig = fit_figure(fitted, model, op, fit_cards(fitted, model, op, sizes))
            if fig is not None:
                figures.append(svg(fig, f"fit-{model}-{op}", f"{model} {op}: what fits which card size"))
        if figures:
            out.append(f'<h3>{esc(model)} {esc(op)}</h3><div class="charts">{"".join(figures)}</div>')
    return "".join(out)


MAX_CARD_LINES = 8


def fit_cards(fitted, model: str, op: str, sizes: list[CardSize]) -> list[tuple[str, float]]:
    """The card sizes a fit chart draws: those below what its lines reach (the fit
    runs to 4x the largest size measured, as plot_fit draws it) and the first above;
    past MAX_CARD_LINES, the sizes most cards come in (every size would crowd it)."""
    needs = []
    for s in fitted.series:
        measured = [pixels(r) for r in s.records if r.ok and r.mem.peak_allocated is not None]
        if (s.model, s.op) == (model, op) and s.allocated is not None and measured:
            needs.append(card_need(s.allocated(4 * max(measured)), fitted.context) or 0)
    chosen = cards_up_to(sizes, max(needs, default=0))
    if len(chosen) > MAX_CARD_LINES:
        common = sorted(chosen, key=lambda c: (-c.cards, c.bytes))[:MAX_CARD_LINES]
        chosen = [c for c in chosen if c in common]
    return [(c.label, c.bytes) for c in chosen]


def environment(run: Run) -> str:
    meta = run.meta
    parts = [
        "<h3>Device</h3>",
        key_values((k, v) for k, v in meta.device.items()),
        "<h3>Software</h3>",
        key_values((k, v) for k, v in meta.environment.items()),
    ]
    spent = [time_line(s) for s in meta.time_spent if "wall_s" in s]
    if spent:
        parts += ["<h3>Where the sweep's time went</h3>", items(spent)]
    if meta.workers:
        rows = [
            [
                w.get("model"),
                w.get("dtype"),
                num(w.get("start_to_ready_s"), ".1f"),
                num(w.get("build_s"), ".1f"),
            ]
            for w in meta.workers
        ]
        parts += ["<h3>Workers</h3>", table(["model", "dtype", "start to ready (s)", "build (s)"], rows)]
    return "".join(parts)


def run_page(run: Run, sizes: list[CardSize], links: str, generated: str) -> str:
    meta = run.meta
    facts = key_values(
        [
            ("run id", run.run_id),
            ("device", run.device_label),
            ("sweep", meta.name),
            ("status", meta.status),
            ("started (UTC)", when(meta.started_at)),
            ("ended (UTC)", when(meta.ended_at)),
            ("cases", counts(run)),
            ("weights", ", ".join(sorted({r.weights for r in run.records if r.weights}))),
            ("folder", str(run.path)),
        ]
    )
    warned = doubts(run)
    body = [
        facts,
        links,
        "<h2>What to doubt</h2>" + items(warned, "warn") if warned else "",
        f"<h2>Cases ({len(run.records)})</h2>",
        '<p class="muted">Click a column to sort. Memory: reserved and allocated by the '
        "allocator (GPU), the card's use by NVML less its use before, the process's RSS (CPU); "
        "the percentage is the run's memory metric over the device's total (a card's memory; "
        "a CPU run's RAM).</p>",
        cases_table(run),
        "<h2>Charts</h2>",
        charts(run, sizes),
        "<h2>Documentation tables</h2>",
        '<p class="muted">As <code>vae-bench tables</code> prints them for this run.</p>',
        f"<pre>{esc(tables_markdown([run]))}</pre>",
        "<h2>Environment</h2>",
        environment(run),
    ]
    return page(f"{run.run_id}", "\n".join(body), depth=1, generated=generated)
