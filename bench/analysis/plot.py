"""Plots of stored runs, as PNGs: for each model and op of the runs, memory and time
against image size and the cost of tiling (bench.analysis.plot_cases), and for each GPU
run what fits which card (bench.analysis.plot_fit); and the history of cases across
runs. Reads only from the store; the figures' shared parts are in
bench.analysis.plot_axes."""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.figure import Figure

from bench.analysis.fit import model_run
from bench.analysis.plot_axes import CARD_SIZES_GB, GIB, OOM_COLOR, RunData, figure, load, log_y, save
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


LEGEND_CHARS_PER_COLUMN = 90  # at 8 pt, half of an 11 in wide figure


def history_figure(h) -> Figure:
    """Each case of a `bench.analysis.history.History` across its runs; a step's first run is circled."""
    # the legend goes under the plot (two series a line where the labels are short):
    # the figure grows with it, so that many series never squeeze the plot away
    longest = max((len(s.label) for s in h.series), default=0) + 30  # a step's note
    legend_cols = 2 if longest <= LEGEND_CHARS_PER_COLUMN else 1
    legend_lines = math.ceil(len(h.series) / legend_cols)
    fig, (ax,) = figure(width=11, height=5.2 + 0.19 * legend_lines)
    xs = list(range(1, len(h.runs) + 1))
    for n, s in enumerate(h.series):
        color = f"C{n % 10}"
        label = f"{s.label} (step at #{s.step.index + 1}: {s.step.change})" if s.step else s.label
        ax.plot(xs, [v if v else float("nan") for v in s.values], marker="o", color=color, label=label)
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
    when = [(r.meta.started_at or r.run_id)[:16].replace("T", " ") for r in h.runs]
    ax.set_xticks(xs, [f"#{i}\n{w}" for i, w in zip(xs, when, strict=True)], fontsize=8)
    ax.set_xlim(0.5, len(xs) + 0.5)
    log_y(ax)
    units = {"time": "median time per call (s, log scale)", "memory": "peak memory (MiB, log scale)"}
    ax.set_ylabel(units[h.metric])
    ax.set_xlabel("run, oldest first (start time, UTC)")
    ax.set_title(f"{h.device_label}: {h.metric} across runs (dashed: a step change begins)")
    ax.grid(True, which="both", axis="y", alpha=0.3)
    fig.legend(fontsize=8, loc="outside lower center", ncols=legend_cols)
    return fig


def plot_history(h, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save(history_figure(h), path, path.parent)
