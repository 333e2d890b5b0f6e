"""history: runs of one device ordered by start time, step changes, bad input."""

from __future__ import annotations

import shutil

import pytest

from bench.analysis.history import find_step, history
from bench.cli import main
from bench.errors import BadInput
from tests.runs import case, noisy, write_run

DAYS = [f"2026-01-0{d}T00:00:00Z" for d in range(1, 8)]


def write_history(root, decode_times, encode_time=0.05, statuses=None):
    """One run a day; the folder names run backwards, so that order must come from start time."""
    statuses = statuses or ["ok"] * len(decode_times)
    for i, (t, st) in enumerate(zip(decode_times, statuses, strict=True)):
        write_run(
            root,
            f"run-{len(decode_times) - i}",
            [case(op="encode", samples=noisy(encode_time)), case(op="decode", samples=noisy(t), status=st)],
            started_at=DAYS[i],
            environment={"torch": f"2.{i}.0"},
        )


def cli(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


def test_runs_are_ordered_by_start_time_and_a_step_is_marked(tmp_path, capsys):
    write_history(tmp_path, [0.10, 0.102, 0.099, 0.13, 0.131, 0.129])
    h = history(tmp_path)
    assert [r.meta.started_at for r in h.runs] == DAYS[:6]
    encode, decode = h.series
    assert decode.values == pytest.approx([0.10, 0.102, 0.099, 0.13, 0.131, 0.129], rel=0.01)
    assert decode.step is not None and decode.step.index == 3 and decode.step.change == "x1.30"
    assert encode.step is None
    code, out, _ = cli(capsys, "history", tmp_path)
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("sd-v1 decode"))
    assert "*0.130" in line and line.rstrip().endswith("at #4: x1.30")
    assert (
        "#4 run-3  started 2026-01-04T00:00:00Z  torch 2.3.0  diffusers 0.31.0  changed: torch 2.2.0 -> 2.3.0"
        in out
    )


def test_filters_by_model_and_op(tmp_path, capsys):
    write_history(tmp_path, [0.1, 0.1])
    h = history(tmp_path, model="sd-v1", op="encode")
    assert [s.label for s in h.series] == ["sd-v1 encode 512x512 float16 untiled"]
    code, out, _ = cli(capsys, "history", tmp_path, "--model", "sd-v1", "--op", "decode")
    assert code == 0 and "sd-v1 decode" in out and "sd-v1 encode" not in out


def test_a_status_change_is_a_step(tmp_path):
    write_history(tmp_path, [0.1, 0.1, 0.1], statuses=["ok", "ok", "oom"])
    decode = history(tmp_path, op="decode").series[0]
    assert decode.statuses == ["ok", "ok", "oom"]
    assert decode.step.index == 2 and decode.step.change == "ok -> oom"


def test_only_one_device_and_the_others_are_named(tmp_path, capsys):
    write_history(tmp_path / "gpu", [0.1, 0.1])
    write_run(
        tmp_path / "cpu",
        "old-cpu-run",
        [case(device="cpu")],
        device="cpu",
        device_name="Xeon",
        started_at="2025-01-01T00:00:00Z",
    )
    h = history(tmp_path)
    assert h.device_label == "NVIDIA GeForce RTX 4090" and len(h.runs) == 2
    assert h.other_devices == {"Xeon": 1}
    assert history(tmp_path, device="xeon").device_label == "Xeon"
    out = cli(capsys, "history", tmp_path)[1]
    assert "left out, other devices (choose with --device): Xeon (1 run)" in out


def test_memory_history(tmp_path):
    for i, mib in enumerate([1000, 1000, 1400]):
        write_run(tmp_path, f"r{i}", [case(peak=mib * 1024**2)], started_at=DAYS[i])
    s = history(tmp_path, metric="memory").series[0]
    assert s.values == [1000, 1000, 1400]
    assert s.step.index == 2


def test_plot_option_writes_a_png(tmp_path, capsys):
    write_history(tmp_path / "results", [0.1, 0.1, 0.2])
    out_png = tmp_path / "h.png"
    code, out, _ = cli(capsys, "history", tmp_path / "results", "--plot", out_png)
    assert code == 0 and f"plot: {out_png}" in out
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out_png.stat().st_size > 10_000
    code, out, _ = cli(capsys, "history", tmp_path / "results", "--plot")
    default = tmp_path / "results" / "history-nvidia-geforce-rtx-4090-time.png"
    assert code == 0 and default.stat().st_size > 10_000


def test_a_corrupt_run_is_left_out_with_a_warning(tmp_path, capsys):
    write_history(tmp_path, [0.1, 0.1])
    bad = write_run(tmp_path, "torn", [case()], started_at=DAYS[5])
    (bad / "meta.json").write_text("{")
    code, out, err = cli(capsys, "history", tmp_path)
    assert code == 0
    assert "vae-bench: warning: left out:" in err and "torn" in err
    assert "2 run(s)" in out


@pytest.mark.parametrize(
    "values, statuses, expected",
    [
        ([1.0, 1.0, 1.0, 1.0], None, None),
        ([1.0, 1.1, 0.95, 1.05], None, None),  # noise within the factor
        ([1.0, 1.0, 2.0, 1.0], None, None),  # one slow run, and back: not a step
        ([1.0, 1.0, 0.5, 0.5], None, 2),
        ([1.0, None, 1.5, 1.5], ["ok", None, "ok", "ok"], 2),  # a case missing from run 2
    ],
)
def test_find_step(values, statuses, expected):
    statuses = statuses or ["ok"] * len(values)
    step = find_step(values, statuses, 1.25)
    assert (step.index if step else None) == expected


def assert_bad(capsys, *argv, says):
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("vae-bench: error: ") and says in err


def test_bad_input(tmp_path, capsys):
    assert_bad(capsys, "history", tmp_path / "nope", says="no such results folder")
    (tmp_path / "empty").mkdir()
    assert_bad(capsys, "history", tmp_path / "empty", says="no vae-bench run with stored cases")
    write_history(tmp_path / "runs", [0.1])
    assert_bad(capsys, "history", tmp_path / "runs", "--model", "flux", says="no case of model flux")
    assert_bad(capsys, "history", tmp_path / "runs", "--device", "A100", says="no run of 'A100'")


def assert_on_the_figure(fig):
    """Every legend, title and axis label lies inside the figure, and no legend covers a plot."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    whole = fig.bbox
    legends = [a.get_legend() for a in fig.axes if a.get_legend()]
    plots = [a for a in fig.axes if a.axison]
    texts = [fig._suptitle, *(a.title for a in plots), plots[-1].xaxis.label]
    for artist in (*legends, *texts):
        box = artist.get_window_extent(renderer)
        assert whole.x0 - 1 <= box.x0 and box.x1 <= whole.x1 + 1, artist
        assert whole.y0 - 1 <= box.y0 and box.y1 <= whole.y1 + 1, artist
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in plots:
            assert not box.overlaps(ax.get_window_extent(renderer)), (legend, ax.get_title(loc="left"))
    return plots, legends


def test_a_plot_of_many_series_keeps_its_legend_and_labels_on_the_figure(tmp_path):
    """The H200 reference runs: 41 series of sd-v1 encode in one panel, some with long labels."""
    from bench.analysis.plot import history_figure
    from tests.conftest import REFERENCE, REFERENCE_H200, REFERENCE_H200_DOCS, REFERENCE_H200_VARIANTS

    for run in (REFERENCE, REFERENCE_H200, REFERENCE_H200_DOCS, REFERENCE_H200_VARIANTS):
        shutil.copytree(run, tmp_path / run.name)
    h = history(tmp_path, model="sd-v1", op="encode")
    assert len(h.series) > 20
    plots, legends = assert_on_the_figure(history_figure(h))
    assert len(plots) == 1 and len(legends) == 1
    assert plots[0].get_title(loc="left") == "sd-v1 encode"
    # the panel names the model and op; its legend names the rest
    assert all(not t.get_text().startswith("sd-v1") for t in legends[0].get_texts())


def forty_series(root):
    """40 cases over three runs: sd-v1 and sdxl, encode and decode, 10 sizes each."""
    cases = [
        case(model=m, op=o, size=64 * (k + 1), samples=noisy(0.01 * (k + 1)))
        for m in ("sd-v1", "sdxl")
        for o in ("encode", "decode")
        for k in range(10)
    ]
    for i in range(3):
        write_run(root, f"r{i}", cases, started_at=DAYS[i])


@pytest.mark.parametrize("filters", [{}, {"op": "decode"}, {"model": "sdxl", "op": "encode"}])
def test_forty_series_one_panel_per_model_and_op_each_legend_inside(tmp_path, filters):
    from bench.analysis.plot import history_figure

    forty_series(tmp_path)
    h = history(tmp_path, **filters)
    fig = history_figure(h)
    plots, legends = assert_on_the_figure(fig)
    panels = sorted({(s.model, s.op) for s in h.series})
    assert sorted(tuple(p.get_title(loc="left").split()) for p in plots) == panels
    assert len(h.series) == 10 * len(panels) and len(legends) == len(panels)
    for ax in plots:  # within a panel no two series look alike
        looks = [(tuple(ln.get_color()), ln.get_marker(), ln.get_linestyle()) for ln in ax.get_lines()]
        assert len(set(looks)) == len(looks) == 10


def test_forty_series_in_one_panel_are_told_apart(tmp_path):
    from bench.analysis.plot import history_figure

    cases = [case(size=64 * (k + 1), tiled=t) for k in range(20) for t in (False, True)]
    for i in range(2):
        write_run(tmp_path, f"r{i}", cases, started_at=DAYS[i])
    h = history(tmp_path)
    assert len(h.series) == 40
    plots, legends = assert_on_the_figure(history_figure(h))
    looks = [(tuple(ln.get_color()), ln.get_marker(), ln.get_linestyle()) for ln in plots[0].get_lines()]
    assert len(set(looks)) == len(looks) == 40
    # the panel is as tall as its legend, not squeezed under it
    renderer = plots[0].figure.canvas.get_renderer()
    assert plots[0].get_window_extent(renderer).height >= 0.9 * legends[0].get_window_extent(renderer).height


def test_size_filter(tmp_path, capsys):
    forty_series(tmp_path)
    h = history(tmp_path, size="128")
    assert {s.setting for s in h.series} == {"128x128 float16 untiled"} and len(h.series) == 4
    code, out, _ = cli(capsys, "history", tmp_path, "--size", "128x128", "--op", "encode", "--model", "sdxl")
    assert code == 0 and "sdxl encode 128x128 float16 untiled" in out and "256x256" not in out
    assert_bad(capsys, "history", tmp_path, "--size", "100", says="no case of size 100")
    assert_bad(capsys, "history", tmp_path, "--size", "big", says="'big' is not a size")


def test_device_picks_by_label_card_name_or_kind_once_each(tmp_path, capsys):
    from tests.runs import write_run as run_at

    for i, label in enumerate([None, "NVIDIA GeForce RTX 4090 (300 W)", None]):
        extra = {"label": label} if label else {}
        run_at(tmp_path, f"r{i}", [case()], started_at=DAYS[i], device_extra=extra)
    for given in ("cuda:0", "4090"):  # every run is on cuda:0 of a 4090: two devices, each named once
        with pytest.raises(BadInput) as info:
            history(tmp_path, device=given)
        assert info.value.why.endswith(
            "matches several devices: NVIDIA GeForce RTX 4090, NVIDIA GeForce RTX 4090 (300 W)"
        )
    assert len(history(tmp_path, device="NVIDIA GeForce RTX 4090").runs) == 2  # the exact name
    assert len(history(tmp_path, device="300 W").runs) == 1
