"""Stored runs -> tables: several runs merge by device, untiled and tiled pair up, a
CPU run renders in both styles and both languages, and a finished sweep writes its
tables.md."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from bench import cli
from bench.analysis.summary import summary_table
from bench.docs.check import check_lines
from bench.docs.spec import BlockSpec
from bench.docs.tables import TABLES_MD, Measurements, block_rows, render_block, tables_markdown
from bench.errors import BadInput
from bench.record.store import open_run
from bench.sweep.launch import Ending, finished
from tests.conftest import REFERENCE, ROOT
from tests.doc_helpers import record, write_run


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def two_gpus(tmp_path):
    a = write_run(
        tmp_path,
        "a",
        "GPU A",
        [
            record(width=1024, height=1024, median=0.4, percent=40.0),
            record(width=1024, height=1024, tiled=True, median=0.5, percent=10.0),
            record(median=0.1, percent=10.0),
            record(tiled=True, median=0.1, percent=10.0),
        ],
    )
    b = write_run(
        tmp_path,
        "b",
        "GPU B",
        [
            record(median=0.2, percent=20.0),
            record(tiled=True, median=0.2, percent=20.0),
            record(width=1024, height=1024, status="oom"),
            record(width=1024, height=1024, tiled=True, median=0.9, percent=30.0),
        ],
    )
    return a, b


def test_runs_merge_into_rows_of_device_by_resolution(tmp_path):
    a, b = two_gpus(tmp_path)
    block = BlockSpec("t", "sd-v1", "encode", "decode")
    rows, tiled = block_rows(block, Measurements([a, b]), None, 1, strict=False)
    assert tiled
    assert [(r.device, r.resolution) for r in rows] == [
        ("GPU A", "512x512"),
        ("GPU A", "1024x1024"),
        ("GPU B", "512x512"),
        ("GPU B", "1024x1024"),
    ]
    assert (rows[1].untiled.time, rows[1].tiled.time) == (0.4, 0.5)
    assert rows[3].untiled.status == "oom" and rows[3].tiled.percent == 30.0
    text = render_block(block, Measurements([b, a]), "en")
    assert text.split("\n")[2:] == [
        "| GPU B | 512x512 | 0.2 | 20.00% | 0.200 (0%) | 20.00% |",
        "| GPU B | 1024x1024 | OOM | OOM | 0.900 | 30.00% |",
        "| GPU A | 512x512 | 0.1 | 10.00% | 0.100 (0%) | 10.00% |",
        "| GPU A | 1024x1024 | 0.4 | 40.00% | 0.500 (+25%) | 10.00% |",
    ]


def test_a_spec_orders_rows_by_resolution_first(tmp_path):
    a, b = two_gpus(tmp_path)
    block = BlockSpec(
        "t",
        "sd-v1",
        "encode",
        "encode",
        devices=("GPU B", "GPU A"),
        resolutions=("1024x1024", "512x512"),
        rows="resolution",
    )
    rows, _ = block_rows(block, Measurements([a, b]), "float16", 1, strict=True)
    assert [(r.device, r.resolution) for r in rows] == [
        ("GPU B", "1024x1024"),
        ("GPU A", "1024x1024"),
        ("GPU B", "512x512"),
        ("GPU A", "512x512"),
    ]


def test_strict_tables_need_every_named_device_and_case(tmp_path):
    a, b = two_gpus(tmp_path)
    data = Measurements([a, b])
    with pytest.raises(BadInput, match="GPU C"):
        block_rows(
            BlockSpec("t", "sd-v1", "encode", "encode", devices=("GPU A", "GPU C")), data, None, 1, True
        )
    with pytest.raises(BadInput, match="GPU A 2048x2048 untiled: no record"):
        block_rows(
            BlockSpec("t", "sd-v1", "encode", "encode", resolutions=("2048x2048",)), data, None, 1, True
        )
    # not strict: what is missing is shown as not measured, and unknown devices are skipped
    rows, _ = block_rows(
        BlockSpec("t", "sd-v1", "encode", "encode", devices=("GPU C",)), data, None, 1, False
    )
    assert [r.device for r in rows] == ["GPU A", "GPU A", "GPU B", "GPU B"]


def test_video_cases_are_labelled_width_height_frames(tmp_path):
    run = write_run(
        tmp_path,
        "v",
        "GPU A",
        [record(op="decode", width=512, height=320, frames=61, median=1.5, percent=50.0)],
    )
    text = tables_markdown([run])
    assert "| GPU A | 512x320x61 | 1.5 | 50.00% |" in text
    assert "<details><summary>Decoding - sd-v1, float16</summary>" in text


def test_several_dtypes_need_the_spec_to_name_one(tmp_path):
    run = write_run(tmp_path, "d", "GPU A", [record(dtype="float16"), record(dtype="float32")])
    with pytest.raises(BadInput, match="several dtypes"):
        block_rows(BlockSpec("t", "sd-v1", "encode", "encode"), Measurements([run]), None, 1, False)
    # without a spec, each dtype is its own table
    text = tables_markdown([run])
    assert "Encoding - sd-v1, float16" in text and "Encoding - sd-v1, float32" in text


@pytest.mark.parametrize("style", ["encode", "decode"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_cpu_run_renders_in_both_styles_and_languages(capsys, style, lang):
    code, out, _ = run_cli(capsys, "tables", REFERENCE, "--style", style, "--lang", lang)
    assert code == 0
    device = open_run(REFERENCE).meta.device["name"]
    records = open_run(REFERENCE).records
    assert check_lines(out.splitlines(keepends=True), lang) == []
    rows = [line for line in out.splitlines() if line.startswith(f"| {device}")]
    assert len(rows) == len(records) // 2  # untiled and tiled side by side
    first = next(r for r in records if r.case.op == "encode" and not r.case.tiled and r.case.width == 128)
    time = round(first.time.median, 3)
    expected = f"{time:g}" if style == "encode" else str(time)
    assert expected in rows[0]
    assert ("分辨率" in out) == (lang == "zh")
    assert out.count("<details><summary>") == 2  # encode and decode
    assert ("| --- |" in out) == (style == "decode")


def test_tables_with_a_spec(capsys, tmp_path):
    a, b = two_gpus(tmp_path)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "lang: zh\nblocks:\n  - {title: Mine, model: sd-v1, op: encode, style: decode, devices: [GPU B]}\n"
    )
    code, out, _ = run_cli(capsys, "tables", a, b, "--spec", spec)
    assert code == 0
    assert out.startswith("<details><summary>Mine</summary>\n\n| GPU | 分辨率 |")
    assert out.index("GPU B") < out.index("GPU A")


def test_a_finished_sweep_writes_its_tables(tmp_path, capsys):
    run = tmp_path / REFERENCE.name
    shutil.copytree(REFERENCE, run)
    (run / TABLES_MD).unlink(missing_ok=True)
    assert finished(open_run(run)) == Ending.OK
    out = capsys.readouterr().out
    assert f"tables written to {run / TABLES_MD}" in out
    text = (run / TABLES_MD).read_text()
    assert text.startswith(tables_markdown([run]) + "\n## Every case\n")
    assert summary_table(open_run(run).records, "pipe") in text
    assert "Intel(R) Xeon(R) Processor" in text


def test_a_run_without_cases_still_reports(tmp_path, capsys):
    run = write_run(tmp_path, "empty", "GPU A", [])
    assert finished(open_run(run)) == Ending.OK
    assert (run / TABLES_MD).read_text() == "(no cases stored)\n"
    assert "(no cases stored)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "make_runs, message",
    [
        (lambda t: [t / "nothing"], "no such run folder"),
        (lambda t: [write_run(t, "x", "GPU A", []).joinpath("meta.json").unlink() or t / "x"], "meta.json"),
        (lambda t: [write_run(t, "x", None, [record()])], "device.name"),
        (
            lambda t: [write_run(t, "x", "GPU A", [record()]), write_run(t, "y", "GPU A", [record()])],
            "collide",
        ),
    ],
    ids=["no-folder", "no-meta", "no-device-name", "devices-collide"],
)
def test_bad_runs_are_one_line_and_exit_2(tmp_path, capsys, make_runs, message):
    runs = make_runs(tmp_path)
    code, out, err = run_cli(capsys, "tables", *runs)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err


def test_a_corrupt_case_line_is_bad_input(tmp_path, capsys):
    run = write_run(tmp_path, "x", "GPU A", [record()])
    with open(run / "cases.jsonl", "a") as f:
        f.write('{"case_id": "abc", "model": \n')
    code, _, err = run_cli(capsys, "tables", run)
    assert code == 2 and "cases.jsonl: line 2: corrupt case record" in err


def test_one_device_may_come_in_several_runs_of_different_cases(tmp_path):
    a = write_run(tmp_path, "a", "GPU A", [record(model="sd-v1")])
    b = write_run(tmp_path, "b", "GPU A", [record(model="sdxl")])
    text = tables_markdown([a, b])
    assert "Encoding - sd-v1, float16" in text and "Encoding - sdxl, float16" in text


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_targets_call_the_commands():
    def dry(*args):
        return subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True).stdout

    assert "-m bench tables results/runs/x" in dry("tables", "RUN=results/runs/x")
    out = dry("docs", "DOCS=page.md", "SPEC=s.yaml", "RUNS=r1 r2")
    assert "-m bench docs update page.md --spec s.yaml r1 r2" in out


def test_a_published_table_needs_memory_figures(tmp_path):
    run = write_run(tmp_path, "a", "GPU A", [record(), record(tiled=True, percent=None)])
    rec = open_run(run).records[1]
    assert rec.mem.percent is None
    with pytest.raises(BadInput, match="512x512 tiled: no time or memory figure"):
        block_rows(BlockSpec("t", "sd-v1", "encode", "encode"), Measurements([run]), None, 1, strict=True)


def test_labelled_runs_of_one_device_get_a_row_each(write_sweep, tmp_path, capsys):
    """Two runs on this one CPU collide in a table unless each names its device: then a
    row each, history keeps them apart, and a resume keeps the label."""
    sweep = write_sweep(resolutions=[32, 40])
    out = tmp_path / "runs"
    assert run_cli(capsys, "run", sweep, "--device-label", "CPU (box A)")[0] == 0
    assert run_cli(capsys, "run", sweep, "--device-label", "CPU (box B)")[0] == 0
    a, b = sorted(p for p in out.iterdir() if p.is_dir())
    meta = open_run(a).meta
    assert "cpu-box-a" in a.name and meta.device["label"] == "CPU (box A)"
    assert meta.device_name not in ("CPU (box A)", None)  # the processor, as the driver names it
    code, tables, _ = run_cli(capsys, "tables", a, b)
    assert code == 0
    rows = [line.split("|")[1].strip() for line in tables.splitlines() if line.startswith("| CPU (box")]
    assert rows == ["CPU (box A)"] * 2 + ["CPU (box B)"] * 2
    code, text, _ = run_cli(capsys, "history", out, "--device", "box b")
    assert code == 0 and "CPU (box B): 1 run(s)" in text and "CPU (box A)" in text  # listed as left out

    # a resume of a run with a case taken out: the label stays, the folder stays one
    lines = (a / "cases.jsonl").read_text().splitlines(keepends=True)
    (a / "cases.jsonl").write_text(lines[0])
    code, _, err = run_cli(capsys, "run", "--resume", a, "--device-label", "other")
    assert code == 2 and "keeps the device label" in err
    code, _, err = run_cli(capsys, "run", "--resume", a, "--out", tmp_path / "elsewhere")
    assert code == 2 and "--out: a resumed run keeps its folder" in err
    code, _, err = run_cli(capsys, "run", "--resume", a, "--devices", "all")
    assert code == 2 and "--devices: a resumed run keeps the GPUs it was made on" in err
    assert run_cli(capsys, "run", "--resume", a)[0] == 0
    resumed = open_run(a)
    assert resumed.device_label == "CPU (box A)" and len(resumed.records) == 2
    assert sorted(p.name for p in out.iterdir()) == sorted([a.name, b.name])


def test_an_unlabelled_and_a_bad_label_on_the_command_line(write_sweep, capsys):
    sweep = write_sweep()
    code, _, err = run_cli(capsys, "run", sweep, "--device-label", "a|b", "--dry-run")
    assert code == 2 and err.strip().count("\n") == 0 and "--device-label" in err and "table cell" in err
    code, _, err = run_cli(capsys, "run", sweep, "--devices", "all", "--device-label", "x")
    assert code == 2 and "--device-label" in err and "several GPUs" in err


def test_an_interrupted_run_is_said_to_be_one(capsys):
    """The H200 variants run stopped at 87 of 144 cases: its readers say so."""
    from tests.conftest import REFERENCE_H200_VARIANTS

    for command in ("show", "tables"):
        code, out, err = run_cli(capsys, command, REFERENCE_H200_VARIANTS)
        assert code == 0 and out
        assert "interrupted, 87 of 144 cases stored; resume with: vae-bench run --resume" in err
    code, _, err = run_cli(capsys, "tables", REFERENCE)
    assert code == 0 and "interrupted" not in err


def test_a_killed_run_and_a_run_being_written_are_told_apart(tmp_path, capsys):
    """Both say `running` in meta.json; the lock tells whether a sweep still writes it."""
    import json

    from bench.record.store import RunLock

    run = tmp_path / "run"
    shutil.copytree(REFERENCE, run)
    meta = json.loads((run / "meta.json").read_text())
    (run / "meta.json").write_text(json.dumps({**meta, "status": "running"}))
    (run / ".lock").touch()
    code, _, err = run_cli(capsys, "show", run)
    assert code == 0 and "stopped without a word" in err and f"vae-bench run --resume {run}" in err
    lock = RunLock(run)
    try:
        code, _, err = run_cli(capsys, "show", run)
        assert code == 0 and "still running (a sweep is writing it)" in err and "resume" not in err
    finally:
        lock.release()
