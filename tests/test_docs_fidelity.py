"""Docs fidelity: sweeps that give a model its own axes (the published setup: SDXL in
float32), spec blocks that state their setup and refuse runs made otherwise, rows for
cards the spec does not list, the card table, `docs verify`, and the commit recorded
only for a checkout of this project."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace

import pytest
import yaml

from bench.cards import find_card, load_cards, page_card
from bench.cli import main
from bench.docs.check import check_page
from bench.docs.pages import split_row
from bench.docs.published import read_page
from bench.docs.spec import load_spec
from bench.docs.tables import Measurements
from bench.docs.verify import OUTSIDE, REPRODUCES, SETUP_DIFFERS, verify
from bench.errors import BadInput
from bench.record.store import open_run
from bench.sweep.cases import expand
from bench.sweep.config import from_dict, load_sweep
from tests.conftest import REFERENCE, REFERENCE_H200, REFERENCE_H200_DOCS, ROOT
from tests.doc_helpers import DOCS, PAGES, SPECS, page_tables, record, write_run

DOCS_SWEEP = ROOT / "bench" / "configs" / "docs.yaml"
OVERVIEW = DOCS / "overview.en.md"
HYBRID = SPECS / "hybrid-inference.yaml"


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- a model's own axes --------------------------------------------------------------------


def base(**fields) -> dict:
    return {"name": "t", "models": ["sd-v1"], "ops": ["encode"], "resolutions": [256], **fields}


def test_a_model_sets_its_own_dtype_tiling_and_resolutions():
    sweep = from_dict(
        base(
            models=[
                "sd-v1",
                {
                    "name": "sdxl",
                    "dtype": "float32",
                    "resolutions": [512],
                    "tiling": {"tile_sample_min_size": 256},
                },
            ],
            tiled=[False, True],
        )
    )
    cases = expand(sweep, sweep.specs())
    by_model = {m: [c for c in cases if c.model == m] for m in ("sd-v1", "sdxl")}
    assert {c.dtype for c in by_model["sd-v1"]} == {"float16"}
    assert {(c.width, c.dtype) for c in by_model["sdxl"]} == {(512, "float32")}
    tiled = next(c for c in by_model["sdxl"] if c.tiled)
    assert tiled.tiling_dict["tile_sample_min_size"] == 256
    # stored and read back, the same sweep
    assert from_dict(sweep.to_dict()) == sweep
    assert sweep.to_dict()["models"][1] == {
        "name": "sdxl",
        "dtype": ["float32"],
        "resolutions": ["512x512"],
        "tiling": {"tile_sample_min_size": 256},
    }


def test_case_ids_of_sweeps_without_model_axes_are_unchanged():
    """The docs sweep's SD v1 cases (float16, 512 px tile, now given in its entry) keep
    the ids the H200 run stored before; its SDXL cases, now float32, are new ones."""
    sweep = load_sweep(DOCS_SWEEP)
    ids = {c.case_id: c for c in expand(sweep, sweep.specs())}
    stored = {r.case_id: r for r in open_run(REFERENCE_H200).records}
    sd_v1 = {cid for cid, r in stored.items() if r.case.model == "sd-v1"}
    assert len(sd_v1) == 16 and sd_v1 <= set(ids)
    assert not {cid for cid, r in stored.items() if r.case.model == "sdxl"} & set(ids)
    assert {c.dtype for c in ids.values() if c.model == "sdxl"} == {"float32"}
    plain = from_dict(
        base(dtype="float16", tiled=[False, True], tiling={"sd-v1": {"tile_sample_min_size": 512}})
    )
    given = from_dict(
        base(models=[{"name": "sd-v1", "tiling": {"tile_sample_min_size": 512}}], tiled=[False, True])
    )
    assert [c.case_id for c in expand(plain, plain.specs())] == [
        c.case_id for c in expand(given, given.specs())
    ]


@pytest.mark.parametrize(
    "models, extra, field, says",
    [
        ([{"name": "sdxl", "colour": "red"}], {}, "models[0].colour", "not an axis a model can set"),
        ([{"name": "sdxl", "dtype": "fp8"}], {}, "models[0].dtype", "'fp8' is not allowed"),
        ([{"dtype": "float32"}], {}, "models[0].name", "must be a model name"),
        ([{"name": "sdxl", "frames": [9]}], {}, "models[0].frames", "image model"),
        (
            [{"name": "sd-v1", "tiling": {"tile_sample_min_size": 512}}],
            {"tiling": {"sd-v1": {"tile_sample_min_size": 256}}},
            "models[0].tiling",
            "give it in one place",
        ),
        (
            [{"name": "sdxl", "tiling": {"tile_sample_min_size": 100}}],
            {},
            "models[0].tiling.tile_sample_min_size",
            "multiple of 8",
        ),
        (["sdxl", {"name": "sdxl", "dtype": "float32"}], {}, "models", "listed twice"),
        ([{"name": "sdxl", "resolutions": ["100x100"]}], {}, "models[0].resolutions", "multiple of 8"),
    ],
)
def test_bad_model_axes_are_one_line(tmp_path, capsys, models, extra, field, says):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(base(models=models, **extra)))
    with pytest.raises(BadInput) as exc:
        load_sweep(path)
    assert exc.value.field == field and says in str(exc.value)
    assert main(["run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and field in err


def test_the_docs_specs_state_the_setup_of_the_docs_sweep():
    sweep = load_sweep(DOCS_SWEEP)
    for name in PAGES.values():
        for block in load_spec(SPECS / name).blocks:
            assert sweep.axis(block.model, "dtype") == (block.dtype,)
            knobs = sweep.axis(block.model, "tiling") or {}
            assert all(knobs.get(k) == v for k, v in block.tiling_dict.items())
    assert {b.model: b.dtype for b in load_spec(HYBRID).blocks} == {"sd-v1": "float16", "sdxl": "float32"}


# -- blocks state their setup -------------------------------------------------------------


def test_a_run_of_another_setup_is_refused(tmp_path, capsys):
    page = tmp_path / "overview.md"
    shutil.copyfile(OVERVIEW, page)
    code, out, err = run_cli(capsys, "docs", "update", page, "--spec", HYBRID, REFERENCE_H200)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert "block 'Encoding SDXL': this run made sdxl encode in float16" in err
    assert "made in float32" in err and str(REFERENCE_H200) in err
    assert page.read_bytes() == OVERVIEW.read_bytes()


def test_tiling_other_than_the_block_states_is_refused(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    block = "{title: T, model: sd-v1, op: encode, style: decode, tiling: {tile_sample_min_size: 512}}"
    spec.write_text(f"dtype: float16\nblocks:\n  - {block}\n")
    run = write_run(tmp_path, "r", "GPU A", [record(), record(tiled=True)])  # tiled with 512: fine
    page = tmp_path / "p.md"
    page.write_text("<details><summary>T</summary>\n\n| a |\n\n</details>\n")
    assert main(["docs", "update", str(page), "--spec", str(spec), str(run)]) == 0
    other = write_run(tmp_path, "q", "GPU B", [record(), record(tiled=True, tile=256)])
    code, _, err = run_cli(capsys, "docs", "update", page, "--spec", spec, other)
    assert code == 2 and "tiled sd-v1 encode with tile_sample_min_size 256" in err and "made with 512" in err


# -- rows for devices the spec does not list ---------------------------------------------


def sd_v1_spec(tmp_path):
    """The overview's spec with its SD v1 blocks only: those an H200 run of the docs
    sweep made before SDXL was float32 can fill."""
    raw = yaml.safe_load(HYBRID.read_text())
    raw["blocks"] = [b for b in raw["blocks"] if b["model"] == "sd-v1"]
    raw["sweep"] = str(DOCS_SWEEP)
    path = tmp_path / "sd-v1.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_an_unlisted_card_gets_its_rows_after_the_listed_ones(tmp_path, capsys):
    page = tmp_path / "overview.md"
    shutil.copyfile(OVERVIEW, page)
    spec = sd_v1_spec(tmp_path)
    code, out, err = run_cli(capsys, "docs", "update", page, "--spec", spec, REFERENCE_H200)
    assert code == 0, err
    assert "updated 'Encoding - Stable Diffusion v1.5', 'Decoding - Stable Diffusion v1.5'" in out
    assert err.count("NVIDIA H200 is not among the spec's devices; its rows go last") == 2
    before, after = page_tables(OVERVIEW), page_tables(page)
    for title in ("Encoding - Stable Diffusion v1.5", "Decoding - Stable Diffusion v1.5"):
        old, new = before[title].splitlines(), after[title].splitlines()
        # The published rows stay: in the decode style byte for byte; tabulate's encode
        # style pads every column to its widest figure, so there the cells stay.
        assert [split_row(x) for x in new[: len(old)]] == [split_row(x) for x in old]
        if "Decoding" in title:
            assert new[: len(old)] == old
        added = new[len(old) :]
        assert added and all(line.startswith("| NVIDIA H200") for line in added)
    assert after["Encoding SDXL"] == before["Encoding SDXL"]
    assert check_page(page) == []
    # the published figures and ours side by side now read back from the page
    devices = {p.device for p in read_page(page, load_spec(spec))}
    assert "NVIDIA H200" in devices and "NVIDIA GeForce RTX 4090" in devices


def test_a_card_the_spec_does_not_list_is_warned_about_too(tmp_path, capsys):
    """The format-2 H200 run: its 2048 untiled cases ran at the power cap, and its rows go
    on the page although the spec lists no H200, so the update says so."""
    page = tmp_path / "overview.md"
    shutil.copyfile(OVERVIEW, page)
    code, _, err = run_cli(
        capsys, "docs", "update", page, "--spec", sd_v1_spec(tmp_path), REFERENCE_H200_DOCS
    )
    assert code == 0, err
    throttled = [line for line in err.splitlines() if "throttled (power cap)" in line]
    assert throttled and all("NVIDIA H200 2048x2048 untiled" in line for line in throttled)


def test_two_runs_of_one_card_labelled_apart_get_rows_of_their_own(tmp_path, capsys):
    """The H200 run twice, as a fleet with --label-by-kind brings back two kinds of host
    with one card: unlabelled they collide; labelled, each label gets its rows."""
    page = tmp_path / "overview.md"
    shutil.copyfile(OVERVIEW, page)
    spec = sd_v1_spec(tmp_path)
    runs = []
    for kind in ("H200-box-a", "H200-box-b"):
        run = tmp_path / "runs" / kind
        shutil.copytree(REFERENCE_H200, run)
        runs.append(run)
    code, _, err = run_cli(capsys, "docs", "update", page, "--spec", spec, *runs)
    assert (
        code == 2
        and "devices collide" in err
        and "--device-label" in err
        and page.read_bytes() == OVERVIEW.read_bytes()
    )
    for run in runs:
        meta = json.loads((run / "meta.json").read_text())
        meta["device"]["label"] = run.name
        (run / "meta.json").write_text(json.dumps(meta))
    code, _, err = run_cli(capsys, "docs", "update", page, "--spec", spec, *runs)
    assert code == 0, err
    decode = page_tables(page)["Decoding - Stable Diffusion v1.5"].splitlines()
    published = page_tables(OVERVIEW)["Decoding - Stable Diffusion v1.5"].splitlines()
    added = [split_row(line)[0] for line in decode[len(published) :]]
    assert added and added == ["H200-box-a"] * (len(added) // 2) + ["H200-box-b"] * (len(added) // 2)
    assert check_page(page) == []
    # the page now has rows of each label: verify holds each run against its own rows
    v = verify(page, load_spec(spec), Measurements(runs))
    assert {c.device for c in v.checks} == {"H200-box-a", "H200-box-b"}
    assert "time (s)" in {c.figure for c in v.checks} and not v.failed


def test_only_listed_leaves_the_page_and_says_which_run_went_unused(tmp_path, capsys):
    page = tmp_path / "overview.md"
    shutil.copyfile(OVERVIEW, page)
    code, out, err = run_cli(
        capsys, "docs", "update", page, "--spec", sd_v1_spec(tmp_path), REFERENCE_H200, "--only-listed"
    )
    assert code == 0 and "up to date" in out
    assert f"{REFERENCE_H200}: not used: NVIDIA H200 is not among the spec's devices (--only-listed)" in err
    assert page.read_bytes() == OVERVIEW.read_bytes()


def test_a_run_that_fills_no_cell_is_bad_input(tmp_path, capsys):
    page = tmp_path / "overview.md"
    shutil.copyfile(OVERVIEW, page)
    other = write_run(tmp_path, "v", "GPU V", [record(model="taesd", op="decode")])
    code, _, err = run_cli(capsys, "docs", "update", page, "--spec", sd_v1_spec(tmp_path), other)
    assert code == 2 and "fills no cell of the spec's tables: it holds taesd decode float16" in err


def test_a_cpu_run_is_not_a_docs_row(tmp_path, capsys):
    page = tmp_path / "overview.md"
    shutil.copyfile(OVERVIEW, page)
    code, _, err = run_cli(capsys, "docs", "update", page, "--spec", HYBRID, REFERENCE)
    assert code == 2 and "the documentation tables are of GPUs" in err


# -- the card table -------------------------------------------------------------------------


def test_the_card_table_names_every_published_card():
    cards = load_cards()
    published = {
        p.device for page, spec in PAGES.items() for p in read_page(DOCS / page, load_spec(SPECS / spec))
    }
    assert len(published) == 7
    for name in published:
        card = page_card(cards, name)
        assert card.name.startswith(name) and not card.approximate
    # the pages' RTX 3080 is the 10 GB one; asked for by name, the size must be said
    assert page_card(cards, "NVIDIA GeForce RTX 3080").name == "NVIDIA GeForce RTX 3080 10GB"
    with pytest.raises(BadInput, match="'RTX 3080' is sold in several memory sizes: say .*10GB' or .*12GB'"):
        find_card(cards, "RTX 3080")
    assert find_card(cards, "GeForce RTX 3070").name == "NVIDIA GeForce RTX 3070"  # older drivers
    h200 = find_card(cards, open_run(REFERENCE_H200).device_name)
    assert h200.torch_mib == round(open_run(REFERENCE_H200).meta.device["total_memory"] / 2**20)
    assert find_card(cards, "RTX 4090").name == "NVIDIA GeForce RTX 4090"  # the brand may be left out
    assert find_card(cards, "T4").name == "Tesla T4"
    with pytest.raises(BadInput, match="close: NVIDIA GeForce RTX 4090"):
        find_card(cards, "RTX 4099")


# -- verify ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    root = tmp_path_factory.mktemp("imported")
    assert main(["docs", "import", str(OVERVIEW), "--out", str(root)]) == 0
    return sorted(root.iterdir())


def test_a_page_verified_against_its_own_figures_reproduces_in_every_cell(imported):
    v = verify(OVERVIEW, load_spec(HYBRID), Measurements(imported))
    assert v.checks and not v.failed
    assert {c.verdict for c in v.checks} == {REPRODUCES}
    assert {c.figure for c in v.checks} >= {"time (s)", "memory (%)", "status"}


def test_a_labelled_run_is_held_against_its_cards_rows(imported, tmp_path):
    """A 4090 in another setup (labelled) is still checked against the 4090's published
    cells, time included, not as another card in MiB alone."""
    run = tmp_path / "labelled"
    shutil.copytree(next(p for p in imported if "4090" in p.name), run)
    meta = json.loads((run / "meta.json").read_text())
    meta["device"]["label"] = "NVIDIA GeForce RTX 4090 (300 W)"
    (run / "meta.json").write_text(json.dumps(meta))
    v = verify(OVERVIEW, load_spec(HYBRID), Measurements([run]))
    assert v.checks and {c.verdict for c in v.checks} == {REPRODUCES}
    assert "time (s)" in {c.figure for c in v.checks} and "memory (MiB)" not in {c.figure for c in v.checks}


def test_the_h200_run_against_the_overview(capsys):
    v = verify(OVERVIEW, load_spec(HYBRID), Measurements([REFERENCE_H200]))
    decode = [c for c in v.checks if c.block == "Decoding - Stable Diffusion v1.5"]
    assert len(decode) == 4 and {c.figure for c in decode} == {"memory (MiB)"}  # another card: MiB only
    assert all(c.verdict == REPRODUCES and abs(c.diff) < 0.10 for c in decode)
    sdxl = [c for c in v.checks if "SDXL" in c.block]
    assert len(sdxl) == 12 and {c.verdict for c in sdxl} == {SETUP_DIFFERS}  # 8 encode, 4 decode cells
    assert all(c.why == "made in float16; published in float32" for c in sdxl)
    encode = [c for c in v.checks if c.block == "Encoding - Stable Diffusion v1.5"]
    assert any(c.verdict == OUTSIDE for c in encode)  # float16 encode sits 10-25% below
    assert v.failed
    code, out, _ = run_cli(
        capsys, "docs", "verify", REFERENCE_H200, "--page", OVERVIEW, "--spec", HYBRID, "--format", "md"
    )
    assert code == 1 and out.startswith("| block")
    assert "7 cell(s) reproduce, 5 outside the tolerance" in out and "12 made in another setup" in out


def test_a_cpu_run_is_not_verified_against_gpu_figures(capsys):
    code, out, err = run_cli(capsys, "docs", "verify", REFERENCE, "--page", OVERVIEW, "--spec", HYBRID)
    assert code == 2 and out == "" and "the published figures are of GPUs" in err


def test_a_run_of_another_metric_is_not_compared_in_mib(tmp_path):
    allocated = record(model="sd-v1", op="decode", percent=5.0)
    allocated.mem = replace(allocated.mem, metric="allocated", peak_allocated=2**30)
    run = write_run(tmp_path, "a", "GPU A", [allocated])
    (check,) = verify(OVERVIEW, load_spec(HYBRID), Measurements([run])).checks
    assert check.verdict == "not compared" and "allocated peak" in check.why


# -- the project's own commit --------------------------------------------------------------


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_commit_is_none_for_a_copy_inside_another_repository(tmp_path):
    outer = tmp_path / "outer"
    inner = outer / "vendor" / "vae-bench"
    inner.mkdir(parents=True)
    shutil.copytree(ROOT / "bench", inner / "bench")
    shutil.copyfile(ROOT / "pyproject.toml", inner / "pyproject.toml")
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q", str(outer)], check=True)
    subprocess.run([*git, "-C", str(outer), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(outer), "commit", "-qm", "x"], check=True)
    code = "from bench.measure.environment import _git_commit; import json; print(json.dumps(_git_commit()))"
    out = subprocess.run([sys.executable, "-c", code], cwd=inner, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) is None
    here = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout
    assert json.loads(here.stdout).startswith(head.strip())
