"""plot: PNGs from the reference run, and what the figures hold for synthetic GPU runs."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from bench.analysis import plot
from bench.cli import main
from bench.record.figures import Clocks, Timing
from tests.conftest import REFERENCE
from tests.runs import GIB, case, noisy, write_run

PNG = b"\x89PNG\r\n\x1a\n"


def gpu_runs(tmp_path):
    cases = []
    for size in (512, 1024, 2048):
        for tiled in (False, True):
            oom = size == 2048 and not tiled
            cases.append(
                case(
                    size=size,
                    tiled=tiled,
                    status="oom" if oom else "ok",
                    samples=noisy(size / 10_000),
                    peak=int(size * size * (40 if tiled else 120)),
                )
            )
    cases.append(case(size=256, frames=8, samples=noisy(0.5), peak=3 * GIB))  # a video case
    a = write_run(tmp_path, "a", cases, started_at="2026-01-01T00:00:00Z")
    b = write_run(
        tmp_path, "b", cases, device_name="NVIDIA GeForce RTX 3060", started_at="2026-01-02T00:00:00Z"
    )
    return plot.load([a, b])


def test_reference_run_plots_are_pngs_in_the_run(tmp_path, capsys):
    run = tmp_path / REFERENCE.name
    shutil.copytree(REFERENCE, run)
    assert main(["plot", str(run)]) == 0
    printed = capsys.readouterr().out.split()
    names = sorted(p.name for p in (run / "plots").iterdir())
    assert names == sorted(
        f"{kind}-sd-v1-{op}.png"
        for kind in ("memory", "time", "tiled-overhead")
        for op in ("encode", "decode")
    )
    assert sorted(printed) == sorted(str(run / "plots" / n) for n in names)
    for name in names:
        data = (run / "plots" / name).read_bytes()
        assert data[:8] == PNG and len(data) > 10_000


def test_several_runs_and_out(tmp_path, capsys):
    gpu_runs(tmp_path)
    out = tmp_path / "figs"
    assert main(["plot", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)]) == 0
    names = sorted(p.name for p in out.glob("*.png"))
    # three figures of both runs together, and a fit figure per GPU run
    assert names == [
        "fit-sd-v1-decode-nvidia-geforce-rtx-3060.png",
        "fit-sd-v1-decode-nvidia-geforce-rtx-4090.png",
        "memory-sd-v1-decode.png",
        "tiled-overhead-sd-v1-decode.png",
        "time-sd-v1-decode.png",
    ]
    assert not (tmp_path / "a" / "plots").exists()


def test_memory_figure_has_card_lines_oom_and_dashed_tiled(tmp_path):
    fig = plot.memory_figure(gpu_runs(tmp_path), "sd-v1", "decode")
    ax = fig.axes[0]
    flat = {
        line.get_ydata()[0]
        for line in ax.lines
        if len(set(line.get_ydata())) == 1 and line.get_xdata()[0] == 0
    }
    assert {8, 10, 12, 16, 24} <= flat
    texts = [t.get_text() for t in ax.texts]
    assert all(f"{gb} GB card" in texts for gb in (8, 10, 12, 16, 24))
    ooms = [line for line in ax.lines if line.get_marker() == "X" and len(line.get_xdata())]
    assert len(ooms) == 2  # one per run, at the device's memory
    assert all(line.get_ydata()[0] == pytest.approx(24) for line in ooms)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "NVIDIA GeForce RTX 4090, tiled" in legend and "NVIDIA GeForce RTX 3060, untiled" in legend
    assert "OOM (drawn at the device's memory)" in legend
    styles = {line.get_label(): line.get_linestyle() for line in ax.lines}
    assert (
        styles["NVIDIA GeForce RTX 4090, tiled"] == "--" and styles["NVIDIA GeForce RTX 4090, untiled"] == "-"
    )
    assert "GiB" in ax.get_ylabel() and "megapixels" in ax.get_xlabel()
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert "256x256x8\n0.524 MP" in ticks  # the video case: frames count in megapixels


def test_overhead_figure_marks_untiled_oom(tmp_path):
    fig = plot.overhead_figure(gpu_runs(tmp_path), "sd-v1", "decode")
    time_ax, mem_ax = fig.axes
    assert [t.get_text() for t in time_ax.get_xticklabels()] == ["512x512", "1024x1024", "2048x2048"]
    labels = [t.get_text() for t in time_ax.texts]
    assert labels.count("untiled\nOOM") == 2
    assert "-67%" in [t.get_text() for t in mem_ax.texts]  # 40 vs 120 bytes a pixel


def test_no_tiled_cases_no_overhead_figure(tmp_path):
    run = write_run(tmp_path, "a", [case(size=512), case(size=1024)])
    assert plot.overhead_figure(plot.load([run]), "sd-v1", "decode") is None


def test_size_labels_and_megapixels():
    assert case(size=512).size_label == "512x512"
    assert case(size=512, frames=17).size_label == "512x512x17"
    assert case(size=1000).megapixels == 1.0
    assert case(size=1000, frames=4).megapixels == 4.0


def test_a_missing_run_is_bad_input(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such run folder" in err


def test_runs_with_only_medians_plot(tmp_path):
    # Runs imported from published tables hold the median and no samples, min or max.
    cases = [case(size=s, samples=noisy(s / 1e4)) for s in (512, 1024)]
    for c in cases:
        c.time = Timing(median=c.time.median)
        c.mem = replace(c.mem, peak_allocated=None)  # a percentage of the card, nothing more
    run = write_run(tmp_path, "imported", cases)
    written = plot.plot_runs([run], out=tmp_path / "p")
    assert [p.name for p in written] == ["memory-sd-v1-decode.png", "time-sd-v1-decode.png"]
    ax = plot.time_figure(plot.load([run]), "sd-v1", "decode").axes[0]
    assert all(low == high for _, low, high in _bars(ax, "untiled"))  # no spread to show


def _line(ax, label):
    """The plotted line of a legend entry (for error bars: their data line)."""
    for container in ax.containers:
        if container.get_label() == label:
            return container.lines[0]
    return next(line for line in ax.lines if line.get_label() == label)


def _bars(ax, label) -> set[tuple[float, float, float]]:
    """(x, low, high) of each error bar of a legend entry."""
    container = next(c for c in ax.containers if c.get_label() == label)
    return {
        (round(seg[0][0], 6), round(seg[0][1], 9), round(seg[1][1], 9))
        for collection in container.lines[2]
        for seg in collection.get_segments()
    }


def test_time_figure_draws_each_median_with_its_interval(tmp_path):
    runs = gpu_runs(tmp_path)
    fig = plot.time_figure(runs, "sd-v1", "decode")
    ax = fig.axes[0]
    untiled = [r for r in runs[0].records if r.case.op == "decode" and not r.case.tiled and r.ok]
    untiled.sort(key=lambda r: r.megapixels)
    line = _line(ax, "NVIDIA GeForce RTX 4090, untiled")
    assert list(line.get_xdata()) == pytest.approx([r.megapixels for r in untiled])
    assert list(line.get_ydata()) == pytest.approx([r.median for r in untiled])
    assert line.get_linestyle() == "-" and _line(ax, "NVIDIA GeForce RTX 4090, tiled").get_linestyle() == "--"
    assert _bars(ax, "NVIDIA GeForce RTX 4090, untiled") == {
        (round(r.megapixels, 6), round(r.time.ci_low, 9), round(r.time.ci_high, 9)) for r in untiled
    }
    assert all(r.time.min < r.time.ci_low < r.time.ci_high < r.time.max for r in untiled)
    # the untiled 2048 px case ran out of memory: a dotted line at its size
    oom_x = {
        line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == ":" and len(line.get_xdata())
    }
    assert oom_x == {2048 * 2048 / 1e6}
    assert ax.get_yscale() == "log" and "median time" in ax.get_ylabel()


def test_runs_without_intervals_get_min_to_max_bars(tmp_path):
    """Runs of format 1 stored no interval: their bars span min to max, as they did."""
    cases = [case(size=s, samples=noisy(s / 1e4)) for s in (512, 1024)]
    for c in cases:
        c.time = replace(c.time, ci_low=None, ci_high=None)
    ax = plot.time_figure(plot.load([write_run(tmp_path, "old", cases)]), "sd-v1", "decode").axes[0]
    assert _bars(ax, "untiled") == {
        (round(c.megapixels, 6), round(c.time.min, 9), round(c.time.max, 9)) for c in cases
    }


def test_a_throttled_case_is_marked(tmp_path):
    hot = case(size=1024, samples=noisy(0.2))
    hot.clocks = Clocks(sm_mhz_min=1200, throttle=("sw_power_cap",))
    ax = plot.time_figure(plot.load([write_run(tmp_path, "hot", [case(), hot])]), "sd-v1", "decode").axes[0]
    marked = _line(ax, "untiled: GPU throttled")
    assert list(marked.get_xdata()) == [hot.megapixels] and list(marked.get_ydata()) == [hot.median]


def test_the_reference_run_figures_hold_its_figures():
    runs = plot.load([REFERENCE])
    for op in ("encode", "decode"):
        records = sorted(
            (r for r in runs[0].records if r.case.op == op and not r.case.tiled), key=lambda r: r.megapixels
        )
        memory = plot.memory_figure(runs, "sd-v1", op).axes[0]
        assert list(_line(memory, "untiled").get_ydata()) == pytest.approx([r.peak / GIB for r in records])
        assert "process RSS" in memory.get_ylabel()
        time = plot.time_figure(runs, "sd-v1", op).axes[0]
        assert list(_line(time, "untiled").get_ydata()) == pytest.approx([r.median for r in records])
        overhead = plot.overhead_figure(runs, "sd-v1", op)
        assert [t.get_text() for t in overhead.axes[0].get_xticklabels()] == [r.size_label for r in records]
