"""Will it fit on my card? The one-line verdict, the headroom that fit, advise, project
and plot share, card names sold in several sizes, the shipped reference runs and
configs used when none is given, and the projection rule held against the published
tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.analysis.fit import DEFAULT_HEADROOM, GIB, MIB, model_run, parse_headroom
from bench.cards import find_card, load_cards
from bench.cli import main
from bench.errors import BadInput
from bench.record.store import open_run
from bench.shipped import DOCS_RUN, VARIANTS_RUN
from tests.conftest import FIXTURES

DOCS, VARIANTS = str(DOCS_RUN.path), str(VARIANTS_RUN.path)
SDXL_1024 = ["--model", "sdxl", "--op", "decode", "--size", "1024"]
SD_2048 = ["--model", "sd-v1", "--op", "decode", "--size", "2048"]


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- card names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, sizes",
    [("RTX 4060 Ti", ("8GB", "16GB")), ("GeForce RTX 3080", ("10GB", "12GB")), ("RTX 3060", ("12GB", "8GB"))],
)
def test_a_name_sold_in_several_sizes_is_refused_with_its_sizes(capsys, name, sizes):
    with pytest.raises(BadInput, match="is sold in several memory sizes"):
        find_card(load_cards(), name)
    code, out, err = run_cli(capsys, "fit", DOCS, "--card", name, *SDXL_1024)
    assert code == 2 and out == "" and err.count("\n") == 1
    for size in sizes:
        assert re.search(rf"'NVIDIA GeForce {name.removeprefix('GeForce ')} {size}'", err), err
    # each size named is accepted, however its size is spelled
    for size in sizes:
        spaced = size.replace("GB", " GB")
        assert find_card(load_cards(), f"{name} {spaced}").name.endswith(f" {size}")


def test_a_card_whose_size_is_only_nominal_says_so_in_the_verdict(capsys):
    code, out, _ = run_cli(capsys, "fit", DOCS, "--card", "RTX 3060 8GB", *SDXL_1024)
    assert code == 0 and "NVIDIA GeForce RTX 3060 8GB (nominal size: its reported total was not found)" in out


@pytest.mark.parametrize("vram", ["8", "8.5", "12288"])
def test_a_bare_number_needs_a_unit(capsys, vram):
    code, _, err = run_cli(capsys, "fit", DOCS, "--vram", vram, *SDXL_1024)
    assert code == 2 and f"'{vram}' needs a unit: {vram}GiB or {vram}MiB" in err


def test_a_size_given_by_the_user_is_named_by_its_mib(capsys):
    code, out, _ = run_cli(capsys, "fit", DOCS, "--vram", "8GiB", *SDXL_1024)
    assert code == 0 and "on your 8192 MiB card:" in out and "a 8" not in out


# -- one case, one line -----------------------------------------------------------------------


def test_one_case_that_fits_is_one_line_and_exit_0(capsys):
    code, out, err = run_cli(capsys, "fit", DOCS, "--card", "RTX 3070", *SDXL_1024, "--dtype", "float32")
    assert code == 0 and out.count("\n") == 1 and err == ""
    rm = model_run(open_run(DOCS))
    (r,) = [
        r
        for r in rm.run.records
        if r.label == "sdxl decode 1024x1024 float32 untiled"  # the record the verdict must quote
    ]
    need = (r.mem.peak_allocated + rm.context) / MIB
    card = find_card(load_cards(), "RTX 3070")
    usable = card.mib * 0.9
    assert out.startswith("FITS: sdxl decode 1024x1024 float32 untiled on NVIDIA GeForce RTX 3070: ")
    assert f"needs {need:.0f} MiB (allocated peak + CUDA context, measured on NVIDIA H200)" in out
    assert (
        f"usable {usable:.0f} of {card.mib:.0f} MiB after {card.mib * 0.1:.0f} MiB headroom (10% of the card)"
        in out
    )
    assert f"{usable - need:.0f} MiB to spare" in out


def test_the_cheapest_setting_that_fits_comes_from_the_variants_run(capsys):
    """sd-v1 decode 2048 float16 needs about 10.4 GiB untiled. On a 3070 only tiling
    fits, and the 512 px tile is the fastest that does (its PSNR, random weights, is
    below the floor, and said so: no setting that fits reaches it). On a 10 GiB card
    with no headroom channels_last (7.9 GiB) fits and beats every tiling."""
    code, out, _ = run_cli(capsys, "fit", VARIANTS, "--card", "RTX 3070", *SD_2048)
    assert code == 1 and out.count("\n") == 1
    assert out.startswith("DOES NOT FIT: sd-v1 decode 2048x2048 float16 untiled on NVIDIA GeForce RTX 3070")
    run = open_run(VARIANTS)
    at = {r.label: r for r in run.records if r.case.model == "sd-v1" and r.case.op == "decode"}
    plain = at["sd-v1 decode 2048x2048 float16 untiled"]
    tiled = at["sd-v1 decode 2048x2048 float16 tiled [tile_sample_min_size 512]"]
    cost = (tiled.median / plain.median - 1) * 100
    assert "cheapest that fits: tiled (512 px tiles): " in out
    assert f"{cost:+.0f}% time, PSNR {tiled.quality.psnr_db:.1f} dB against untiled, below 40 dB" in out
    assert out.rstrip().endswith(f"(from {run.run_id})")

    code, out, _ = run_cli(capsys, "fit", VARIANTS, "--vram", "10GiB", "--headroom", "0", *SD_2048)
    channels_last = at["sd-v1 decode 2048x2048 float16 untiled [channels_last]"]
    cost = (channels_last.median / plain.median - 1) * 100
    assert code == 1 and "cheapest that fits: untiled, channels_last: " in out
    assert f"{cost:+.0f}% time, PSNR {channels_last.quality.psnr_db:.1f} dB against untiled (" in out


def test_the_quality_of_a_setting_is_found_in_the_run_that_measured_it(capsys):
    """The docs run's tiled case has no quality; the variants run measured the same
    setting (float16, 512 px tiles, no other variant)."""
    code, out, _ = run_cli(capsys, "fit", DOCS, VARIANTS, "--card", "RTX 3070", *SD_2048)
    assert code == 1 and "cheapest that fits: tiled (512 px tiles): " in out
    assert f"(measured in {VARIANTS_RUN.run_id})" in out and f"(from {DOCS_RUN.run_id})" in out


def test_a_video_case_is_answered_with_its_frames(capsys):
    from tests.conftest import REFERENCE_H200_VIDEO

    rm = model_run(open_run(REFERENCE_H200_VIDEO))
    at = {r.label: r for r in rm.run.records}
    wan = at["wan decode 512x320x17 bfloat16 untiled"]
    code, out, _ = run_cli(
        capsys, "fit", REFERENCE_H200_VIDEO, "--card", "RTX 4090", "--model", "wan", "--op", "decode",
        "--size", "512x320", "--frames", "17",
    )  # fmt: skip
    need = (wan.mem.peak_allocated + rm.context) / MIB
    assert code == 0 and out.startswith(
        f"FITS: wan decode 512x320x17 bfloat16 untiled on NVIDIA GeForce RTX 4090: needs {need:.0f} MiB"
    )
    hunyuan = ["--model", "hunyuanvideo", "--op", "decode", "--size", "512x320", "--frames", "33"]
    code, out, _ = run_cli(capsys, "fit", REFERENCE_H200_VIDEO, "--card", "RTX 3070", *hunyuan)
    plain, tiled = (at[f"hunyuanvideo decode 512x320x33 bfloat16 {t}"] for t in ("untiled", "tiled"))
    cost = (tiled.median / plain.median - 1) * 100
    tiled_need = (tiled.mem.peak_allocated + rm.context) / MIB
    assert code == 1 and f"cheapest that fits: tiled: {tiled_need:.0f} MiB, {cost:+.0f}% time" in out
    # frames the run did not measure, with two sizes in the series: no line to read off
    code, out, err = run_cli(capsys, "fit", REFERENCE_H200_VIDEO, "--card", "RTX 4090", *hunyuan[:-1], "25")
    assert code == 2 and "measured at 2 size(s), none 512x320x25: too few to fit a line through" in err


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--model", "sdxl", "--op", "decode"], "--size missing"),
        (["--dtype", "float16"], "--dtype: narrows one case"),
        ([*SDXL_1024[:4], "--size", "big"], "'big' is not a size"),
        (
            ["--model", "flux", "--op", "decode", "--size", "1024"],
            "flux decode at 1024x1024 is not in the run(s)",
        ),
        ([*SD_2048, "--dtype", "float32"], "measured in float16 only, not float32"),
        (["--model", "sdxl", "--op", "encode", "--size", "1024"], "measured in bfloat16, float32: name one"),
    ],
)
def test_a_case_the_runs_cannot_answer_is_bad_input(capsys, argv, says):
    code, out, err = run_cli(capsys, "fit", DOCS, VARIANTS, "--card", "RTX 3070", *argv)
    assert code == 2 and out == "" and err.count("\n") == 1 and says in err, err


# -- one headroom -----------------------------------------------------------------------------


def test_fit_advise_project_and_plot_start_from_the_same_headroom():
    from bench.cli import _parser

    parser, _ = _parser()
    argv = {
        "fit": ["--card", "RTX 3070"],
        "advise": ["--card", "RTX 3070"],
        "project": ["--cards", "RTX 3070"],
        "plot": [],
    }
    for command, rest in argv.items():
        args = parser.parse_args([command, *rest])
        assert args.headroom == DEFAULT_HEADROOM == "10%", command


def test_the_default_headroom_turns_the_same_case_away_in_fit_advise_and_project(capsys):
    """sdxl decode 1024 float32 needs 5928 MiB with its context: it fits a 6144 MiB
    card (the RTX 2060 6GB) with nothing kept free, and not with 10% of it kept."""
    card = "RTX 2060 6GB"
    assert run_cli(capsys, "fit", DOCS, "--card", card, *SDXL_1024)[0] == 1
    assert run_cli(capsys, "fit", DOCS, "--card", card, *SDXL_1024, "--headroom", "0")[0] == 0

    def advice(*extra) -> str:
        _, out, _ = run_cli(capsys, "advise", DOCS, "--card", card, "--format", "json", *extra)
        import json

        (row,) = [
            x
            for x in json.loads(out)["data"]["inputs"]
            if (x["model"], x["op"], x["size"]) == ("sdxl", "decode", "1024x1024")
        ]
        return row["why_none"] or row["use"]["case"]

    assert advice() == f"no measured setting fits NVIDIA GeForce {card}"
    assert advice("--headroom", "0") == "sdxl decode 1024x1024 float32 untiled"

    def projected(*extra) -> str:
        _, out, _ = run_cli(capsys, "project", DOCS, "--cards", card, *extra)
        (line,) = [x for x in out.splitlines() if x.startswith("sdxl decode 1024x1024 float32 untiled")]
        return line.split()[-2]

    assert projected() == "OOM" and projected("--headroom", "0") == "fits"
    assert projected("--headroom", "10%") == "OOM"


def test_headroom_is_a_share_below_100_or_a_size_with_its_unit():
    assert parse_headroom("10%").of(8 * GIB) == pytest.approx(0.8 * GIB)
    assert parse_headroom("1GiB").of(8 * GIB) == GIB
    assert parse_headroom("0").of(8 * GIB) == 0
    for bad in ("100%", "1", "-5%", "lots"):
        with pytest.raises(BadInput, match="--headroom"):
            parse_headroom(bad)


# -- one figure everywhere ----------------------------------------------------------------------


def test_the_fit_plot_draws_the_verdicts_figure_and_line(tmp_path):
    """The card line sits at what the card leaves after the headroom, and the largest
    untiled square drawn on it is the last side the one-line verdict calls a fit."""
    import matplotlib

    matplotlib.use("Agg")
    from bench.analysis.plot_fit import fit_figure
    from bench.analysis.verdict import Ask, judge

    rm = model_run(open_run(DOCS))
    card = find_card(load_cards(), "RTX 3070")
    headroom = parse_headroom(DEFAULT_HEADROOM)
    fig = fit_figure(rm, "sdxl", "decode", [(card.name, card.bytes)], headroom)
    ax = fig.axes[0]
    usable = (card.bytes - headroom.of(card.bytes)) / GIB
    lines = [line for line in ax.get_lines() if list(line.get_ydata()) == [usable, usable]]
    assert lines, "no line at the card's memory less the headroom"
    (diamond,) = [line for line in ax.get_lines() if line.get_marker() == "D"]
    side = round((diamond.get_xdata()[0] * 1e6) ** 0.5)
    assert diamond.get_ydata()[0] == pytest.approx(usable)

    def fits(s: int) -> bool:
        return judge([rm], Ask("sdxl", "decode", s, s), card.name, card.bytes, headroom).fits

    assert fits(side) and not fits(side + 16)
    # the measured points are the verdict's figure: allocated peak + context
    verdict = judge([rm], Ask("sdxl", "decode", 1024, 1024), card.name, card.bytes, headroom)
    points = [line for line in ax.get_lines() if line.get_marker() == "o" and line.get_linestyle() == "None"]
    need = (verdict.base.cell.need - headroom.of(card.bytes)) / GIB
    assert any(need == pytest.approx(y) for line in points for y in line.get_ydata())


def test_the_memory_plot_also_draws_the_figure_fit_compares(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from bench.analysis.plot_axes import load
    from bench.analysis.plot_cases import memory_figure

    rm = model_run(open_run(DOCS))
    fig = memory_figure(load([DOCS]), "sdxl", "decode")
    dotted = [
        line for line in fig.axes[0].get_lines() if line.get_linestyle() == ":" and len(line.get_xdata())
    ]
    (r,) = [r for r in rm.run.records if r.label == "sdxl decode 1024x1024 float32 untiled"]
    assert any(
        (r.mem.peak_allocated + rm.context) / GIB == pytest.approx(y)
        for line in dotted
        for y in line.get_ydata()
    )
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(label.startswith("dotted: allocated peak + CUDA context") for label in labels)


# -- the shipped reference and configs -----------------------------------------------------------


@pytest.mark.parametrize(
    "argv, role",
    [
        (["show"], DOCS_RUN),
        (["tables"], DOCS_RUN),
        (["project", "--cards", "RTX 3070"], DOCS_RUN),
        (["advise", "--card", "RTX 3070"], VARIANTS_RUN),
        (["fit", "--card", "RTX 3070"], DOCS_RUN),
    ],
)
def test_a_command_given_no_run_uses_the_shipped_reference_and_says_which(capsys, argv, role):
    code, out, err = run_cli(capsys, *argv)
    assert code == 0 and out
    said = f"using the shipped reference run {role.run_id} ({role.what}, random weights)"
    assert err == said + "; give RUN_DIR for your own\n"


@pytest.mark.slow  # every figure of the docs run: seconds
def test_plot_of_the_shipped_run_writes_into_the_current_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "plot", "--cards", "RTX 3070")
    assert code == 0
    written = [Path(line) for line in out.splitlines()]
    assert written and all(p.parent == Path("plots") and (tmp_path / p).is_file() for p in written)
    assert not list(DOCS_RUN.path.glob("plots"))


def test_a_shipped_sweep_is_named_without_its_path(capsys):
    code, out, _ = run_cli(capsys, "run", "cpu", "--dry-run")
    assert code == 0 and "dry run, nothing was run or written" in out
    code, _, err = run_cli(capsys, "run", "cpux", "--dry-run")
    assert code == 2 and "'cpux' is not a shipped sweep (cpu, default, docs," in err and "cards" not in err
    code, out, _ = run_cli(capsys, "tables", DOCS, "--spec", "hybrid-inference")
    assert code == 0 and "<details><summary>" in out


def test_version(capsys):
    from bench import __version__

    assert run_cli(capsys, "--version") == (0, f"vae-bench {__version__}\n", "")
    code, out, _ = run_cli(capsys, "--version", "--verbose")
    assert code == 0 and re.search(r"^torch \S+$", out, re.M) and re.search(r"^diffusers \S+$", out, re.M)
    assert re.search(r"^python 3\.\d+", out, re.M)


# -- the projection rule against the published tables ---------------------------------------------


def test_the_projection_calls_every_published_oom_cell_right():
    from bench.docs.projected import project_pages
    from bench.docs.spec import load_spec

    pages = [
        (FIXTURES / "docs" / page, load_spec(spec))
        for page, spec in (
            ("overview.en.md", "hybrid-inference"),
            ("vae_decode.en.md", "vae-decode"),
            ("vae_encode.en.md", "vae-encode"),
        )
    ]
    rm = model_run(open_run(DOCS))
    cells = project_pages(rm, pages, load_cards())
    # two published OOM cells (SDXL encode 2048 float32 on the 3070 and the 3080), and
    # fits published at 93-96% of a card: the rule is tried from both sides
    assert len(cells) == 128 and sum(c.published_status == "oom" for c in cells) == 2
    assert sum((c.published_percent or 0) > 90 for c in cells) >= 4
    assert len({c.device for c in cells}) == 7
    assert [c for c in cells if not c.right] == []
    # kept safe: the default headroom calls no published OOM a fit
    safe = project_pages(rm, pages, load_cards(), parse_headroom(DEFAULT_HEADROOM))
    assert not [c for c in safe if c.published_status == "oom" and c.fits is not False]
