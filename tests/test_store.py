"""The run store (bench.record.store) called directly, no sweep: reading a run once
(open_run, reopen from the Run a resume was planned from), what a writer holds, the
repair of unreadable lines, finding runs, run ids and their folders, the lock, and
the DataFrame view."""

from __future__ import annotations

import json
import math
import os
import threading
import warnings
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bench.errors import BadInput
from bench.record import store
from bench.record.run import RunMeta
from bench.record.store import (
    CASES,
    META,
    TORN,
    RunWriter,
    case_lines,
    find_runs,
    lock_held,
    new_run_id,
    open_run,
)
from tests.conftest import REFERENCE, REFERENCE_H200_DOCS
from tests.runs import case, write_run
from tests.sweep_helpers import tree
from tests.test_runner import MEM_FIELDS, RECORD_FIELDS


@pytest.fixture
def reads(monkeypatch) -> list[Path]:
    """The run folder of every read of a cases.jsonl, in order."""
    real, seen = store._cases_bytes, []

    def counted(run_dir):
        seen.append(Path(run_dir))
        return real(run_dir)

    monkeypatch.setattr(store, "_cases_bytes", counted)
    return seen


def append_from_outside(run: Path, *records) -> None:
    """What another sweep writing the run would add: whole lines at the end."""
    with open(run / CASES, "ab") as f:
        f.write(case_lines(list(records)))


# -- one writer per run ---------------------------------------------------------------


def test_a_run_being_written_is_not_resumed(tmp_path):
    run = RunWriter.create(tmp_path, "r", RunMeta(name="t"))
    before = tree(tmp_path)
    with pytest.raises(Exception) as exc:
        RunWriter.reopen(run.dir)
    assert f"PID {os.getpid()}" in str(exc.value)
    run.close()
    assert tree(tmp_path) == before
    RunWriter.reopen(run.dir).close()  # free once its writer is done


def test_the_lock_is_held_while_a_writer_is_open(tmp_path):
    writer = RunWriter.create(tmp_path, "r", RunMeta(name="t", status="running"))
    assert lock_held(writer.dir) is True
    assert "still running" in open_run(writer.dir).unfinished
    writer.close()
    assert lock_held(writer.dir) is False
    assert "stopped without a word" in open_run(writer.dir).unfinished


# -- reading a run once -----------------------------------------------------------------


def test_reopen_takes_the_run_it_is_given_without_reading_it_again(tmp_path, reads):
    a, b = case(size=256), case(size=512)
    path = write_run(tmp_path, "r", [a, b])
    run = open_run(path)
    assert reads == [path]
    writer = RunWriter.reopen(run)
    try:
        assert reads == [path]  # planned from `run`, nothing written since: no second read
        assert writer.run is run and writer.meta is run.meta
        assert writer.done_ids() == {a.case_id, b.case_id}
    finally:
        writer.close()


def test_reopen_of_a_path_reads_the_run_once(tmp_path, reads):
    a = case()
    path = write_run(tmp_path, "r", [a])
    writer = RunWriter.reopen(path)
    writer.close()
    assert reads == [path]
    assert writer.done_ids() == {a.case_id}


def test_reopen_reads_again_when_cases_were_appended_after_the_run_was_read(tmp_path, reads):
    a, b = case(size=256), case(size=512)
    path = write_run(tmp_path, "r", [a])
    run = open_run(path)
    append_from_outside(path, b)  # another sweep, between the plan and the lock
    writer = RunWriter.reopen(run)
    try:
        assert reads == [path, path]
        assert writer.done_ids() == {a.case_id, b.case_id}
        assert [r.case_id for r in writer.run.records] == [a.case_id, b.case_id]
    finally:
        writer.close()


def test_reopen_reads_again_when_meta_json_was_replaced_after_the_run_was_read(tmp_path, reads):
    path = write_run(tmp_path, "r", [case()])
    run = open_run(path)
    meta = json.loads((path / META).read_text())
    (path / "meta.new").write_text(json.dumps({**meta, "status": "interrupted"}))
    os.replace(path / "meta.new", path / META)  # as a sweep replaces it: a new file
    writer = RunWriter.reopen(run)
    writer.close()
    assert reads == [path, path]
    assert writer.meta.status == "interrupted" and run.meta.status == "complete"


def test_a_writer_holds_what_it_appends_without_reading(tmp_path, reads):
    a, b = case(size=256), case(size=512)
    a_again = case(size=256, samples=[0.3] * 4)
    writer = RunWriter.create(tmp_path, "r", RunMeta(name="t"))
    try:
        writer.append(a)
        writer.append(b)
        assert writer.run.records == [a, b]
        writer.append(a_again)  # as a reader finds it: the last record, in the first place
        assert writer.run.records == [a_again, b]
        assert writer.done_ids() == {a.case_id, b.case_id}
        assert reads == []
    finally:
        writer.close()
    with pytest.warns(UserWarning, match="repeat a case_id"):
        assert open_run(writer.dir).records == writer.run.records


def test_a_reopened_writer_adds_its_appends_to_the_run_it_was_given(tmp_path, reads):
    a, b = case(size=256), case(size=512)
    path = write_run(tmp_path, "r", [a])
    run = open_run(path)
    writer = RunWriter.reopen(run)
    try:
        writer.append(b)
    finally:
        writer.close()
    assert reads == [path]
    assert [r.case_id for r in run.records] == [a.case_id, b.case_id]
    assert open_run(path).records == run.records


# -- duplicate case ids -------------------------------------------------------------------


def test_readers_use_the_last_of_duplicate_case_ids(tmp_path):
    first = case(samples=[0.1] * 5)
    last = case(samples=[0.2] * 5)
    other = case(size=256)
    run = write_run(tmp_path, "dup", [first, other, last])
    with pytest.warns(UserWarning, match="repeat a case_id"):
        records = open_run(run).records
    assert [r.case_id for r in records] == [first.case_id, other.case_id]
    assert records[0].time.median == 0.2


def test_repeated_case_ids_are_said_once_with_their_count(tmp_path):
    a = [case(samples=[0.1 * n] * 3) for n in (1, 2, 3)]
    b = [case(size=256, samples=[n] * 3) for n in (1.0, 2.0)]
    path = write_run(tmp_path, "dup", [a[0], b[0], a[1], b[1], a[2]])
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        run = open_run(path)
    repeats = [str(w.message) for w in said if "repeat a case_id" in str(w.message)]
    assert len(repeats) == 1 and "3 case record(s)" in repeats[0]
    assert [r.time.median for r in run.records] == [pytest.approx(0.3), 2.0]
    assert run.skipped == 0  # a repeat is a record, not a line left out


# -- unreadable lines -----------------------------------------------------------------------


def test_a_torn_last_line_is_moved_aside_when_the_run_is_reopened(tmp_path):
    a, b = case(size=256), case(size=512)
    path = write_run(tmp_path, "r", [a])
    torn = case_lines([b])[:40]
    with open(path / CASES, "ab") as f:
        f.write(torn)
    with pytest.warns(UserWarning, match="left out"):
        run = open_run(path)
    assert run.skipped == 1
    with pytest.warns(UserWarning, match=r"cut off when the run died \(line 2\)"):
        writer = RunWriter.reopen(run)
    try:
        assert writer.run.skipped == 0 and writer.done_ids() == {a.case_id}
        writer.append(b)
    finally:
        writer.close()
    assert (path / TORN).read_bytes() == torn + b"\n"
    assert (path / CASES).read_bytes() == case_lines([a, b])
    assert open_run(path, strict=True).records == [a, b]


def test_a_record_that_only_lacks_its_newline_is_kept(tmp_path):
    a, b = case(size=256), case(size=512)
    path = write_run(tmp_path, "r", [a])
    (path / CASES).write_bytes(case_lines([a]).rstrip(b"\n"))
    run = open_run(path, strict=True)
    assert run.records == [a]
    writer = RunWriter.reopen(run)
    try:
        writer.append(b)  # on a line of its own, not glued to the last one
    finally:
        writer.close()
    assert (path / CASES).read_bytes() == case_lines([a, b])
    assert not (path / TORN).exists()


# -- finding runs -----------------------------------------------------------------------------


def test_find_runs_finds_nested_runs_and_skips_folders_that_are_not_runs(tmp_path):
    newer = write_run(tmp_path / "b" / "deeper", "newer", [case()], started_at="2026-01-03T00:00:00Z")
    older = write_run(tmp_path / "a", "older", [case()], started_at="2026-01-01T00:00:00Z")
    middle = write_run(tmp_path, "middle", [case()], started_at="2026-01-02T00:00:00Z")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not a run")
    (tmp_path / "a" / "plots").mkdir()
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        runs = find_runs(tmp_path)
    assert [r.path for r in runs] == [older, middle, newer]  # oldest first
    assert said == []  # a folder with no meta.json is no run, and no cause to warn


def test_find_runs_leaves_out_a_folder_whose_run_does_not_read(tmp_path):
    good = write_run(tmp_path, "good", [case()])
    empty = write_run(tmp_path, "empty", [])
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / META).write_text("{not json")
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        runs = find_runs(tmp_path)
    assert [r.path for r in runs] == [good]
    left_out = sorted(str(w.message) for w in said)
    assert len(left_out) == 2 and all(text.startswith("left out:") for text in left_out)
    assert str(tmp_path / "broken") in left_out[0] and str(empty) in left_out[1]


def test_find_runs_in_a_folder_without_runs_is_bad_input(tmp_path):
    (tmp_path / "notes").mkdir()
    with pytest.raises(BadInput, match="no vae-bench run"):
        find_runs(tmp_path)
    with pytest.raises(BadInput, match="no such results folder"):
        find_runs(tmp_path / "absent")


# -- run ids ----------------------------------------------------------------------------------


def test_two_runs_in_the_same_second_get_their_own_folders(tmp_path):
    a = RunWriter.create(tmp_path, "20260101-000000-cpu-t", RunMeta(name="t"))
    b = RunWriter.create(tmp_path, "20260101-000000-cpu-t", RunMeta(name="t"))
    assert (a.dir.name, b.dir.name) == ("20260101-000000-cpu-t", "20260101-000000-cpu-t-2")
    assert open_run(b.dir).meta.run_id == b.dir.name
    a.close(), b.close()


def test_new_run_id_names_the_second_the_device_and_the_sweep():
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert new_run_id("NVIDIA H200", "docs", when) == "20260102-030405-nvidia-h200-docs"
    assert new_run_id("../GPU 0", "My Sweep!", when) == "20260102-030405-gpu-0-my-sweep"


def test_runs_of_one_name_in_the_same_second_get_distinct_ids(tmp_path):
    """new_run_id gives both sweeps the same id (it knows only the second); the folder
    each one makes tells them apart, and its meta.json says the id it got."""
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    ids = [new_run_id("NVIDIA H200", "docs", when) for _ in range(3)]
    assert len(set(ids)) == 1
    writers = [RunWriter.create(tmp_path, run_id, RunMeta(name="docs")) for run_id in ids]
    for w in writers:
        w.close()
    names = [w.dir.name for w in writers]
    assert names == [ids[0], ids[0] + "-2", ids[0] + "-3"]
    assert [open_run(w.dir).meta.run_id for w in writers] == names
    with pytest.raises(BadInput, match="exists"):
        RunWriter.create(tmp_path, ids[0], RunMeta(name="docs"), unique=False)


def test_runs_started_together_never_share_a_folder(tmp_path):
    run_id = new_run_id("cpu", "t", datetime(2026, 1, 1, tzinfo=timezone.utc))
    made, start = [], threading.Barrier(8)

    def create():
        start.wait()
        made.append(RunWriter.create(tmp_path, run_id, RunMeta(name="t")))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in made:
        w.close()
    assert len(made) == 8 and len({w.dir for w in made}) == 8
    assert sorted(open_run(w.dir).meta.run_id for w in made) == sorted(w.dir.name for w in made)


def test_a_longest_run_id_still_takes_its_suffix(tmp_path):
    run_id = new_run_id("g" * 300, "n" * 300)
    assert len(run_id) == store.MAX_RUN_ID
    a = RunWriter.create(tmp_path, run_id, RunMeta(name="t"))
    b = RunWriter.create(tmp_path, run_id, RunMeta(name="t"))
    a.close(), b.close()
    assert b.dir.name == run_id + "-2"


# -- the DataFrame view -----------------------------------------------------------------------

# ARCHITECTURE.md's cases.jsonl fields, as `frame()` spreads them: the case's own
# fields as they are, then `time_s`, `mem` and `clocks` one column a field.
CASE_COLUMNS = [f for f in RECORD_FIELDS if f not in ("time_s", "mem", "clocks", "quality", "format")]
TIME_COLUMNS = ["median", "mean", "min", "max", "iqr", "samples", "ci_low", "ci_high", "calls"]
TIME_COLUMNS += ["drift", "stationary", "discarded"]
MEM_COLUMNS = MEM_FIELDS
CLOCK_COLUMNS = [
    "sm_mhz_min",
    "sm_mhz_median",
    "mem_mhz_min",
    "mem_mhz_median",
    "throttle",
    "temperature_start_c",
    "temperature_end_c",
    "settled",
]


NESTED = ("time_s", "mem", "clocks", "quality")
DERIVED = ("drift", "stationary")  # in records made before the stationarity check


def _same(shown, stored) -> bool:
    if stored is None:
        return shown is None or (isinstance(shown, float) and math.isnan(shown))
    return shown == stored


@pytest.mark.parametrize("path, clocks", [(REFERENCE, False), (REFERENCE_H200_DOCS, True)])
def test_frame_has_a_row_per_record_in_the_documented_columns(path, clocks):
    run = open_run(path, strict=True)
    frame = run.frame()
    expected = (
        ["run", *CASE_COLUMNS]
        + [f"time_s.{c}" for c in TIME_COLUMNS]
        + [f"mem.{c}" for c in MEM_COLUMNS]
        + ([f"clocks.{c}" for c in CLOCK_COLUMNS] if clocks else [])
    )
    assert list(frame.columns) == expected
    stored = [json.loads(line) for line in (path / CASES).read_text().splitlines()]
    assert len(frame) == len(run.records) == len(stored)
    assert set(frame["run"]) == {run.run_id}
    # Every value as the file holds it (a field of format 1 that it lacks reads null; a
    # measurement stored as null spreads into no column, or nulls in another row's).
    for row, raw in zip(frame.to_dict("records"), stored, strict=True):
        for key, value in raw.items():
            if key in NESTED:
                spread = {c.split(".", 1)[1]: v for c, v in row.items() if c.startswith(key + ".")}
                assert set(value or {}) <= set(spread) and key not in row, (raw["case_id"], key)
                for sub, shown in spread.items():
                    if key == "time_s" and sub in DERIVED and sub not in (value or {}):
                        continue  # computed from the samples as they are read
                    assert _same(shown, (value or {}).get(sub)), (raw["case_id"], key, sub)
            elif key != "format":
                assert _same(row[key], value), (raw["case_id"], key)
