"""The charts only the site draws (the others are bench.analysis.plot's): a case's
median over runs with its interval as a band, card sizes on the memory ones; the
distributions of the timed calls of the cases a comparison found changed; and every
case of a device against its first run, the index's history at a glance."""

from __future__ import annotations

import math

from matplotlib.ticker import FuncFormatter

from bench.analysis.compare import MIB, CaseDiff
from bench.analysis.history import History
from bench.analysis.plot import series_style
from bench.analysis.plot_axes import METRIC_NAMES, figure, log_y
from bench.cards import CardSize
from bench.record.run import CaseRecord
from bench.record.series import interval

MAX_DISTRIBUTIONS = 16  # cases a distribution chart draws; the table lists them all


def _run_ticks(ax, h: History) -> None:
    xs = list(range(1, len(h.runs) + 1))
    ax.set_xticks(xs, [f"#{i}\n{h.when(i - 1)}" for i in xs], fontsize=7)
    ax.set_xlim(0.6, len(xs) + 0.4)
    ax.set_xlabel("run, oldest first (start, UTC)")


def history_chart(h: History, records: list[dict[str, CaseRecord]], cards: list[CardSize]):
    """Each case of `h` (one model and op of one device) over its runs: the median
    with its 95% interval as a band (time), or the peak of the run's memory metric
    (memory) with a dotted line per card size up to the first above every point (GPU
    runs: a card's total, for scale; what fits is the fit chart's, which adds the CUDA
    context). `records`: per run, its records by case_id."""
    fig, (ax,) = figure(width=8.5, height=4.6)
    top = 0.0
    for n, s in enumerate(h.series):
        style = series_style(n, len(h.series))
        xs = list(range(1, len(h.runs) + 1))
        ys = [v if v else math.nan for v in s.values]
        ax.plot(xs, ys, label=s.setting or s.label, linewidth=1.2, markersize=4, **style)
        top = max([top, *(y for y in ys if y == y)])
        if h.metric == "time":
            bands = [
                interval(records[i][s.case_id], unmet=True) if s.case_id in records[i] else None
                for i in range(len(xs))
            ]
            lo = [b[0] if b else math.nan for b in bands]
            hi = [b[1] if b else math.nan for b in bands]
            ax.fill_between(xs, lo, hi, color=style["color"], alpha=0.18, linewidth=0)
        for x, st in zip(xs, s.statuses, strict=True):
            if st in ("oom", "error"):
                ax.plot(
                    [x],
                    [0.97],
                    marker="X",
                    color="#d62728",
                    linestyle="none",
                    transform=ax.get_xaxis_transform(),
                )
    # a CPU run's peak is a process's RSS: no card holds it
    if h.metric == "memory" and top and all(run.is_gpu for run in h.runs):
        for name, total, _ in cards_up_to(cards, top * MIB):
            ax.axhline(total / MIB, color="0.5", linewidth=0.8, linestyle=":", zorder=0)
            ax.annotate(
                name,
                (0, total / MIB),
                xycoords=("axes fraction", "data"),
                xytext=(3, 2),
                textcoords="offset points",
                fontsize=7,
                color="0.35",
            )
    log_y(ax)
    _run_ticks(ax, h)
    metrics = {r.metric for run_records in records for r in run_records.values() if r.metric}
    held = METRIC_NAMES.get(next(iter(metrics)), "") if len(metrics) == 1 else "each run's own metric"
    what = (
        "median time per call (s, log scale; band: 95% interval)"
        if h.metric == "time"
        else f"peak memory, {held} (MiB, log scale)"
    )
    ax.set_ylabel(what, fontsize=9)
    ax.grid(True, which="both", axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return fig


def cards_up_to(cards: list[CardSize], peak: float) -> list[CardSize]:
    """The card sizes below `peak` and the first at or above it."""
    below = [c for c in cards if c.bytes < peak]
    above = [c for c in cards if c.bytes >= peak][:1]
    return below + above


def _box(ax, samples: list[float], y: float, **style) -> None:
    """A horizontal box; `orientation` is matplotlib 3.10's word for `vert`."""
    try:
        ax.boxplot([samples], positions=[y], orientation="horizontal", **style)
    except TypeError:
        ax.boxplot([samples], positions=[y], vert=False, **style)


def distributions_chart(changed: list[tuple[CaseDiff, CaseRecord, CaseRecord]], base: str, new: str):
    """The timed calls of both runs for each changed case, side by side: a box of
    each run's calls and a tick per call; a case a row."""
    changed = changed[:MAX_DISTRIBUTIONS]
    fig, (ax,) = figure(width=9, height=0.55 * len(changed) + 1.6)
    for row, (_, b, n) in enumerate(changed):
        for shift, record, color in ((0.18, b, "C0"), (-0.18, n, "C3")):
            samples = [s for s in record.samples if s > 0]
            if not samples:
                continue
            _box(
                ax,
                samples,
                row + shift,
                widths=0.28,
                showfliers=False,
                patch_artist=True,
                boxprops={"facecolor": color, "alpha": 0.25},
                medianprops={"color": color},
            )
            ax.plot(samples, [row + shift] * len(samples), "|", color=color, markersize=6, alpha=0.6)
    ax.set_yticks(range(len(changed)), [f"{d.label} ({d.verdict})" for d, _, _ in changed], fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("time per call (s, log scale)")
    ax.plot([], [], color="C0", linewidth=6, alpha=0.4, label=f"base: {base}")
    ax.plot([], [], color="C3", linewidth=6, alpha=0.4, label=f"new: {new}")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(True, which="both", axis="x", alpha=0.3)
    return fig


def overview_chart(h: History):
    """Every case of one device over its runs, as its median over the case's first
    median: a flat line is a case that did not move; a step's cases are drawn in
    colour, the others grey. A case missing from a run (another sweep) is no gap: its
    line joins the runs that hold it."""
    fig, (ax,) = figure(width=8.5, height=3.8)
    colored, ratios = 0, []
    for s in h.series:
        first = next((v for v in s.values if v), None)
        if first is None:
            continue
        points = [(i + 1, v / first) for i, v in enumerate(s.values) if v]
        ratios += [y for _, y in points]
        xs, ys = zip(*points, strict=True)
        if s.step:
            ax.plot(
                xs,
                ys,
                marker="o",
                markersize=3,
                linewidth=1.2,
                color=f"C{colored % 10}",
                label=f"{s.label} ({s.step.change})",
            )
            colored += 1
        else:
            ax.plot(xs, ys, marker=".", markersize=3, color="0.6", linewidth=0.8, alpha=0.6)
    ax.axhline(1, color="0.3", linewidth=0.8)
    if ratios and max(ratios) / min(ratios) > 3:
        log_y(ax)
        scale = "log scale"
    else:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"x{v:.2f}"))
        scale = "linear"
    _run_ticks(ax, h)
    ax.set_ylabel(f"median time / first run's ({scale})", fontsize=9)
    ax.grid(True, which="both", axis="y", alpha=0.3)
    if colored:
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.set_title(
        f"{h.device_label}: {len(h.series)} cases over {len(h.runs)} runs (colour: a step change)",
        fontsize=10,
        loc="left",
    )
    return fig
