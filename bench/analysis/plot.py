"""Plots of stored runs, drawn with matplotlib's Agg canvas (no display needed):
per model and op, peak memory and time against megapixels (untiled solid, tiled
dashed, OOM marked, lines at common card sizes) and the cost of tiling per
resolution; and the history of cases across runs. Reads only from the store.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator

from bench.files import folder_inside, slug, write_atomic
from bench.record.run import CaseRecord
from bench.record.series import variant_words
from bench.record.store import Run, open_run
from bench.stats import overlap

GIB = 1024**3
CARD_SIZES_GB = (8, 10, 12, 16, 24)  # common card memory; a "24 GB" card has 24 GiB
OOM_COLOR = "#d62728"
THROTTLE_COLOR = "#ff7f0e"
METRIC_NAMES = {
    "reserved": "reserved by the allocator",
    "allocated": "allocated by tensors",
    "nvml": "card use (NVML)",
    "process": "process RSS",
}


@dataclass
class RunData:
    run: Run
    label: str  # how legends name the run

    @property
    def records(self) -> list[CaseRecord]:
        return self.run.records


def load(run_dirs: Iterable[str | Path]) -> list[RunData]:
    """Runs by folder, each named in legends by its device (and start time where
    two runs share a device)."""
    loaded = [open_run(d, strict=True, need_cases=True) for d in run_dirs]
    names = [r.device_label for r in loaded]
    return [
        RunData(
            r,
            f"{r.device_label} {r.meta.started_at or r.run_id}"
            if names.count(r.device_label) > 1
            else r.device_label,
        )
        for r in loaded
    ]


def _figure(ncols: int = 1, width: float = 8.0, height: float = 5.2) -> tuple[Figure, list]:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def _groups(runs: list[RunData], model: str, op: str) -> dict[tuple, list[CaseRecord]]:
    """Records of one model and op, by (run label, dtype, batch, variant axes, swept
    tiling, tiled), the variant parts in words ("" for none)."""
    out: dict[tuple, list[CaseRecord]] = {}
    for run in runs:
        for r in run.records:
            c = r.case
            if c.model == model and c.op == op:
                key = (run.label, c.dtype, c.batch, variant_words(c.axes), variant_words(c.swept_tiling))
                out.setdefault((*key, c.tiled), []).append(r)
    for group in out.values():
        group.sort(key=lambda r: r.megapixels)
    return out


def _series_label(key: tuple, keys: list[tuple], with_tiling: bool = True) -> str:
    run, dtype, batch, axes, swept, tiled = key
    parts = []
    if len({k[0] for k in keys}) > 1:
        parts.append(run)
    if len({k[1] for k in keys}) > 1:
        parts.append(dtype)
    if len({k[2] for k in keys}) > 1:
        parts.append(f"batch {batch}")
    if len({k[3] for k in keys}) > 1:
        parts.append(axes or "no variant")
    if with_tiling:
        parts.append(f"tiled {swept}" if tiled and swept else ("tiled" if tiled else "untiled"))
    elif swept:
        parts.append(swept)
    return ", ".join(parts)


def _colors(keys: list[tuple]) -> dict[tuple, str]:
    """One color per (run, dtype, batch, variant); tiled and untiled share it."""
    cycle = [f"C{i}" for i in range(10)]
    bases = list(dict.fromkeys(k[:4] for k in keys))
    return {k: cycle[bases.index(k[:4]) % len(cycle)] for k in keys}


def _on(runs: list[RunData]) -> str:
    """ " on <device>" for a plot of one run; several runs are named in the legend."""
    return f" on {runs[0].label}" if len(runs) == 1 else ""


def _log_y(ax) -> None:
    """A log y axis labelled in plain numbers (0.2, 0.3, 0.5, 1, 2, ...), not powers of ten;
    a linear one where nothing above 0 is drawn (every case out of memory or failed)."""
    low = ax.dataLim.intervaly[0]
    if not ax.has_data() or not 0 < low < math.inf:
        return
    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 3.0, 5.0)))
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_locator(LogLocator(base=10, subs=(4.0, 6.0, 7.0, 8.0, 9.0)))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def _size_ticks(ax, records: Iterable[CaseRecord]) -> None:
    """Megapixel axis (log) with a tick at every measured size, named by it."""
    names: dict[float, list[str]] = {}
    for r in records:
        at = names.setdefault(round(r.megapixels, 6), [])
        if r.size_label not in at:
            at.append(r.size_label)
    ax.set_xscale("log")
    mps = sorted(names)
    ax.xaxis.set_major_locator(FixedLocator(mps))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{'/'.join(names[m])}\n{m:.3g} MP" for m in mps], fontsize=8)
    if mps:
        ax.set_xlim(mps[0] / 1.4, mps[-1] * 1.4)
    ax.set_xlabel("image size (megapixels: width x height x frames / 1e6, log scale)")


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _bar(r: CaseRecord) -> tuple[float, float]:
    """The ends of a median's error bar: its 95% interval; min and max for runs made
    before intervals were stored; none for runs imported from published tables."""
    t, m = r.time, r.median
    if t.ci_low is not None and t.ci_high is not None:
        return t.ci_low, t.ci_high
    return _or(t.min, m), _or(t.max, m)


def memory_figure(runs: list[RunData], model: str, op: str) -> Figure:
    fig, (ax,) = _figure()
    groups = _groups(runs, model, op)
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
            linestyle="--" if key[5] else "-",
            label=_series_label(key, keys),
        )
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
    _log_y(ax)
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
    _size_ticks(ax, [r for recs in groups.values() for r in recs])
    metric = " / ".join(METRIC_NAMES.get(m, m) for m in sorted(m for m in metrics if m))
    ax.set_ylabel(f"peak memory{', ' + metric if metric else ''} (GiB, log scale)")
    ax.set_title(f"{model} {op}{_on(runs)}: peak memory vs image size")
    ax.grid(True, which="major", axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def time_figure(runs: list[RunData], model: str, op: str) -> Figure:
    fig, (ax,) = _figure()
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
            linestyle="--" if key[5] else "-",
            label=_series_label(key, keys),
        )
        ooms = [r for r in recs if r.status == "oom"]
        if ooms:
            for r in ooms:
                ax.axvline(r.megapixels, color=OOM_COLOR, linestyle=":", linewidth=1)
            ax.plot([], [], color=OOM_COLOR, linestyle=":", label=f"{_series_label(key, keys)}: OOM")
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
                label=f"{_series_label(key, keys)}: GPU throttled",
            )
    _log_y(ax)
    _size_ticks(ax, [r for recs in groups.values() for r in recs])
    ax.set_ylabel(
        "median time per call (s, log scale)\nbars: 95% interval of the median (older runs: min to max)"
    )
    ax.set_title(f"{model} {op}{_on(runs)}: time vs image size")
    ax.grid(True, which="both", axis="y", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def overhead_figure(runs: list[RunData], model: str, op: str) -> Figure | None:
    """Tiled against untiled at each size: the change of time and of peak memory (%)."""
    groups = _groups(runs, model, op)
    # a tiled series (its swept tiling with it) against the untiled one of its variant
    pairs = {k[:5] for k in groups if k[5] and (*k[:4], "", False) in groups}
    if not pairs:
        return None
    fig, axes = _figure(2, width=11)
    series = sorted(pairs, key=list(dict.fromkeys(k[:5] for k in groups)).index)
    sizes: dict[str, float] = {}
    for base in series:
        for r in groups[(*base, True)]:
            sizes[r.size_label] = r.megapixels
    order = sorted(sizes, key=sizes.get)
    width = 0.8 / len(series)
    keys = list(groups)
    panels = (("time", lambda r: r.median), ("peak memory", lambda r: r.peak))
    for ax, (what, value) in zip(axes, panels, strict=True):
        for n, base in enumerate(series):
            untiled = {r.size_label: r for r in groups[(*base[:4], "", False)]}
            tiled = {r.size_label: r for r in groups[(*base, True)]}
            for i, size in enumerate(order):
                x = i - 0.4 + width * (n + 0.5)
                t, u = tiled.get(size), untiled.get(size)
                vt, vu = (value(t) if t else None), (value(u) if u else None)
                label = _series_label((*base, True), keys, with_tiling=False) or "tiled vs untiled"
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
        ax.set_title(f"{model} {op}{_on(runs)}: {what}, tiled vs untiled", fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize=8)
    return fig


def fit_figure(rm, model: str, op: str, cards: list[tuple[str, float]]) -> Figure | None:
    """A GPU run's allocated peaks (plus its CUDA context) against megapixels, with the
    fitted lines of bench.analysis.fit, one line per card, and where the untiled line
    meets each card: the largest untiled square."""
    from bench.analysis.fit import largest_side, pixels

    series = [s for s in rm.series if (s.model, s.op) == (model, op) and s.allocated is not None]
    if not series:
        return None
    fig, (ax,) = _figure()
    ctx = rm.context or 0
    top = 0.0
    for n, s in enumerate(series):
        color = f"C{n // 2}"
        ok = [r for r in s.records if r.ok and r.mem.peak_allocated is not None]
        xs = [pixels(r) / 1e6 for r in ok]
        ys = [(r.mem.peak_allocated + ctx) / GIB for r in ok]
        ax.plot(xs, ys, "o", color=color)
        grid = [x * 1e6 for x in _span(min(xs), max(xs) * 4)]
        line = [(s.allocated(x) + ctx) / GIB if s.allocated(x) is not None else float("nan") for x in grid]
        style = "--" if s.tiled else "-"
        ax.plot(
            [x / 1e6 for x in grid], line, style, color=color, label=f"{s.label} ({s.allocated.kind} fit)"
        )
        top = max(top, *ys)
        if not s.tiled:
            for _, total in cards:
                side, _ = largest_side(s, total, rm.context, 0)
                if side and side * side <= max(xs) * 4e6:
                    ax.plot([side * side / 1e6], [total / GIB], marker="D", color=color, linestyle="none")
                    ax.annotate(
                        f"{side}px",
                        (side * side / 1e6, total / GIB),
                        xytext=(4, -10),
                        textcoords="offset points",
                        fontsize=7,
                        color=color,
                    )
    for name, total in cards:
        ax.axhline(total / GIB, color="0.55", linewidth=0.9, linestyle=":", zorder=0)
        ax.annotate(
            name,
            xy=(0, total / GIB),
            xycoords=("axes fraction", "data"),
            xytext=(4, 2),
            textcoords="offset points",
            fontsize=8,
            color="0.35",
        )
        top = max(top, total / GIB)
    ax.set_xscale("log")
    ax.set_ylim(0, top * 1.15)
    ax.set_xlabel("image size (megapixels, log scale); lines: the fit, beyond the points extrapolated")
    ax.set_ylabel(f"allocated peak + CUDA context ({ctx / 2**20:.0f} MiB), GiB")
    ax.set_title(
        f"{model} {op} on {rm.run.device_name}: what fits which card (diamond: largest untiled square)"
    )
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def _span(lo: float, hi: float, n: int = 60) -> list[float]:
    return [lo * (hi / lo) ** (i / (n - 1)) for i in range(n)]


def plot_runs(
    run_dirs: list[str | Path], out: str | Path | None = None, cards: list[tuple[str, float]] | None = None
) -> list[Path]:
    """Every figure for the runs' models and ops, as PNGs in `out` (default: the
    first run's plots/ folder), and for each GPU run what fits which card (`cards`,
    default the common sizes of CARD_SIZES_GB). Returns the files written."""
    from bench.analysis.fit import model_run
    from bench.errors import BadInput

    runs = load(run_dirs)
    root = Path(out) if out else runs[0].run.path
    out = Path(out) if out else runs[0].run.path / "plots"
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
            written.append(_save(fig, out / f"{name}-{slug(model)}-{slug(op)}.png", root))
    cards = cards or [(f"{gb} GB card", gb * GIB) for gb in CARD_SIZES_GB]
    gpu = [r for r in runs if r.run.is_gpu]
    for data in gpu:
        try:
            rm = model_run(data.run)
        except BadInput:
            continue  # an imported run: percentages only, nothing to fit
        for model, op in pairs:
            fig = fit_figure(rm, model, op, cards)
            if fig is None:
                continue
            device = f"-{slug(data.label)}" if len(gpu) > 1 else ""
            written.append(_save(fig, out / f"fit-{slug(model)}-{slug(op)}{device}.png", root))
    return written


LEGEND_CHARS_PER_COLUMN = 90  # at 8 pt, half of an 11 in wide figure


def history_figure(h) -> Figure:
    """Each case of a `bench.history.History` across its runs; a step's first run is circled."""
    # the legend goes under the plot (two series a line where the labels are short):
    # the figure grows with it, so that many series never squeeze the plot away
    longest = max((len(s.label) for s in h.series), default=0) + 30  # a step's note
    legend_cols = 2 if longest <= LEGEND_CHARS_PER_COLUMN else 1
    legend_lines = math.ceil(len(h.series) / legend_cols)
    fig, (ax,) = _figure(width=11, height=5.2 + 0.19 * legend_lines)
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
    _log_y(ax)
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
    return _save(history_figure(h), path, path.parent)


def _save(fig, path: Path, root: Path) -> Path:
    """The figure as a PNG at `path`, which must lie inside `root`, written whole (never
    through a link a run folder holds)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return write_atomic(path, buffer.getvalue(), root=root)
