"""End to end on CPU with tiny VAEs: every cases.jsonl field, OOM, a worker that
dies, a runner killed with SIGKILL or stopped with Ctrl-C, and --resume."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main
from bench.record.case import Case
from bench.record.run import FORMAT_VERSION
from bench.record.store import open_run
from tests.cli_helpers import only_run, start, wait_for_cases, wait_for_run

RECORD_FIELDS = [
    "case_id",
    "model",
    "weights",
    "op",
    "height",
    "width",
    "frames",
    "batch",
    "dtype",
    "tiled",
    "tiling",
    "variant",
    "device",
    "status",
    "error",
    "error_phase",
    "warmup",
    "repeats",
    "first_call_s",
    "warmup_calls",
    "warmup_s",
    "time_s",
    "precision_met",
    "mem",
    "clocks",
    "quality",
    "setup_s",
    "measure_s",
    "quality_s",
    "started_at",
    "ended_at",
    "format",
]
MEM_FIELDS = [
    "peak_allocated",
    "peak_reserved",
    "nvml_peak_used",
    "nvml_baseline_used",
    "process_peak",
    "total",
    "percent",
    "metric",
    "first_call_allocated",
    "first_call_reserved",
    "first_call_process",
]


@pytest.mark.slow
def test_tiny_sweep_records_every_field(write_sweep, tmp_path):
    sweep = write_sweep(ops=["encode", "decode"], resolutions=[32, "64x48"], tiled=[False, True], repeats=3)
    assert main(["run", str(sweep)]) == 0
    run = only_run(tmp_path / "runs")
    # The file itself, as any other program reads it: the contract of ARCHITECTURE.md.
    records = [json.loads(line) for line in (run / "cases.jsonl").read_text().splitlines()]
    assert len(records) == 8
    assert len({r["case_id"] for r in records}) == 8
    for rec in records:
        assert list(rec) == RECORD_FIELDS
        assert list(rec["mem"]) == MEM_FIELDS
        assert rec["case_id"] == Case.from_params(rec).case_id
        assert (rec["model"], rec["weights"], rec["device"], rec["dtype"]) == (
            "tiny",
            "random",
            "cpu",
            "float32",
        )
        assert rec["status"] == "ok" and rec["error"] is None
        assert rec["frames"] is None and rec["batch"] == 1
        assert (rec["warmup"], rec["repeats"]) == (1, 3)
        t = rec["time_s"]
        assert len(t["samples"]) == 3
        assert t["median"] == pytest.approx(float(np.median(t["samples"])))
        assert t["min"] <= t["median"] <= t["max"] and t["iqr"] >= 0
        assert rec["first_call_s"] > 0
        mem = rec["mem"]
        assert mem["metric"] == "process"
        assert mem["process_peak"] > 0 and mem["total"] > mem["process_peak"]
        assert mem["percent"] == pytest.approx(mem["process_peak"] / mem["total"] * 100)
        for key in ("peak_allocated", "peak_reserved", "nvml_peak_used", "nvml_baseline_used"):
            assert mem[key] is None  # no CUDA, no NVML: not measured, not made up
        assert rec["started_at"] < rec["ended_at"]
        assert rec["format"] == FORMAT_VERSION
        if rec["tiled"]:
            assert rec["tiling"] == {
                "tile_sample_min_size": 32,
                "tile_overlap_factor": 0.25,
                "tile_latent_min_size": 16,
            }
        else:
            assert rec["tiling"] is None
    assert {(r["width"], r["height"]) for r in records} == {(32, 32), (64, 48)}

    assert json.loads((run / "meta.json").read_text())["format"] == FORMAT_VERSION
    meta = open_run(run).meta
    assert meta.status == "complete" and meta.ended_at
    assert meta.run_id == run.name and run.name.endswith("-cpu-t")
    assert meta.config["resolutions"] == ["32x32", "64x48"]
    assert meta.models["tiny"]["params"] > 0
    assert meta.models["tiny"]["weights"]["kind"] == "random"
    env = meta.environment
    assert env["torch"] and env["diffusers"] and env["python"]
    assert meta.device["device"] == "cpu" and meta.device["total_memory"] > 0


@pytest.mark.slow
def test_oom_is_recorded_and_the_sweep_goes_on(write_sweep, tmp_path):
    sweep = write_sweep(models=["tiny-oom"], resolutions=[32, 48, 64])
    assert main(["run", "--trust-code", str(sweep)]) == 0  # oom is a result, not a failure
    by_width = {r.case.width: r for r in open_run(only_run(tmp_path / "runs")).records}
    assert by_width[48].status == "oom"
    assert "out of memory" in by_width[48].error
    assert by_width[48].time is None and by_width[48].mem.percent is None
    assert by_width[32].status == "ok" and by_width[64].status == "ok"


@pytest.mark.slow
def test_a_worker_killed_mid_case_costs_only_that_case(write_sweep, tmp_path, capsys):
    sweep = write_sweep(models=["tiny-crash"], resolutions=[32, 48, 64], tiled=[False, True])
    assert main(["run", "--trust-code", str(sweep)]) == 1  # a case ended in error
    records = open_run(only_run(tmp_path / "runs")).records
    assert len(records) == 6
    dead = [r for r in records if r.case.width == 48]
    assert {r.status for r in dead} == {"error"}
    assert all("killed by SIGKILL" in r.error for r in dead)
    assert all(r.status == "ok" for r in records if r.case.width != 48)
    assert "ended in error" in capsys.readouterr().err


SLOW = dict(models=["tiny-slow"], resolutions=[32, 40, 48, 56], tiled=[False, True], repeats=2)


@pytest.mark.slow
def test_sigkill_then_resume_loses_nothing_and_duplicates_nothing(write_sweep, tmp_path):
    sweep = write_sweep(**SLOW)
    proc = start(["run", "--trust-code", str(sweep)])
    run = wait_for_run(tmp_path / "runs", proc)
    wait_for_cases(run, 3, proc)
    workers = [w["pid"] for w in open_run(run).meta.workers]
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    # Its worker does not go on holding the device: it dies with the runner.
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert workers and not any(Path(f"/proc/{pid}").exists() for pid in workers)
    kept = open_run(run).records
    assert 3 <= len(kept) < 8
    # A line torn in the middle of a write, as a kill can leave.
    with open(run / "cases.jsonl", "a") as f:
        f.write('{"case_id": "abc", "model": "tin')

    done = start(["run", "--trust-code", "--resume", str(run)])
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert "cut off" in err
    records = open_run(run).records
    ids = [r.case_id for r in records]
    assert len(ids) == len(set(ids)) == 8
    assert records[: len(kept)] == kept  # what was stored stays as it was
    assert (run / "cases.jsonl.torn").read_text().startswith('{"case_id": "abc"')
    meta = open_run(run).meta
    assert meta.status == "complete" and len(meta.resumed_at) == 1
    assert f"run stored in {run}" in out


@pytest.mark.slow
def test_ctrl_c_keeps_finished_cases_and_resume_completes(write_sweep, tmp_path):
    sweep = write_sweep(**SLOW)
    # A terminal sends SIGINT to the whole foreground process group.
    proc = start(["run", "--trust-code", str(sweep)], start_new_session=True)
    run = wait_for_run(tmp_path / "runs", proc)
    wait_for_cases(run, 2, proc)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert f"vae-bench run --resume {run}" in err
    stored = open_run(run).records
    assert 2 <= len(stored) < 8
    assert all(r.status == "ok" for r in stored)
    assert open_run(run).meta.status == "interrupted"

    assert main(["run", "--trust-code", str(sweep), "--resume", str(run)]) == 0
    ids = [r.case_id for r in open_run(run).records]
    assert len(ids) == len(set(ids)) == 8


@pytest.mark.slow
def test_ctrl_c_as_the_first_worker_starts_stops_without_a_traceback(write_sweep, tmp_path):
    """The fork server imports torch for seconds before Python's forkserver ignores
    SIGINT; a Ctrl-C to the process group in that time must not kill it mid-import."""
    sweep = write_sweep()
    proc = start(["run", str(sweep)], start_new_session=True)
    run = wait_for_run(tmp_path / "runs", proc)
    time.sleep(0.3)  # the server is importing torch now
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and f"vae-bench run --resume {run}" in err


@pytest.mark.slow
def test_resume_of_a_complete_run_runs_nothing(write_sweep, tmp_path, capsys):
    sweep = write_sweep()
    assert main(["run", str(sweep)]) == 0
    run = only_run(tmp_path / "runs")
    before = (run / "cases.jsonl").read_bytes()
    assert main(["run", "--resume", str(run)]) == 0
    assert (run / "cases.jsonl").read_bytes() == before
    assert "0 of 1 cases to run" in capsys.readouterr().err


@pytest.mark.slow
def test_dry_run_of_a_resume_shows_what_is_stored(write_sweep, tmp_path, capsys):
    sweep = write_sweep(resolutions=[32, 40])
    assert main(["run", str(sweep)]) == 0
    run = only_run(tmp_path / "runs")
    lines = (run / "cases.jsonl").read_text().splitlines()
    (run / "cases.jsonl").write_text(lines[0] + "\n")
    capsys.readouterr()
    assert main(["run", "--resume", str(run), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("stored") == 1 and out.count("to run") == 1
    assert json.loads(lines[0])["case_id"] in out


# -- the worker server and CUDA ----------------------------------------------------------------

# Run in a fresh interpreter: torch looks as if it had CUDA, its runtime's device count
# (the call that initialises the driver and so spoils every later fork) is a tripwire,
# and NVML answers one device. Then the worker server's preload is imported.
_PRELOAD_PROBE = """
import json, sys, torch
calls = []
torch.cuda._is_compiled = lambda: True
torch.cuda._device_count_nvml = lambda: 1
torch._C._cuda_getDeviceCount = lambda: calls.append("cudaGetDeviceCount") or 1
torch.accelerator.current_accelerator = lambda check_available=False: torch.device("cuda")
from bench.sweep import runner
for name in runner.PRELOAD:
    __import__(name)
print(json.dumps(calls))
"""


def _preload_calls(env: dict) -> list[str]:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _PRELOAD_PROBE],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_worker_server_preload_leaves_cuda_uninitialised():
    """diffusers asks at import which accelerator the host has; torch's default answer
    initialises CUDA and every worker forked afterwards fails on the GPU. With the
    server's environment, the same imports never reach the CUDA runtime."""
    from bench.sweep import runner

    bare = {k: v for k, v in os.environ.items() if k not in runner.SERVER_ENV}
    assert _preload_calls(bare), "the probe no longer sees diffusers ask the CUDA runtime"
    assert _preload_calls({**bare, **runner.SERVER_ENV}) == []


def test_a_worker_that_finds_cuda_spoiled_is_started_again_by_spawn(write_sweep, tmp_path, monkeypatch):
    from bench.sweep import runner, worker

    monkeypatch.setattr(runner, "_CONTEXT", None)  # this test's server, and put back after
    told = []

    class SpoiledOnce(runner._Worker):
        def receive(self, stop=None):
            msg = super().receive(stop)
            if not told and msg is not None and msg[0] == "ready":
                told.append(True)
                return ("bad_fork", worker.BAD_FORK)
            return msg

    monkeypatch.setattr(runner, "_Worker", SpoiledOnce)
    sweep = write_sweep(ops=["encode", "decode"])
    assert main(["run", str(sweep)]) == 0
    run = open_run(only_run(tmp_path / "runs"))
    assert [r.status for r in run.records] == ["ok", "ok"]
    assert worker.BAD_FORK in run.meta.warnings
    assert runner._CONTEXT.get_start_method() == "spawn"
    assert len(run.meta.workers) == 1  # the spoiled one never became ready
