"""Will it fit on my card: the memory model of a series, the verdicts on a card,
projections onto cards a run was not made on, and their bad input."""

from __future__ import annotations

import json
import math

import pytest

from bench.analysis.capacity import fit_card, project
from bench.analysis.fit import MIB, fit, model_run, parse_headroom, parse_vram
from bench.cli import main
from bench.errors import BadInput
from bench.record.figures import Memory
from bench.record.store import open_run
from tests.conftest import REFERENCE, REFERENCE_H200
from tests.runs import GIB, case, write_run


def test_a_line_of_known_slope_and_intercept():
    xs = [0.25e6, 1e6, 4e6, 16e6]
    ys = [500e6 + 300 * x for x in xs]
    f = fit(xs, ys)
    assert f.kind == "linear"
    (start, a, b) = f.lines[0]
    assert a == pytest.approx(500e6) and b == pytest.approx(300)
    assert f.r2 == pytest.approx(1.0) and f.max_residual == pytest.approx(0.0, abs=1e-12)
    assert f(8e6) == pytest.approx(500e6 + 300 * 8e6)
    assert f.largest(500e6 + 300 * 10e6) == pytest.approx(10e6)


def test_noise_shows_in_r2_and_the_largest_residual():
    xs = [1, 2, 3, 4, 5]
    ys = [10, 21, 29, 42, 50]
    f = fit(xs, ys)
    assert 0.95 < f.r2 < 1 and 0 < f.max_residual < 0.1


def test_tiling_flattens_the_curve_into_two_lines():
    """A tiled series: the peak grows until the image is larger than one tile, then
    barely moves (one tile at a time, and the output)."""
    xs = [0.0625e6, 0.25e6, 1e6, 4e6]
    ys = [300e6, 800e6, 820e6, 880e6]
    straight = fit(xs, ys)
    bent = fit(xs, ys, knee=True)
    assert straight.kind == "linear" and bent.kind == "piecewise"
    assert bent.r2 > straight.r2 and bent.max_residual < 0.05
    assert [line[0] for line in bent.lines] == [xs[0], xs[1]]  # the knee at a measured size
    assert bent(16e6) == pytest.approx(880e6 + 60e6 / 3e6 * 12e6, rel=0.05)  # the flat line goes on


def test_a_series_of_fewer_than_three_sizes_keeps_its_points_only():
    f = fit([1e6, 4e6], [1e9, 2e9])
    assert f.kind == "points" and f(1e6) == 1e9 and f(2e6) is None and f.largest(5e9) is None


def test_extrapolation_is_marked():
    f = fit([1, 2, 3], [1, 2, 3])
    assert not f.extrapolated(2.5) and f.extrapolated(4) and f.extrapolated(0.5)


def gpu_run(tmp_path, name="r"):
    """Untiled peaks of 1 GiB + 1 KiB per pixel, tiled flat at 1.5 GiB past 512x512;
    an NVML context of 500 MiB; 2048 untiled ran out of memory."""
    cases = []
    for size in (256, 512, 1024, 1536):
        for tiled in (False, True):
            px = size * size
            alloc = GIB + 1024 * px if not tiled else GIB + 1024 * min(px, 512 * 512)
            c = case(size=size, tiled=tiled, peak=alloc, samples=[0.01 * px / 1e6 * (2 if tiled else 1)] * 10)
            c.mem = Memory(
                peak_allocated=alloc,
                peak_reserved=int(alloc * 1.2),
                nvml_peak_used=int(alloc * 1.2) + 500 * MIB + 300 * MIB,
                nvml_baseline_used=300 * MIB,
                total=80 * GIB,
                metric="reserved",
            ).with_percent()
            cases.append(c)
    cases.append(case(size=2048, status="oom"))
    return write_run(tmp_path, name, cases, device_name="NVIDIA H100 80GB HBM3")


def test_every_verdict_on_a_constructed_run(tmp_path):
    rm = model_run(open_run(gpu_run(tmp_path)))
    assert rm.context == 500 * MIB
    card = 4 * GIB
    (group,) = fit_card(rm, "a 4 GiB card", card).groups
    rows = {r["size"]: r for r in group.rows}
    # 1024x1024 untiled: 1 GiB + 1 GiB + 500 MiB < 4 GiB, measured
    assert rows["1024x1024"]["untiled"].fits is True and rows["1024x1024"]["untiled"].how == "measured"
    # 1536x1536 untiled: 1 + 2.25 GiB + 500 MiB = 3.74 GiB: fits, just
    assert rows["1536x1536"]["untiled"].fits is True
    # 2048x2048: the run's own OOM (on its card); fitted here: 1 + 4 GiB + 500 MiB > 4 GiB
    u = rows["2048x2048"]["untiled"]
    assert u.fits is False and u.how == "extrapolated" and u.status == "oom"
    assert rows["2048x2048"]["tiled"].fits is True  # the flat tiled line: tile
    assert rows["4096x4096"]["tiled"].how == "extrapolated"
    assert rows["1024x1024"]["tiled_time"] == "+100%"  # measured where both ran
    # the largest square: (4 GiB - 500 MiB - 1 GiB) / 1 KiB per pixel
    side = math.isqrt((card - 500 * MIB - GIB) // 1024) // 8 * 8
    assert (group.largest, group.largest_extrapolated) == (side, True)
    # headroom for the rest of a pipeline moves the limit down
    (tight,) = fit_card(rm, "a 4 GiB card", card, parse_headroom("1GiB")).groups
    assert tight.largest < group.largest
    assert {r["size"]: r for r in tight.rows}["1536x1536"]["untiled"].fits is False


def test_projection_caps_the_reserved_peak_at_the_card_and_labels_itself(tmp_path, capsys):
    rm = model_run(open_run(gpu_run(tmp_path)))
    rows = project(rm, [("small", 2 * GIB), ("big", 80 * GIB)])
    for record, (small, big) in rows:
        if record.ok:
            assert small.percent <= 100 and big.percent == pytest.approx(
                record.mem.peak_reserved / (80 * GIB) * 100
            )
    code = main(["project", str(tmp_path / "r"), "--cards", "RTX 3070,H100 80GB HBM3"])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("PROJECTED from r")
    assert out.count("(projected)") == len(rows) * 2 + 1  # and the header
    code = main(["project", str(tmp_path / "r"), "--cards", "RTX 3070", "--format", "json"])
    data = json.loads(capsys.readouterr().out)["data"]
    assert data["projected_from"]["run"] == "r" and "memory_fraction" in data["cases"][0]["cards"][0]


def test_the_h200_docs_run_answers_for_a_3080(capsys):
    argv = [
        "fit",
        str(REFERENCE_H200),
        "--card",
        "GeForce RTX 3080 10GB",
        "--headroom",
        "0",
        "--format",
        "md",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "NVIDIA GeForce RTX 3080 10GB: 10240 MiB" in out and "CUDA context and driver" in out
    assert "## sd-v1 decode float16: untiled up to 2000x2000" in out
    assert "| 2048x2048 |" in out and "tile" in out


@pytest.mark.parametrize(
    "argv, says",
    [
        (["fit", str(REFERENCE), "--vram", "10GiB"], "CPU memory (a process's RSS) is not GPU memory"),
        (["project", str(REFERENCE), "--cards", "RTX 4090"], "is not GPU memory"),
        (["fit", str(REFERENCE_H200), "--card", "RTX 4099"], "close: NVIDIA GeForce RTX 4090"),
        (["fit", str(REFERENCE_H200), "--vram", "lots"], "'lots' is not a memory size"),
        (["fit", str(REFERENCE_H200), "--vram=-3GiB"], "is not a memory size"),
        (["fit", str(REFERENCE_H200)], "one of the arguments --card --vram is required"),
        (["fit", str(REFERENCE_H200), "--vram", "8GiB", "--headroom", "x"], "--headroom: 'x'"),
        (["project", str(REFERENCE_H200), "--cards", " , "], "--cards: name at least one card"),
    ],
)
def test_bad_input_is_one_line(capsys, argv, says):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err


def test_an_imported_run_has_no_allocated_peak(tmp_path, capsys):
    from tests.doc_helpers import DOCS

    assert main(["docs", "import", str(DOCS / "overview.en.md"), "--out", str(tmp_path)]) == 0
    run = next(p for p in tmp_path.iterdir() if "4090" in p.name)
    capsys.readouterr()
    assert main(["fit", str(run), "--vram", "24GiB"]) == 2
    assert "an imported run holds percentages only" in capsys.readouterr().err
    assert main(["advise", str(run), "--card", "RTX 4090"]) == 2  # it would call every row too big
    assert "an imported run holds percentages only" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text, mib", [("10GiB", 10240), ("12 GB", 12288), ("10240MiB", 10240), ("0.5g", 512)]
)
def test_vram_sizes(text, mib):
    assert parse_vram(text) == mib * MIB


def test_vram_must_be_a_size():
    with pytest.raises(BadInput):
        parse_vram("0GiB")
    for bare in ("10240", "8"):  # 8 GiB or 8 MiB? a number says neither
        with pytest.raises(BadInput, match=f"'{bare}' needs a unit: {bare}GiB or {bare}MiB"):
            parse_vram(bare)
    assert parse_vram("0", "--headroom", zero=True) == 0
    with pytest.raises(BadInput, match="--headroom: 'abc'"):
        parse_vram("abc", "--headroom", zero=True)


def test_the_fit_figure_draws_the_fit_and_each_card(tmp_path):
    from bench.analysis.plot import fit_figure

    rm = model_run(open_run(gpu_run(tmp_path)))
    fig = fit_figure(rm, "sd-v1", "decode", [("4 GiB", 4 * GIB), ("8 GiB", 8 * GIB)])
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.lines]
    assert "sd-v1 decode float16 untiled (linear fit)" in labels
    assert "sd-v1 decode float16 tiled (piecewise fit)" in labels
    cards = sorted(line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == ":")
    assert cards == [4, 8]
    diamonds = [line for line in ax.lines if line.get_marker() == "D"]
    assert {round(line.get_ydata()[0]) for line in diamonds} == {4, 8}  # the largest squares, where they meet


def test_what_tiling_costs_is_never_minus_zero():
    from bench.analysis.capacity import tiled_cost
    from tests.runs import case, noisy

    def timed(center, tiled=True):
        r = case(tiled=tiled, samples=noisy(center, 0.0001, 20))
        r.precision_met = True  # its interval counts
        return r

    untiled = timed(0.1000, tiled=False)
    assert tiled_cost(untiled, timed(0.0998)) == "0%"  # apart, by less than a percent
    assert tiled_cost(untiled, timed(0.159)) == "+59%"
    assert tiled_cost(untiled, timed(0.1)) == "within noise"
