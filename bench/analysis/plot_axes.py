"""What every figure of bench.analysis.plot shares: the runs as legends name them, a
figure on matplotlib's Agg canvas (no display needed), its axes (a log time or memory
axis in plain numbers, a megapixel axis named by the sizes measured), its colors, and
how a PNG is written."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator

from bench.files import write_atomic
from bench.record import layer
from bench.record.run import CaseRecord
from bench.record.store import Run, open_run

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
    return labelled([open_run(d, strict=True, need_cases=True) for d in run_dirs])


def labelled(loaded: list[Run]) -> list[RunData]:
    """Runs already read, named as `load` names them."""
    # a run of `vae-bench matrix` or `bisect` is named by what its environment held
    names = [_with_layer(r) for r in loaded]
    return [
        RunData(r, f"{name} {r.meta.started_at or r.run_id}" if names.count(name) > 1 else name)
        for r, name in zip(loaded, names, strict=True)
    ]


def _with_layer(run) -> str:
    held = layer.from_environment(run.meta.environment)
    return run.device_label if held is None else f"{run.device_label}, {held.label or ' + '.join(held.want)}"


def figure(ncols: int = 1, width: float = 8.0, height: float = 5.2) -> tuple[Figure, list]:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def on(runs: list[RunData]) -> str:
    """ " on <device>" for a plot of one run; several runs are named in the legend."""
    return f" on {runs[0].label}" if len(runs) == 1 else ""


def log_y(ax) -> None:
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


def size_ticks(ax, records: Iterable[CaseRecord]) -> None:
    """Megapixel axis (log) with a tick at every measured size, named by it; for audio,
    samples, with each tick named by its length in seconds."""
    records = list(records)
    if records and all(r.case.seconds is not None for r in records):
        _audio_ticks(ax, records)
        return
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


def save(fig, path: Path, root: Path) -> Path:
    """The figure as a PNG at `path`, which must lie inside `root`, written whole (never
    through a link a run folder holds)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return write_atomic(path, buffer.getvalue(), root=root)


def _audio_ticks(ax, records: list[CaseRecord]) -> None:
    at = {round(r.megapixels, 9): r.size_label for r in records}  # the x of every figure
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(sorted(at)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([at[n] for n in sorted(at)], fontsize=8)
    ax.set_xlim(min(at) / 1.4, max(at) * 1.4)
    ax.set_xlabel("audio length (seconds, log scale)")
