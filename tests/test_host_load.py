"""Every run records how busy its host was at each sweep's start and end, and the
readers that put its figures in front of a person (show, compare, tables, docs) say so
when it was busy."""

from __future__ import annotations

import json
import shutil

import pytest

from bench.cli import main
from bench.record.run import RunMeta
from bench.record.store import open_run
from tests.conftest import REFERENCE_H200, REFERENCE_H200_DOCS
from tests.runs import tiny_cpu_run

BUSY = [
    {"at": "start", "time": "t0", "loadavg": [6.4, 5.0, 4.0], "cpu_count": 2, "other_running": 3},
    {"at": "end", "time": "t1", "loadavg": [7.0, 6.0, 5.0], "cpu_count": 2, "other_running": 0},
]


@pytest.mark.slow  # a sweep
def test_a_run_records_the_load_at_its_start_and_end(tmp_path):
    run = open_run(tiny_cpu_run(tmp_path))
    assert [s["at"] for s in run.meta.load] == ["start", "end"]
    for sample in run.meta.load:
        assert len(sample["loadavg"]) == 3 and sample["cpu_count"] >= 1
        assert isinstance(sample["other_running"], int)


def test_a_busy_host_is_said_with_its_figures():
    meta = RunMeta(run_id="r", load=BUSY)
    said = "made on a busy host: 3 other process(es) running at its start; load average 6.4 on 2 CPUs"
    assert meta.busy == said + " at its start"
    quiet = [dict(s, other_running=0, loadavg=[0.5, 0.5, 0.5]) for s in BUSY]
    assert RunMeta(run_id="r", load=quiet).busy is None
    # the load at the end holds the sweep's own work: alone it says nothing
    assert RunMeta(run_id="r", load=[dict(BUSY[1])]).busy is None
    again = RunMeta.from_json(json.loads(json.dumps(RunMeta(run_id="r", load=BUSY).to_json())))
    assert again.load == BUSY
    # an interrupted sweep's end, then its resume: the first end is where it stopped
    resumed = [dict(s, other_running=1) for s in (BUSY[1], {**BUSY[0], "at": "resume"}, BUSY[1])]
    text = RunMeta(run_id="r", load=resumed).busy
    assert "running at its stop;" in text and "at its resume" in text and text.endswith("running at its end")


def _busy_copy(src, dst):
    shutil.copytree(src, dst)
    meta = json.loads((dst / "meta.json").read_text())
    meta["load"] = BUSY
    (dst / "meta.json").write_text(json.dumps(meta))
    return dst


def test_show_compare_and_tables_warn_of_a_busy_host(tmp_path, capsys):
    new = _busy_copy(REFERENCE_H200_DOCS, tmp_path / REFERENCE_H200_DOCS.name)
    assert main(["show", str(new)]) == 0
    assert "made on a busy host: 3 other process(es) running at its start" in capsys.readouterr().err
    assert main(["compare", str(REFERENCE_H200), str(new)]) == 1
    assert "warning: the new run was made on a busy host: 3 other process(es)" in capsys.readouterr().out
    assert main(["tables", str(new)]) == 0
    assert "made on a busy host" in capsys.readouterr().err


@pytest.mark.parametrize(
    "sample, field",
    [
        ({"at": "noon", "time": "t", "loadavg": [1, 1, 1], "cpu_count": 2, "other_running": 0}, "load[0].at"),
        (
            {"at": "start", "time": "t", "loadavg": [-1, 1, 1], "cpu_count": 2, "other_running": 0},
            "load[0].loadavg",
        ),
        (
            {"at": "start", "time": "t", "loadavg": None, "cpu_count": 2, "other_running": -3},
            "load[0].other_running",
        ),
    ],
)
def test_a_hostile_load_sample_is_refused_naming_it(tmp_path, capsys, sample, field):
    run = tmp_path / REFERENCE_H200_DOCS.name
    shutil.copytree(REFERENCE_H200_DOCS, run)
    meta = json.loads((run / "meta.json").read_text())
    meta["load"] = [sample]
    (run / "meta.json").write_text(json.dumps(meta))
    assert main(["show", str(run)]) == 2
    assert field in capsys.readouterr().err
