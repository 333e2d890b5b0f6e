"""A CPU worker's threads: as many as the CPUs it may use unless the sweep or the user
says otherwise, OpenMP threads that sleep while they wait, and all of it in meta.json."""

from __future__ import annotations

import json
import os

import pytest

from bench.cli import main
from bench.measure import threads
from bench.record.store import open_run
from tests.cli_helpers import one_error_line, only_run, start


def test_cpu_lists_are_written_as_the_kernel_writes_them():
    assert threads.cpu_list({0, 1, 2, 3, 8}) == "0-3,8"
    assert threads.cpu_list({5}) == "5" and threads.cpu_list({1, 3, 4}) == "1,3-4"


def test_the_count_comes_from_the_sweep_then_the_user_then_the_affinity(monkeypatch):
    monkeypatch.setattr(threads, "affinity", lambda: {2, 3, 4})
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads.wanted("auto") == (3, "affinity")
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert threads.wanted("auto") == (5, "OMP_NUM_THREADS")
    assert threads.wanted(2) == (2, "sweep")
    monkeypatch.setenv("OMP_NUM_THREADS", "lots")  # not a count: the affinity decides
    assert threads.wanted("auto") == (3, "affinity")


@pytest.mark.parametrize("value", [0, -1, "many", True, 5000])
def test_a_bad_thread_count_is_one_line(write_sweep, capsys, value):
    assert main(["run", "--dry-run", str(write_sweep(threads=value))]) == 2
    line = one_error_line(capsys)
    assert "threads" in line and "must be auto or a number of threads from 1 to 4096" in line


@pytest.mark.slow
def test_a_sweeps_threads_are_in_force_in_the_worker_and_recorded(write_sweep, tmp_path):
    assert main(["run", str(write_sweep(threads=1, resolutions=[32]))]) == 0
    meta = open_run(only_run(tmp_path / "runs")).meta
    (worker,) = meta.workers
    # read back from torch inside the worker, after it was set
    assert worker["threads"] == 1 and worker["threads_from"] == "sweep"
    assert worker["affinity"] == threads.cpu_list(threads.affinity())
    assert meta.device["threads"] == 1
    if os.environ.get("OMP_WAIT_POLICY") in (None, "PASSIVE"):
        assert worker["openmp"]["OMP_WAIT_POLICY"] == "PASSIVE"


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this OS")
def test_auto_follows_the_affinity_mask_and_keeps_the_users_wait_policy(write_sweep, tmp_path):
    sweep = write_sweep(resolutions=[32])
    env = {"OMP_NUM_THREADS": None, "OMP_WAIT_POLICY": "ACTIVE"}
    proc = start(["run", sweep], env=env, preexec_fn=lambda: os.sched_setaffinity(0, {0}))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    meta = json.loads((only_run(tmp_path / "runs") / "meta.json").read_text())
    (worker,) = meta["workers"]
    assert (worker["threads"], worker["threads_from"], worker["affinity"]) == (1, "affinity", "0")
    assert worker["openmp"]["OMP_WAIT_POLICY"] == "ACTIVE"  # the user's, not ours
