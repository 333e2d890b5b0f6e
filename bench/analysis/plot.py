"""Plots of stored runs, as PNGs: for each model and op of the runs, memory and time
against image size and the cost of tiling (bench.analysis.plot_cases), and for each GPU
run what fits which card (bench.analysis.plot_fit); and the history of cases across
runs. Reads only from the store; the figures' shared parts are in
bench.analysis.plot_axes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bench.analysis.fit import model_run
from bench.analysis.plot_axes import CARD_SIZES_GB, GIB, OOM_COLOR, RunData, load, log_y, save
from bench.analysis.plot_cases import memory_figure, overhead_figure, time_figure
from bench.analysis.plot_fit import fit_figure
from bench.errors import BadInput
from bench.files import folder_inside, slug
from bench.record.store import PLOTS

# The figures by name, for scripts and the notebook.
__all__ = [
    "RunData",
    "fit_figure",
    "history_figure",
    "load",
    "memory_figure",
    "overhead_figure",
    "plot_history",
    "plot_runs",
    "series_style",
    "time_figure",
]


def plot_runs(
    run_dirs: list[str | Path],
    out: str | Path | None = None,
    cards: list[tuple[str, float]] | None = None,
    headroom=None,
) -> list[Path]:
    """Every figure for the runs' models and ops, as PNGs in `out` (default: the
    first run's plots/ folder), and for each GPU run what fits which card (`cards`,
    default the common sizes of CARD_SIZES_GB). Returns the files written."""
    runs = load(run_dirs)
    root = Path(out) if out else runs[0].run.path
    out = Path(out) if out else runs[0].run.path / PLOTS
    folder_inside(root, out)
    out.mkdir(parents=True, exist_ok=True)
    pairs = list(dict.fromkeys((r.case.model, r.case.op) for run in runs for r in run.records))
    written = []
    for model, op in pairs:
        for name, make in (
            ("memory", memory_figure),
            ("time", time_figure),
            ("tiled-overhead", overhead_figure),
        ):
            fig = make(runs, model, op)
            if fig is None:
                continue
            written.append(save(fig, out / f"{name}-{slug(model)}-{slug(op)}.png", root))
    cards = cards or [(f"{gb} GB card", gb * GIB) for gb in CARD_SIZES_GB]
    gpu = [r for r in runs if r.run.is_gpu]
    for data in gpu:
        try:
            rm = model_run(data.run)
        except BadInput:
            continue  # an imported run: percentages only, nothing to fit
        for model, op in pairs:
            fig = fit_figure(rm, model, op, cards, headroom)
            if fig is None:
                continue
            device = f"-{slug(data.label)}" if len(gpu) > 1 else ""
            written.append(save(fig, out / f"fit-{slug(model)}-{slug(op)}{device}.png", root))
    return written


# Each panel's legend stands in a column of its own right of the plots, its labels
# wrapped; the column is as wide as the widest legend and each panel as tall as its
# own, measured once drawn, so many series never squeeze a plot nor run off the figure.
LEGEND_WRAP = 46
PANEL_MIN_IN = 2.6
PANEL_TITLE_IN = 0.5  # a panel's title, tick labels and the gap between panels
PLOT_MIN_IN = 6.5  # the narrowest a panel's plot gets: the figure widens instead
MARKERS = "osD^v<>ph*"
LINESTYLES = ("-", "--", "-.", ":")


def series_style(n: int, count: int) -> dict:
    """The n-th of `count` series of a panel: a color of tab10 (or tab20 beyond ten
    series), and past those a marker and line style, so no two series look alike."""
    palette = 10 if count <= 10 else 20
    cycle = n // palette
    return {
        "color": matplotlib.colormaps["tab10" if palette == 10 else "tab20"](n % palette),
        "marker": MARKERS[cycle % len(MARKERS)],
        "linestyle": LINESTYLES[cycle // len(MARKERS) % len(LINESTYLES)],
    }


def _legend_label(s) -> str:
    label = f"{s.setting} (step at #{s.step.index + 1}: {s.step.change})" if s.step else s.setting
    return "\n".join(textwrap.wrap(label, LEGEND_WRAP, subsequent_indent="  ")) or s.label


def history_figure(h) -> Figure:
    """Each case of a `bench.analysis.history.History` across its runs, one panel per
    model and op, each with its legend at its right; a step's first run is circled."""
    panels: dict[tuple[str, str], list] = {}
    for s in h.series:
        panels.setdefault((s.model, s.op), []).append(s)
    fig = Figure(figsize=(11, PANEL_MIN_IN * len(panels) + 1.2))  # laid out once its size is known
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(len(panels), 2)
    xs = list(range(1, len(h.runs) + 1))
    when = [h.when(i) for i in range(len(h.runs))]
    axes, legends = [], []
    for i, ((model, op), group) in enumerate(panels.items()):
        ax = fig.add_subplot(grid[i, 0], sharex=axes[0] if axes else None)
        axes.append(ax)
        for n, s in enumerate(group):
            _draw_series(ax, xs, s, _legend_label(s), series_style(n, len(group)))
        log_y(ax)
        ax.set_title(f"{model} {op}", fontsize=10, loc="left")
        ax.grid(True, which="both", axis="y", alpha=0.3)
        key = fig.add_subplot(grid[i, 1])
        key.axis("off")
        legends.append(
            key.legend(
                *ax.get_legend_handles_labels(),
                fontsize=8,
                loc="upper left",
                bbox_to_anchor=(0, 1),
                borderaxespad=0,
                frameon=False,
            )
        )
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    axes[-1].set_xticks(xs, [f"#{i}\n{w}" for i, w in zip(xs, when, strict=True)], fontsize=8)
    axes[-1].set_xlim(0.5, len(xs) + 0.5)
    axes[-1].set_xlabel(f"run, by {h.by} version" if h.by else "run, oldest first (start time, UTC)")
    units = {"time": "median time per call (s, log scale)", "memory": "peak memory (MiB, log scale)"}
    fig.supylabel(units[h.metric], fontsize=10)
    fig.suptitle(f"{h.device_label}: {h.metric} across runs (dashed: a step change begins)")
    fig.canvas.draw()  # the legends' sizes, as the font draws them
    boxes = [legend.get_window_extent() for legend in legends]
    key_width = max(b.width for b in boxes) / fig.dpi + 0.3
    heights = [max(PANEL_MIN_IN, b.height / fig.dpi + PANEL_TITLE_IN) for b in boxes]
    width = max(11.0, PLOT_MIN_IN + key_width + 1.2)
    fig.set_size_inches(width, sum(heights) + 1.2)
    grid.set_height_ratios(heights)
    grid.set_width_ratios([width - key_width - 1.2, key_width])
    for legend in legends:
        legend.set_in_layout(False)  # its room is sized above; the layout would shrink the plot for it
    fig.set_layout_engine("constrained")
    return fig


def _draw_series(ax, xs: list[int], s, label: str, style: dict) -> None:
    color = style["color"]
    ax.plot(xs, [v if v else float("nan") for v in s.values], label=label, **style)
    for x, st in zip(xs, s.statuses, strict=True):
        if st == "oom":
            ax.plot(
                [x],
                [0.98],
                marker="X",
                color=OOM_COLOR,
                transform=ax.get_xaxis_transform(),
                linestyle="none",
                markersize=10,
            )
    if s.step:
        x = s.step.index + 1
        y = s.values[s.step.index]
        ax.axvline(x, color=color, linestyle="--", linewidth=1, alpha=0.7)
        if y:
            ax.plot([x], [y], marker="o", markersize=14, markerfacecolor="none", color=color)
        ax.annotate(
            s.step.change,
            (x, y) if y else (x, 0.03),
            xycoords="data" if y else ("data", "axes fraction"),
            xytext=(9, -3),
            textcoords="offset points",
            fontsize=8,
            color=color,
        )


def plot_history(h, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save(history_figure(h), path, path.parent)
