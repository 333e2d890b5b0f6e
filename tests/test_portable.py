"""The read side works where fcntl does not exist (Windows): show, tables, compare,
history, plot, report, fit, advise, project and docs run on the reference runs in an
interpreter where importing fcntl fails; `run` says in one line that it measures on
Linux only."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.cli import main
from tests.conftest import FIXTURES, REFERENCE_H200, REFERENCE_H200_DOCS, ROOT

SCRIPT = """
import contextlib, io, json, sys
sys.modules["fcntl"] = None  # as on Windows: `import fcntl` fails
from bench.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    results.append([argv[:2], code, err.getvalue()])
print(json.dumps({"results": results, "fcntl": "fcntl" in sys.modules and sys.modules["fcntl"] is not None}))
"""


@pytest.mark.slow  # twelve commands in a fresh interpreter
def test_every_reader_works_without_fcntl(tmp_path):
    import shutil

    runs = tmp_path / "runs"
    for run in (REFERENCE_H200, REFERENCE_H200_DOCS):
        shutil.copytree(run, runs / run.name)
    page = tmp_path / "page.md"
    shutil.copyfile(FIXTURES / "docs" / "overview.en.md", page)
    at = ["--runs", str(runs)]
    commands = [
        ["show", "latest", *at],
        ["tables", "latest", *at],
        ["compare", "previous", "latest", *at],
        ["history", str(runs)],
        ["plot", "latest", *at, "--out", str(tmp_path / "plots")],
        ["report", str(runs), "--out", str(tmp_path / "site"), "--jobs", "1"],  # in this interpreter
        ["fit", "latest", *at, "--card", "RTX 3070", "--model", "sdxl", "--op", "decode", "--size", "1024"],
        ["advise", "--card", "RTX 3070"],
        ["project", "latest", *at, "--cards", "RTX 3070"],
        ["docs", "update", str(page), "--spec", "hybrid-inference", "latest", *at],
        ["docs", "check", str(page)],
        [
            "docs",
            "verify",
            "latest",
            *at,
            "--page",
            str(FIXTURES / "docs" / "overview.en.md"),
            "--spec",
            "hybrid-inference",
        ],
    ]
    got = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(commands)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert got.returncode == 0, got.stderr
    answer = json.loads(got.stdout.splitlines()[-1])
    assert answer["fcntl"] is False
    for argv, code, err in answer["results"]:
        assert code in (0, 1) and "Traceback" not in err, (argv, code, err)
    assert "H200" in page.read_text()  # the page was written, with no flock to hold
    assert (tmp_path / "site" / "index.html").is_file()


def test_run_says_it_measures_on_linux_only(monkeypatch, capsys, tmp_path):
    import diffusers  # noqa: F401  (imported as on Linux: its lock library picks by sys.platform)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "platform", "win32")
    assert main(["run", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "vae-bench run measures on Linux only (this is win32)" in err
    assert not (tmp_path / "results").exists()
    assert main(["run", "cpu", "--dry-run"]) == 0  # planning is not measuring
