"""Figures of the cases of runs, per model and op: peak memory and time against
megapixels (one line per run and series: untiled solid, tiled dashed, OOM marked,
lines at common card sizes), and the cost of tiling per size against the untiled
series beside it (bench.record.series)."""

from __future__ import annotations

from matplotlib.figure import Figure

from bench.analysis.fit import cuda_context
from bench.analysis.plot_axes import (
    CARD_SIZES_GB,
    GIB,
    METRIC_NAMES,
    OOM_COLOR,
    THROTTLE_COLOR,
    RunData,
    figure,
    log_y,
    on,
    size_ticks,
)
from bench.record.run import CaseRecord
from bench.record.series import SeriesKey, interval, legend_label, series_key, untiled_partner
from bench.stats import overlap

Line = tuple[str, SeriesKey]  # (run label, series): one line of a figure


def _groups(runs: list[RunData], model: str, op: str) -> dict[Line, list[CaseRecord]]:
    """Records of one model and op, by run and series, each in order of size."""
    out: dict[Line, list[CaseRecord]] = {}
    for run in runs:
        for r in run.records:
            if r.case.model == model and r.case.op == op:
                out.setdefault((run.label, series_key(r.case)), []).append(r)
    for group in out.values():
        group.sort(key=lambda r: r.megapixels)
    return out


def _colors(keys: list[Line]) -> dict[Line, str]:
    """One color per run and untiled series: its tilings share it."""
    cycle = [f"C{i}" for i in range(10)]
    bases = list(dict.fromkeys((run, untiled_partner(k)) for run, k in keys))
    return {(run, k): cycle[bases.index((run, untiled_partner(k))) % len(cycle)] for run, k in keys}


def _bar(r: CaseRecord) -> tuple[float, float]:
    """The ends of a median's error bar: its 95% interval, met precision or not; min and
    max for runs made before intervals were stored; none for runs imported from
    published tables."""
    return interval(r, unmet=True, or_range=True)


def _fit_figures(runs: list[RunData]) -> dict[str, int]:
    """Per GPU run with allocated peaks, its CUDA context: the run's cases are also drawn
    at the figure fit judges a card by (allocated peak + context), so that a card line
    is never read against the reserved peak alone."""
    out = {}
    for run in runs:
        ok = [r for r in run.records if r.ok and r.mem.peak_allocated is not None]
        if run.run.is_gpu and ok:
            out[run.label] = cuda_context(ok)[0] or 0
    return out


def memory_figure(runs: list[RunData], model: str, op: str) -> Figure:
    fig, (ax,) = figure()
    groups = _groups(runs, model, op)
    contexts = _fit_figures(runs)
    keys = list(groups)
    colors = _colors(keys)
    peaks: list[float] = []
    metrics: set[str | None] = set()
    oom_drawn = False
    for key, recs in groups.items():
        ok = [r for r in recs if r.peak is not None]
        metrics.update(r.metric for r in ok)
        xs = [r.megapixels for r in ok]
        ys = [r.peak / GIB for r in ok]
        peaks += ys
        ax.plot(
            xs,
            ys,
            marker="o",
            color=colors[key],
            linestyle="--" if key[1].tiled else "-",
            label=legend_label(key, keys),
        )
        if key[0] in contexts:
            fitted = [r for r in ok if r.mem.peak_allocated is not None]
            needs = [(r.mem.peak_allocated + contexts[key[0]]) / GIB for r in fitted]
            ax.plot([r.megapixels for r in fitted], needs, marker=".", color=colors[key], linestyle=":")
            peaks += needs
        for r in recs:
            if r.status == "oom":
                total = r.mem.total
                y = total / GIB if total else max(CARD_SIZES_GB)
                ax.plot(
                    [r.megapixels],
                    [y],
                    marker="X",
                    markersize=12,
                    color=colors[key],
                    markeredgecolor=OOM_COLOR,
                    markeredgewidth=1.5,
                    linestyle="none",
                )
                peaks.append(y)
                oom_drawn = True
    if contexts:  # one legend entry explains every dotted line
        ax.plot(
            [],
            [],
            marker=".",
            color="0.4",
            linestyle=":",
            label="dotted: allocated peak + CUDA context (what fit compares, with the headroom, to a card)",
        )
    if oom_drawn:  # one legend entry explains every OOM marker
        ax.plot(
            [],
            [],
            marker="X",
            markersize=10,
            color="0.8",
            markeredgecolor=OOM_COLOR,
            linestyle="none",
            label="OOM (drawn at the device's memory)",
        )
    log_y(ax)
    top = max([*peaks, max(CARD_SIZES_GB)]) * 1.3
    bottom = min(peaks) / 1.5 if peaks else 0.1
    ax.set_ylim(bottom, top)
    for gb in CARD_SIZES_GB:
        ax.axhline(gb, color="0.55", linewidth=0.9, linestyle=":", zorder=0)
        ax.annotate(
            f"{gb} GB card",
            xy=(0, gb),
            xycoords=("axes fraction", "data"),
            xytext=(4, 2),
            textcoords="offset points",
            ha="left",
            va="bottom",
            fontsize=8,
            color="0.35",
        )
    size_ticks(ax, [r for recs in groups.values() for r in recs])
    metric = " / ".join(METRIC_NAMES.get(m, m) for m in sorted(m for m in metrics if m))
    ax.set_ylabel(f"peak memory{', ' + metric if metric else ''} (GiB, log scale)")
    ax.set_title(f"{model} {op}{on(runs)}: peak memory vs image size")
    ax.grid(True, which="major", axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def time_figure(runs: list[RunData], model: str, op: str) -> Figure:
    fig, (ax,) = figure()
    groups = _groups(runs, model, op)
    keys = list(groups)
    colors = _colors(keys)
    for key, recs in groups.items():
        ok = [r for r in recs if r.median is not None]
        xs = [r.megapixels for r in ok]
        ys = [r.median for r in ok]
        bars = [_bar(r) for r in ok]
        lo = [y - b[0] for y, b in zip(ys, bars, strict=True)]
        hi = [b[1] - y for y, b in zip(ys, bars, strict=True)]
        ax.errorbar(
            xs,
            ys,
            yerr=[lo, hi],
            marker="o",
            capsize=3,
            color=colors[key],
            linestyle="--" if key[1].tiled else "-",
            label=legend_label(key, keys),
        )
        ooms = [r for r in recs if r.status == "oom"]
        if ooms:
            for r in ooms:
                ax.axvline(r.megapixels, color=OOM_COLOR, linestyle=":", linewidth=1)
            ax.plot([], [], color=OOM_COLOR, linestyle=":", label=f"{legend_label(key, keys)}: OOM")
        throttled = [r for r in ok if r.throttled]
        if throttled:
            ax.plot(
                [r.megapixels for r in throttled],
                [r.median for r in throttled],
                marker="v",
                markersize=11,
                markerfacecolor="none",
                markeredgecolor=THROTTLE_COLOR,
                linestyle="none",
                label=f"{legend_label(key, keys)}: GPU throttled",
            )
    log_y(ax)
    size_ticks(ax, [r for recs in groups.values() for r in recs])
    ax.set_ylabel(
        "median time per call (s, log scale)\nbars: 95% interval of the median (older runs: min to max)"
    )
    ax.set_title(f"{model} {op}{on(runs)}: time vs image size")
    ax.grid(True, which="both", axis="y", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def overhead_figure(runs: list[RunData], model: str, op: str) -> Figure | None:
    """Tiled against untiled at each size: the change of time and of peak memory (%)."""
    groups = _groups(runs, model, op)
    # a tiled series (its swept tiling with it) against the untiled one of its variant
    pairs = {(run, k) for run, k in groups if k.tiled and (run, untiled_partner(k)) in groups}
    if not pairs:
        return None
    fig, axes = figure(2, width=11)
    # in the order the runs hold them: a tiled series where it or its untiled partner first stands
    first = list(dict.fromkeys((run, k.table) for run, k in groups))
    series = sorted(pairs, key=lambda line: first.index((line[0], line[1].table)))
    sizes: dict[str, float] = {}
    for base in series:
        for r in groups[base]:
            sizes[r.size_label] = r.megapixels
    order = sorted(sizes, key=sizes.get)
    width = 0.8 / len(series)
    keys = list(groups)
    panels = (("time", lambda r: r.median), ("peak memory", lambda r: r.peak))
    for ax, (what, value) in zip(axes, panels, strict=True):
        for n, base in enumerate(series):
            untiled = {r.size_label: r for r in groups[(base[0], untiled_partner(base[1]))]}
            tiled = {r.size_label: r for r in groups[base]}
            for i, size in enumerate(order):
                x = i - 0.4 + width * (n + 0.5)
                t, u = tiled.get(size), untiled.get(size)
                vt, vu = (value(t) if t else None), (value(u) if u else None)
                label = legend_label(base, keys, with_tiling=False) or "tiled vs untiled"
                if vt is not None and vu:
                    change = (vt / vu - 1) * 100
                    ax.bar(x, change, width * 0.9, color=f"C{n}", label=label if i == 0 else None)
                    # A time change inside both medians' intervals is noise, not tiling.
                    noise = what == "time" and overlap(t.interval, u.interval)
                    ax.annotate(
                        "within noise" if noise else f"{change:+.0f}%",
                        (x, change),
                        xytext=(0, 3 if change >= 0 else -3),
                        textcoords="offset points",
                        ha="center",
                        va="bottom" if change >= 0 else "top",
                        fontsize=8,
                    )
                elif u is not None and u.status == "oom" and vt is not None:
                    ax.annotate(
                        "untiled\nOOM",
                        (x, 0),
                        ha="center",
                        va="bottom",
                        fontsize=8,
                        color=OOM_COLOR,
                        annotation_clip=False,
                    )
        ax.margins(y=0.2)
        lo, hi = ax.get_ylim()
        pad = 0.15 * (hi - lo)
        ax.set_ylim(min(lo, -pad), max(hi, pad))  # room on both sides of 0 for the labels
        ax.axhline(0, color="0.3", linewidth=0.8)
        ax.set_xticks(range(len(order)), order)
        ax.set_xlim(-0.5, len(order) - 0.5)
        ax.set_xlabel("image size (width x height, x frames for video)")
        ax.set_ylabel(f"{what}: tiled vs untiled (% change)")
        ax.set_title(f"{model} {op}{on(runs)}: {what}, tiled vs untiled", fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize=8)
    return fig
