"""The CLI's edges: argparse mistakes, outputs that cannot be written, runs that
must not be resumed here, and naming the right GPU under CUDA_VISIBLE_DEVICES."""

from __future__ import annotations

import json

import pytest

from bench.cli import main
from bench.measure import environment
from bench.sweep.config import load_sweep
from tests.cli_helpers import one_error_line


def test_an_argparse_mistake_is_one_line_and_exit_2(capsys):
    assert main(["tables", "--lang", "xx", "somewhere"]) == 2
    assert "--lang" in one_error_line(capsys)


def test_history_last_must_be_positive(capsys, tmp_path):
    assert main(["history", str(tmp_path), "--last", "0"]) == 2
    assert "positive integer" in one_error_line(capsys)


@pytest.mark.slow
def test_an_out_that_is_a_file_is_bad_input(write_sweep, tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("keep me")
    assert main(["run", str(write_sweep()), "--out", str(blocker)]) == 2
    line = one_error_line(capsys)
    assert "afile: is a file; runs go into a folder" in line
    assert blocker.read_text() == "keep me"


def _stored_run(tmp_path, sweep_path, **meta) -> tuple:
    run = tmp_path / "stored"
    run.mkdir()
    body = {"run_id": "stored", "config": load_sweep(sweep_path).to_dict(), **meta}
    (run / "meta.json").write_text(json.dumps(body))
    (run / "cases.jsonl").write_text("")
    return run, {p.name: p.read_bytes() for p in run.iterdir()}


@pytest.mark.parametrize(
    ("meta", "needle"),
    [
        ({"imported": {"from": "page.md"}, "device": {"device": "cpu"}}, "imported"),
        ({"device": {"device": "cpu", "name": "Some Other Processor"}}, "Some Other Processor"),
        ({"device": {"device": "cuda:0", "name": "NVIDIA GeForce RTX 4090"}}, "cuda:0"),
    ],
)
def test_runs_made_elsewhere_are_not_resumed_here(write_sweep, tmp_path, capsys, meta, needle):
    sweep = write_sweep()
    run, before = _stored_run(tmp_path, sweep, **meta)
    for args in (["run", "--resume", str(run)], ["run", "--resume", str(run), "--dry-run"]):
        assert main(args) == 2
        assert needle in one_error_line(capsys)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


@pytest.mark.parametrize(
    ("visible", "index", "expected"),
    [
        (None, 1, ("index", 1)),
        ("3,1", 0, ("index", 3)),
        ("3,1", 1, ("index", 1)),
        ("GPU-abc,2", 0, ("uuid", "GPU-abc")),
        ("0", 1, None),
        ("MIG-xyz", 0, None),
    ],
)
def test_the_parent_names_the_gpu_torch_will_use(monkeypatch, visible, index, expected):
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)

    class Names:
        def handle(self, uuid=None, index=None):
            return ("uuid", uuid) if uuid is not None else ("index", index)

    assert environment._visible_handle(Names(), index) == expected


def test_every_help_prints(capsys):
    """`vae-bench --help` and each command's: argparse %-formats help text, so a bare %
    in one of them breaks them all."""
    from bench.commands import NAMES

    for argv in (["--help"], *([name, "--help"] for name in NAMES)):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
        out = capsys.readouterr().out
        assert code == 0 and "usage: vae-bench" in out, argv
        if argv == ["--help"]:
            assert "(%)" in out and all(name in out for name in NAMES)


def test_ctrl_c_inside_an_import_is_an_interruption_not_a_traceback(monkeypatch, capsys):
    """Python wraps an exception raised in __set_name__ (diffusers' classes, as they
    load) in a RuntimeError; Ctrl-C there is still Ctrl-C."""
    from bench.commands import models

    def interrupted_import(args):
        class Owner:
            class Named:
                def __set_name__(self, owner, name):
                    raise KeyboardInterrupt

            attr = Named()

    monkeypatch.setattr(models, "run", interrupted_import)
    assert main(["models"]) == 130
    assert capsys.readouterr().err.strip() == "vae-bench: interrupted"

    def broken(args):
        raise RuntimeError("a bug, not Ctrl-C")

    monkeypatch.setattr(models, "run", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["models"])

    def bug_while_stopping(args):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            {}["missing"]  # a bug in the cleanup: its own traceback, not "interrupted"

    monkeypatch.setattr(models, "run", bug_while_stopping)
    with pytest.raises(KeyError):
        main(["models"])
