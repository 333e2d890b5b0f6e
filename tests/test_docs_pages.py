"""Documentation pages: the published tables round-trip byte for byte (import ->
render -> the same text), `docs update` rewrites only the tables, `docs check` finds
every breakage of the translated page and none in the English ones, and the broken
page is regenerated clean from the English data."""

from __future__ import annotations

import json
import shutil

import pytest

from bench import cli
from bench.docs.check import check_page
from bench.docs.pages import find_blocks, read_lines, tables_in
from bench.docs.published import card_total, import_page, read_page, spec_for_page
from bench.docs.spec import load_spec
from bench.docs.tables import Measurements, render_block
from bench.docs.update import plan_update, update_page
from bench.errors import BadInput
from bench.record.store import open_run
from bench.sweep.cases import expand
from bench.sweep.config import load_sweep
from tests.conftest import ROOT
from tests.doc_helpers import DOCS, PAGES, SPECS, page_tables, record, write_run

BLOCKS = [(page, block.title) for page, spec in PAGES.items() for block in load_spec(SPECS / spec).blocks]


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """Each English fixture page imported once: page -> its run folders."""
    root = tmp_path_factory.mktemp("imported")
    return {
        page: import_page(DOCS / page, load_spec(SPECS / spec), root / page) for page, spec in PAGES.items()
    }


def test_every_published_block_is_covered():
    assert len(BLOCKS) == 8  # four overview blocks, two per older page
    for page, title in BLOCKS:
        assert title in page_tables(DOCS / page)


@pytest.mark.parametrize("page, title", BLOCKS, ids=[f"{p}:{t}" for p, t in BLOCKS])
def test_round_trip_byte_for_byte(imported, page, title):
    spec = load_spec(SPECS / PAGES[page])
    block = next(b for b in spec.blocks if b.title == title)
    data = Measurements(imported[page])
    rendered = render_block(block, data, "en", block.dtype, spec.batch, strict=True)
    assert rendered == page_tables(DOCS / page)[title]


@pytest.mark.parametrize("page", PAGES)
def test_update_of_a_published_page_changes_no_byte(imported, tmp_path, page):
    copy = tmp_path / page
    shutil.copyfile(DOCS / page, copy)
    update = update_page(copy, load_spec(SPECS / PAGES[page]), Measurements(imported[page]))
    assert update.changed == ()
    assert copy.read_bytes() == (DOCS / page).read_bytes()


def test_imported_runs_follow_the_run_format(imported):
    runs = imported["overview.en.md"]
    names = [open_run(r).meta.device["name"] for r in runs]
    assert (
        len(names) == 7 and "NVIDIA GeForce RTX 4080 SUPER" in names and "NVIDIA GeForce RTX 4070 Ti" in names
    )
    sweep = load_sweep(ROOT / "bench" / "configs" / "docs.yaml")
    sweep_ids = {c.case_id for c in expand(sweep, sweep.specs())}
    by_device = {open_run(r).meta.device["name"]: open_run(r, strict=True).records for r in runs}
    rtx3080 = by_device["NVIDIA GeForce RTX 3080"]
    assert all(r.case_id in sweep_ids for recs in by_device.values() for r in recs)
    # 4 encode sizes x 2 models + 2 decode sizes x 2 models, untiled and tiled
    assert len(rtx3080) == (4 * 2 + 2 * 2) * 2
    oom = [r for r in rtx3080 if r.status == "oom"]
    assert [(r.case.model, r.case.op, r.case.width, r.case.tiled) for r in oom] == [
        ("sdxl", "encode", 2048, False)
    ]
    assert oom[0].time is None and oom[0].mem.percent is None
    ok = next(r for r in rtx3080 if r.case.model == "sd-v1" and r.case.op == "encode" and r.case.width == 512)
    assert ok.time.median == 0.036 and ok.mem.percent == 8.51761
    assert ok.mem.total == card_total("NVIDIA GeForce RTX 3080") == 10240 * 2**20  # as nvidia-smi says
    assert ok.mem.peak_reserved == round(8.51761 / 100 * 10 * 2**30)
    assert ok.approximate is True and "approximate" in open_run(runs[0]).meta.approximate
    tiled = next(r for r in rtx3080 if r.case.model == "sd-v1" and r.case.tiled)
    assert tiled.case.tiling_dict["tile_sample_min_size"] == 512  # the docs sweep's tile


def test_import_refuses_to_overwrite_and_writes_nothing_on_bad_input(tmp_path, capsys):
    spec = load_spec(SPECS / "vae-encode.yaml")
    import_page(DOCS / "vae_encode.en.md", spec, tmp_path / "a")
    with pytest.raises(BadInput, match="exists"):
        import_page(DOCS / "vae_encode.en.md", spec, tmp_path / "a")
    # the broken translation has a split row: one clear line, no run folder
    code, out, err = run_cli(capsys, "docs", "import", DOCS / "vae_encode.zh.md", "--out", tmp_path / "zh")
    assert code == 2 and "row has 3 cells" in err
    assert not (tmp_path / "zh").exists()


@pytest.mark.parametrize("page, spec", [*PAGES.items()])
def test_import_finds_the_shipped_spec_of_a_page(page, spec):
    assert spec_for_page(DOCS / page).name == spec.removesuffix(".yaml")


def test_import_without_a_matching_spec_asks_for_one(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("# nothing here\n")
    with pytest.raises(BadInput, match="--spec"):
        spec_for_page(page)


def test_import_command(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "docs", "import", DOCS / "overview.en.md", "--out", tmp_path)
    assert code == 0 and len(out.splitlines()) == 7
    assert all(open_run(line).meta.name == "hybrid-inference" for line in out.splitlines())


# -- docs check ----------------------------------------------------------------------


@pytest.mark.parametrize("lang", [None, "en"])
@pytest.mark.parametrize("page", PAGES)
def test_check_finds_nothing_in_the_english_pages(page, lang):
    assert check_page(DOCS / page, lang) == []


def line_of(path, text, nth=0) -> int:
    numbers = [i for i, line in enumerate(read_lines(path), 1) if line.rstrip("\r\n") == text]
    return numbers[nth]


ZH = DOCS / "vae_encode.zh.md"


def zh_breakages() -> list[tuple[int, str]]:
    split = line_of(ZH, "| NVIDIA GeForce RTX 3070       | 256x256      |            0.015 |")
    cut = line_of(ZH, "| NVIDIA GeForce R")
    english = next(
        i for i, line in enumerate(read_lines(ZH), 1) if line.startswith("| GPU   ") and "Resolution" in line
    )
    oom_zh = next(i for i, line in enumerate(read_lines(ZH), 1) if "内存不足 (OOM) |" in line)
    oom_en = next(i for i, line in enumerate(read_lines(ZH), 1) if "|          OOM     |" in line)
    mixed = f"'内存不足 (OOM)' (line {oom_zh}), 'OOM' (line {oom_en})"
    return [
        (split, "row split over lines"),
        (english, "headers not in the zh label set: 'Resolution', 'Time (seconds)', 'Memory Consumed (%)'"),
        (oom_zh, "more than one OOM word in a table: " + mixed),
        (cut, "row cut off: 1 of 6 cells"),
        (oom_en, "OOM word 'OOM' is not the zh one"),
    ]


def test_check_finds_every_breakage_of_the_translated_page():
    problems = check_page(ZH, "zh")
    expected = zh_breakages()
    assert len(problems) == len(expected)
    for problem, (line, what) in zip(problems, expected, strict=True):
        assert problem.line == line and what in problem.what


def test_check_without_a_language_reports_only_language_free_breakages():
    lines = [p.line for p in check_page(ZH)]
    expected = zh_breakages()
    assert lines == [expected[0][0], expected[2][0], expected[3][0]]


def test_check_command_reports_file_and_line(capsys):
    code, out, _ = run_cli(capsys, "docs", "check", "--lang", "zh", ZH)
    assert code == 1
    first = zh_breakages()[0][0]
    assert out.splitlines()[0].startswith(f"{ZH}:{first}: row split over lines {first}-{first + 1}")
    code, out, _ = run_cli(capsys, "docs", "check", *(DOCS / p for p in PAGES))
    assert code == 0 and "tables ok" in out


@pytest.mark.parametrize(
    "row, what",
    [
        ("| GPU A | 512x512 | 0.148 | 5.60% | 0.301 (+50%) | 5.60% |", "tiled change +50% does not agree"),
        ("| GPU A | 512x512 | fast | 5.60% | 0.301 (+103%) | 5.60% |", "'fast' is not a number"),
        ("| GPU A | 512x512 | OOM | OOM | 0.301 (+103%) | 5.60% |", "without an untiled time"),
        ("| GPU A | 512x512 | 0.148 | 5.60% | 0.301 (+103%) | 5.60% | 1 |", "row has 7 cells"),
    ],
)
def test_check_flags_wrong_figures(tmp_path, row, what):
    page = tmp_path / "p.md"
    header = "| GPU | Resolution | Time (seconds) | Memory (%) | Tiled Time (secs) | Tiled Memory (%) |"
    page.write_text(f"{header}\n| --- | --- | --- | --- | --- | --- |\n{row}\n")
    [problem] = check_page(page)
    assert problem.line == 3 and what in problem.what


def test_check_skips_tables_in_code(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("```\n| a | b |\n| oops\n```\n")
    assert check_page(page) == []


# -- docs update ---------------------------------------------------------------------


def outside_tables(path) -> list[list[str]]:
    """The page's lines between its block tables."""
    lines = read_lines(path)
    spans = [(t.start, t.end) for b in find_blocks(lines) for t in tables_in(lines, b)]
    cuts = [0] + [x for s in spans for x in s] + [len(lines)]
    return [lines[a:b] for a, b in zip(cuts[::2], cuts[1::2], strict=True)]


def test_update_regenerates_the_broken_translation(imported, tmp_path, capsys):
    page = tmp_path / "vae_encode.zh.md"
    shutil.copyfile(ZH, page)
    runs = imported["vae_encode.en.md"]
    spec = SPECS / "vae-encode.yaml"

    code, out, _ = run_cli(capsys, "docs", "update", page, "--spec", spec, *runs, "--lang", "zh", "--check")
    assert code == 1 and "would change: 'SD v1.5', 'SDXL'" in out
    assert page.read_bytes() == ZH.read_bytes()

    code, out, _ = run_cli(capsys, "docs", "update", page, "--spec", spec, *runs, "--lang", "zh")
    assert code == 0 and "updated" in out
    assert check_page(page, "zh") == []
    assert outside_tables(page) == outside_tables(ZH)
    tables = page_tables(page)
    assert tables["SD v1.5"].startswith("| GPU                           | 分辨率       |   时间（秒） |")
    assert "OOM" not in tables["SD v1.5"] and tables["SDXL"].count("内存不足 (OOM)") == 4

    # the figures are the English ones
    def figures(path):
        cells = read_page(path, load_spec(spec))
        return sorted((p.device, p.case.case_id, p.status, p.time, p.percent) for p in cells)

    assert figures(page) == figures(DOCS / "vae_encode.en.md")

    code, out, _ = run_cli(capsys, "docs", "update", page, "--spec", spec, *runs, "--lang", "zh", "--check")
    assert code == 0 and "up to date" in out


def test_update_keeps_crlf_line_endings(imported, tmp_path):
    page = tmp_path / "crlf.md"
    page.write_bytes((DOCS / "vae_decode.en.md").read_bytes().replace(b"\n", b"\r\n"))
    before = page.read_bytes()
    spec = load_spec(SPECS / "vae-decode.yaml")
    data = Measurements(imported["vae_decode.en.md"])
    assert plan_update(page, spec, data).changed == ()
    # a stale figure is replaced, in CRLF
    page.write_bytes(before.replace(b"| 0.148 | 20.00% |", b"| 0.150 | 20.00% |"))
    update = update_page(page, spec, data)
    assert update.changed == ("SD v1.5",)
    assert page.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["crlf.md"]  # no temporary file left


def test_update_of_a_page_without_final_newline(imported, tmp_path):
    page = tmp_path / "p.md"
    table = page_tables(DOCS / "vae_decode.en.md")["SDXL"]
    first = "<details><summary>SD v1.5</summary>\n\n| old |\n|---|\n</details>\n"
    stale = table.replace("0.794 (0%)", "0.800 (+1%)")
    page.write_text(first + "<details><summary>SDXL</summary>\n" + stale + "\n</details>")
    update_page(page, load_spec(SPECS / "vae-decode.yaml"), Measurements(imported["vae_decode.en.md"]))
    text = page.read_text()
    assert text.endswith(table + "\n</details>") and "| old |" not in text


def spec_of(title="SD v1.5", model="sd-v1", style="encode", more=""):
    return (
        f"dtype: float16\nblocks:\n  - {{title: {title}, model: {model}, op: encode, style: {style}{more}}}\n"
    )


BAD_INPUT = {
    "no-block": (spec_of(title="Nowhere"), "ok", "no <details><summary> block titled 'Nowhere'"),
    "unknown-model": (spec_of(model="sd-v9"), "ok", "unknown model 'sd-v9'"),
    "unknown-style": (spec_of(style="fancy"), "ok", "unknown style 'fancy'"),
    "no-meta": (spec_of(), "no-meta", "meta.json"),
    "corrupt-line": (spec_of(), "corrupt", "corrupt case record"),
    "collide": (spec_of(), "collide", "devices collide"),
    "twice": (spec_of(title="Code"), "ok", "appears more than once"),
    "no-device": (spec_of(more=", devices: [GPU Z]"), "ok", "GPU Z"),
}


@pytest.mark.parametrize("spec_text, runs, message", BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_is_one_line_exit_2_and_the_page_untouched(tmp_path, capsys, spec_text, runs, message):
    page = tmp_path / "page.md"
    shutil.copyfile(DOCS / "vae_decode.en.md", page)
    before = page.read_bytes()
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text)
    recs = [record(), record(tiled=True)]
    run_dirs = [write_run(tmp_path, "a", "GPU A", recs)]
    if runs == "no-meta":
        (run_dirs[0] / "meta.json").unlink()
    elif runs == "corrupt":
        with open(run_dirs[0] / "cases.jsonl", "a") as f:
            f.write("{not json\n")
    elif runs == "collide":
        run_dirs.append(write_run(tmp_path, "b", "GPU A", recs))
    code, out, err = run_cli(capsys, "docs", "update", page, "--spec", spec, *run_dirs)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err
    assert page.read_bytes() == before


def test_every_missing_block_is_named(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# no blocks\n")
    spec = load_spec(SPECS / "hybrid-inference.yaml")
    with pytest.raises(BadInput) as exc:
        plan_update(page, spec, None)
    assert all(repr(b.title) in str(exc.value) for b in spec.blocks)


@pytest.mark.parametrize(
    "extra, message",
    [
        ("lang: fr\n", "lang: must be one of en, zh"),
        ("colour: red\n", "colour: unknown key"),
        ("blocks: []\n", "blocks: missing"),
    ],
)
def test_bad_specs(tmp_path, extra, message):
    spec = tmp_path / "s.yaml"
    body = "blocks:\n  - {title: T, model: sd-v1, op: encode, style: encode}\n"
    spec.write_text(extra if extra.startswith("blocks") else extra + body)
    with pytest.raises(BadInput, match=message):
        load_spec(spec)


def test_shipped_specs_load_and_name_the_docs_sweep():
    for name in ("hybrid-inference.yaml", "vae-encode.yaml", "vae-decode.yaml"):
        spec = load_spec(SPECS / name)
        assert spec.sweep == (ROOT / "bench" / "configs" / "docs.yaml").resolve()
        assert spec.dtype == "float16" and spec.lang == "en"


def test_run_records_json_is_what_the_store_reads(imported):
    for run in imported["vae_decode.en.md"]:
        for line in (run / "cases.jsonl").read_text().splitlines():
            assert set(json.loads(line)) >= {"case_id", "model", "op", "status", "time_s", "mem", "tiled"}


def test_update_diff_prints_the_change_and_writes_nothing(tmp_path, capsys):
    from tests.conftest import REFERENCE_H200_DOCS

    page = tmp_path / "overview.en.md"
    shutil.copyfile(DOCS / "overview.en.md", page)
    before = page.read_bytes()
    argv = ["docs", "update", str(page), "--spec", "hybrid-inference", str(REFERENCE_H200_DOCS)]
    assert cli.main([*argv, "--diff"]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"--- {page}\n+++ {page} (updated)\n@@ ")
    assert page.read_bytes() == before and not list(tmp_path.glob(".*.lock"))
    added = [line[1:] for line in out.splitlines() if line.startswith("+| NVIDIA H200")]
    assert added  # the H200's rows, as the update would write them
    assert cli.main(argv) == 0
    capsys.readouterr()
    assert all(line in page.read_text() for line in added)
    assert cli.main([*argv, "--diff"]) == 0 and capsys.readouterr().out == f"{page}: up to date\n"
