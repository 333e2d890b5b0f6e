"""A run named as a person names it: a path, a run id or the start of one, `latest`
or `previous`, looked up in --runs DIR and then in the shipped reference runs."""

from __future__ import annotations

import json
import shutil

import pytest

from bench.cli import main
from bench.errors import BadInput
from bench.record.lookup import resolve_run
from bench.shipped import DOCS_RUN, REFERENCE_DIR
from tests.conftest import REFERENCE, REFERENCE_H200, REFERENCE_H200_DOCS

OLD, NEW = REFERENCE_H200.name, REFERENCE_H200_DOCS.name  # 01:02 and 05:46 on 2026-11-26


@pytest.fixture
def runs(tmp_path):
    """The two H200 docs runs, as a results/runs folder holds them."""
    folder = tmp_path / "runs"
    for run in (REFERENCE_H200_DOCS, REFERENCE_H200):
        shutil.copytree(run, folder / run.name)
    return folder


def test_an_id_its_start_latest_and_previous(runs):
    folders = [runs, REFERENCE_DIR]
    assert resolve_run(OLD, folders) == runs / OLD
    assert resolve_run("20261126-0546", folders) == runs / NEW
    assert resolve_run("latest", folders) == runs / NEW
    assert resolve_run("previous", folders) == runs / OLD
    # a path is taken as given, even where an id would match
    assert resolve_run(str(REFERENCE), folders) == REFERENCE


def test_latest_goes_by_when_a_run_started_not_by_its_name(runs):
    meta = runs / OLD / "meta.json"
    data = json.loads(meta.read_text())
    data["started_at"] = "2027-01-01T00:00:00Z"
    meta.write_text(json.dumps(data))
    assert resolve_run("latest", [runs]) == runs / OLD


def test_names_that_say_nothing_certain_are_refused(runs, tmp_path):
    with pytest.raises(BadInput, match=f"'20261126' is the start of 2 run ids in {runs}: {OLD}, {NEW}"):
        resolve_run("20261126", [runs, REFERENCE_DIR])
    with pytest.raises(BadInput, match="'nope' is no run folder, nor a run id or the start of one in"):
        resolve_run("nope", [runs, REFERENCE_DIR])
    one = tmp_path / "one"
    shutil.copytree(REFERENCE_H200, one / OLD)
    with pytest.raises(BadInput, match=f"previous: {one} holds one run, {OLD}; there is none before it"):
        resolve_run("previous", [one, REFERENCE_DIR])


def test_the_shipped_runs_answer_where_the_folder_has_none(tmp_path):
    assert resolve_run(DOCS_RUN.run_id[:13], [tmp_path / "missing", REFERENCE_DIR]) == DOCS_RUN.path


def test_a_linked_run_folder_is_not_found_by_its_id(runs, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    shutil.move(runs / OLD, elsewhere)
    (runs / OLD).symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(BadInput, match="is no run folder"):
        resolve_run(OLD[:14] + "2", [runs])
    with pytest.raises(BadInput, match=f"previous: {runs} holds one run, {NEW}"):
        resolve_run("previous", [runs, REFERENCE_DIR])


def test_compare_previous_latest_and_show_by_prefix(runs, capsys):
    code = main(["compare", "previous", "latest", "--runs", str(runs)])
    out = capsys.readouterr().out
    assert code == 1 and out.startswith(f"base: {OLD} ") and f"\nnew:  {NEW} " in out
    assert main(["show", NEW[:13], "--runs", str(runs)]) == 0
    assert "sdxl decode 2048x2048 float32 tiled" in capsys.readouterr().out
    assert main(["tables", "latest", "--runs", str(runs)]) == 0
    fit = [
        "fit",
        "previous",
        "--runs",
        str(runs),
        "--card",
        "RTX 3070",
        *"--model sdxl --op decode --size 1024".split(),
    ]
    code = main(fit)
    assert code in (0, 1) and "float16" in capsys.readouterr().out  # the older run's SDXL was float16
    assert main(["compare", "2026", "latest", "--runs", str(runs)]) == 2
    assert "BASE_RUN: '2026' is the start of 2 run ids" in capsys.readouterr().err


def test_a_run_stopped_before_its_first_case_is_still_the_latest(runs):
    """Ctrl-C before any case was stored, then `run --resume latest`."""
    stopped = runs / "20270101-000000-cpu-t"
    shutil.copytree(REFERENCE, stopped)
    meta = json.loads((stopped / "meta.json").read_text())
    meta["started_at"], meta["run_id"] = "2027-01-01T00:00:00Z", stopped.name
    (stopped / "meta.json").write_text(json.dumps(meta))
    (stopped / "cases.jsonl").write_text("")
    assert resolve_run("latest", [runs]) == stopped
    assert resolve_run("previous", [runs]) == runs / NEW
