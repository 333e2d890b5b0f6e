"""`run --resume`: a run folder that cannot be resumed stops with one line and is left
as it was; a sweep file given with --resume must be the stored sweep (what says where,
`output` and `registry`, may differ); without one, the stored sweep is run on.

Everything here runs on CPU and never runs a sweep (dry runs, or input refused first).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.sweep.cases import expand
from bench.sweep.config import Sweep, from_dict, load_sweep, with_defaults
from tests.sweep_helpers import (
    CONFIGS,
    assert_one_error_line,
    base_sweep,
    reject,
    run_cli,
    tree,
    workspace,
)


@pytest.fixture
def ws(tmp_path, monkeypatch):
    return workspace(tmp_path, monkeypatch)


def make_stored_run(folder: Path, sweep: Sweep) -> Path:
    folder.mkdir(parents=True)
    from bench.models.build import Weights
    from bench.sweep.plan import model_entry

    models = {name: model_entry(spec, Weights("random")) for name, spec in sweep.specs().items()}
    meta = {"run_id": folder.name, "config": sweep.to_dict(), "device": {"device": "cpu"}, "models": models}
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    (folder / "cases.jsonl").write_text("")
    return folder


def test_resume_folder_without_meta_json(ws, capsys):
    run_dir = ws.root / "runs-by-hand" / "20250101-000000-cpu-t"
    run_dir.mkdir(parents=True)
    (run_dir / "cases.jsonl").write_text("")
    path = ws.sweep(base_sweep())
    line = reject(
        ws,
        capsys,
        path,
        "meta.json",
        "not a vae-bench run folder",
        extra=("--resume", str(run_dir)),
        names_file=False,
    )
    assert str(run_dir) in line


def test_resume_folder_without_meta_json_and_without_config(ws, capsys):
    run_dir = ws.root / "empty-run"
    run_dir.mkdir()
    before = tree(ws.root)
    rc, _, err = run_cli(capsys, "--resume", run_dir)
    line = assert_one_error_line(err)
    assert rc == 2
    assert str(run_dir / "meta.json") in line
    assert tree(ws.root) == before


def test_resume_folder_that_does_not_exist(ws, capsys):
    run_dir = ws.root / "no-such-run"
    rc, _, err = run_cli(capsys, "--resume", run_dir)
    line = assert_one_error_line(err)
    assert rc == 2
    assert str(run_dir) in line and "no such run folder" in line
    assert not run_dir.exists()


def test_resume_meta_without_config(ws, capsys):
    run_dir = ws.root / "run"
    run_dir.mkdir()
    (run_dir / "meta.json").write_text(json.dumps({"run_id": "run", "device": {"device": "cpu"}}))
    before = tree(ws.root)
    rc, _, err = run_cli(capsys, "--resume", run_dir)
    line = assert_one_error_line(err)
    assert rc == 2
    assert "config" in line and "cannot resume" in line
    assert tree(ws.root) == before


# (id, fields changed in the resumed sweep, the field the message must name)
RESUME_DIFFS = [
    ("repeats", {"repeats": 7}, "repeats"),
    ("warmup", {"warmup": 3}, "warmup"),
    ("resolutions", {"resolutions": [64, 128]}, "resolutions"),
    ("dtype", {"dtype": "float16"}, "dtype"),
    ("tiled", {"tiled": [False, True]}, "tiled"),
    ("tiling", {"tiling": {"sd-v1": {"tile_sample_min_size": 128}}}, "tiling"),
    ("models", {"models": ["sd-v1", "sdxl"]}, "models"),
    ("name", {"name": "other"}, "name"),
]


@pytest.mark.parametrize("fields,field", [c[1:] for c in RESUME_DIFFS], ids=[c[0] for c in RESUME_DIFFS])
def test_resume_with_a_different_config(ws, capsys, fields, field):
    stored = from_dict(base_sweep(tiled=[False]))
    run_dir = make_stored_run(ws.root / "stored" / "20250101-000000-cpu-t", stored)
    path = ws.sweep(base_sweep(**{"tiled": [False], **fields}), output=False)
    before = tree(ws.root)
    rc, _, err = run_cli(capsys, path, "--resume", run_dir)
    line = assert_one_error_line(err)
    assert rc == 2
    assert line.startswith(
        f"vae-bench: error: {path}: {field}: differs from the sweep stored in {run_dir}"
    ), line
    assert "resume without a config" in line
    assert tree(ws.root) == before, "the stored run was touched"


def test_resume_with_the_same_config_is_accepted(ws, capsys):
    """The control for the test above: the same sweep passes the check (dry run)."""
    path = ws.sweep(
        base_sweep(
            resolutions=[64, "128x64"], tiled=[False, True], tiling={"sd-v1": {"tile_sample_min_size": 64}}
        ),
        output=False,
    )
    run_dir = make_stored_run(ws.root / "stored" / "run", load_sweep(path))
    before = tree(ws.root)
    rc, out, err = run_cli(capsys, path, "--resume", run_dir, "--dry-run")
    assert rc == 0, err
    assert "4 cases on cpu" in out
    assert out.count("to run") == 4
    assert tree(ws.root) == before


def test_resume_without_config_uses_the_stored_sweep(ws, capsys):
    stored = from_dict(base_sweep(ops=["encode", "decode"], resolutions=[64, 128]))
    run_dir = make_stored_run(ws.root / "run", stored)
    case = expand(stored, stored.specs())[0]
    stored_case = {"case_id": case.case_id, **case.params(), "status": "ok", "time_s": {"median": 0.1}}
    (run_dir / "cases.jsonl").write_text(json.dumps(stored_case) + "\n")
    before = tree(ws.root)
    rc, out, err = run_cli(capsys, "--resume", run_dir, "--dry-run")
    assert rc == 0, err
    assert "4 cases on cpu" in out
    assert out.count("stored") == 1 and out.count("to run") == 3
    assert tree(ws.root) == before


def test_resume_output_and_registry_may_differ(ws, capsys):
    """`output` and `registry` say where, not what: they are not compared."""
    stored = from_dict(base_sweep(output="somewhere/else"))
    run_dir = make_stored_run(ws.root / "run", stored)
    path = ws.sweep(base_sweep(registry=str(CONFIGS / "models.yaml")))
    rc, out, err = run_cli(capsys, path, "--resume", run_dir, "--dry-run")
    assert rc == 0, err
    assert "1 cases on cpu" in out


def test_no_config_and_no_resume(ws, capsys):
    before = tree(ws.root)
    rc, _, err = run_cli(capsys)
    line = assert_one_error_line(err)
    assert rc == 2
    assert "config" in line and "--resume" in line
    assert tree(ws.root) == before


# Fields a sweep gained after runs were stored: a run stored before them lacks them.
ADDED_LATER = ("channels_last", "compile", "attention", "cudnn_benchmark", "slicing", "quality")


def test_a_stored_sweep_gets_the_fields_added_since_at_their_defaults_as_stored():
    sweep = from_dict(base_sweep())
    now = sweep.to_dict()
    older = {k: v for k, v in now.items() if k not in ADDED_LATER}
    assert with_defaults(older) == now
    assert with_defaults(now) == now
    assert with_defaults({**older, "slicing": [True]})["slicing"] == [True]


def test_a_run_stored_before_the_variant_axes_resumes_with_its_config(ws, capsys):
    path = ws.sweep(base_sweep(), output=False)
    run_dir = make_stored_run(ws.root / "run", load_sweep(path))
    meta = json.loads((run_dir / "meta.json").read_text())
    meta["config"] = {k: v for k, v in meta["config"].items() if k not in ADDED_LATER}
    (run_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    rc, out, err = run_cli(capsys, path, "--resume", run_dir, "--dry-run")
    assert rc == 0, err
    assert "1 cases on cpu" in out
