"""Every GPU of a host at once, without a GPU: the dealing of groups over an injected
device list, the sweep fields, and a sweep over two devices run side by side on the CPU
(device resolution injected), stopped by Ctrl-C and resumed as a whole."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from bench.cli import main
from bench.errors import BadInput
from bench.record.store import open_run
from bench.sweep import host
from bench.sweep.config import from_dict
from tests.cli_helpers import fake_gpus, one_error_line


def test_groups_are_dealt_longest_first_to_the_least_loaded_device():
    costs = {("a", "f16"): 5.0, ("b", "f16"): 4.0, ("c", "f16"): 3.0, ("d", "f16"): 3.0, ("e", "f16"): 3.0}
    dealt = host.deal(costs, ["cuda:0", "cuda:1"])
    assert sorted(k for keys in dealt.values() for k in keys) == sorted(costs)  # each once
    loads = [sum(costs[k] for k in keys) for keys in dealt.values()]
    assert dealt["cuda:0"][0] == ("a", "f16") and dealt["cuda:1"][0] == ("b", "f16")
    assert max(loads) <= 4 / 3 * sum(costs.values()) / 2  # the greedy rule's bound
    # equal groups: as even as they can be, and more devices than groups leave some idle
    even = host.deal({(str(i), "f16"): 1.0 for i in range(7)}, ["cuda:0", "cuda:1", "cuda:2"])
    assert sorted(len(v) for v in even.values()) == [2, 2, 3]
    assert sum(map(len, host.deal({("a", "f16"): 1.0}, ["cuda:0", "cuda:1"]).values())) == 1


def test_costs_come_from_a_previous_run_when_given(tmp_path):
    sweep = from_dict(
        {"name": "x", "models": ["sd-v1", "sdxl"], "ops": ["encode", "decode"], "resolutions": [64, 128]}
    )
    from bench.sweep.cases import expand

    cases = expand(sweep, sweep.specs())
    assert host.group_costs(cases) == {("sd-v1", "float16"): 4.0, ("sdxl", "float16"): 4.0}
    slow = {c.case_id: 10.0 for c in cases if c.model == "sdxl"}
    slow[next(c.case_id for c in cases if c.model == "sd-v1")] = 1.0
    costs = host.group_costs(cases, slow)
    # sd-v1's other three cases count as the mean of the known ones
    assert costs[("sdxl", "float16")] == 40.0 and costs[("sd-v1", "float16")] == pytest.approx(1 + 3 * 41 / 5)


@pytest.mark.parametrize(
    "fields, words",
    [
        ({"devices": "cuda:0"}, "must be a list"),
        ({"devices": ["cuda:0", "cpu"]}, "each must be cuda:N"),
        ({"devices": ["cuda:1", "cuda:1"]}, "twice"),
        ({"devices": ["cuda:0"], "device": "cpu"}, "not both"),
        ({"device": "everything"}, "cuda:N or all"),
    ],
)
def test_bad_devices_are_one_line(fields, words):
    with pytest.raises(BadInput, match=words):
        from_dict({"name": "x", "models": ["sd-v1"], "ops": ["encode"], "resolutions": [32], **fields})


def test_device_all_without_a_gpu_is_refused(write_sweep, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["run", str(write_sweep(device="all"))]) == 2
    assert "sees none" in one_error_line(capsys)


@pytest.fixture
def two_fake_gpus(monkeypatch):
    """cuda:0 and cuda:1 resolve to this CPU, so that two runs go side by side here."""
    fake_gpus(monkeypatch)


@pytest.mark.slow  # two sweeps side by side, stopped and resumed
def test_two_devices_side_by_side_ctrl_c_and_resume_as_a_whole(write_sweep, tmp_path, capsys, two_fake_gpus):
    sweep = write_sweep(
        models=["tiny-slow"],
        dtype=["float32", "bfloat16"],  # two groups, each slow enough to be stopped midway
        resolutions=[32, 40, 48, 56, 64, 72, 80, 88],
        device="auto",
        devices=["cuda:0", "cuda:1"],
    )

    # Ctrl-C once both runs hold a few cases
    def interrupt():
        import time

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = [p for p in (tmp_path / "runs").glob("*") if (p / "cases.jsonl").exists()]
            if len(runs) == 2 and all(len((p / "cases.jsonl").read_text().splitlines()) >= 1 for p in runs):
                break
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    assert main(["run", "--trust-code", str(sweep)]) == 130
    err = capsys.readouterr().err
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2 and "resume them all with: vae-bench run --resume" in err
    metas = [open_run(r).meta for r in runs]
    assigned = sorted(tuple(m.host.assigned[0]) for m in metas)
    assert assigned == [("tiny-slow", "bfloat16"), ("tiny-slow", "float32")]  # one group each
    assert all(m.status == "interrupted" for m in metas)
    assert metas[0].host.runs == metas[1].host.runs == [r.name for r in runs]
    assert "loadavg" in metas[0].host.at_start
    assert metas[0].host.at_end == {"gpu_processes": {}}  # no GPU here to ask NVML about
    stored = sum(len(open_run(r).records) for r in runs)
    assert 2 <= stored < 16

    assert main(["run", "--trust-code", "--resume", str(runs[0])]) == 0  # one of them: both resume
    for r in runs:
        run = open_run(r)
        ids = [x.case_id for x in run.records]
        (_, dtype) = run.meta.host.assigned[0]
        assert run.meta.status == "complete" and len(ids) == len(set(ids)) == 8
        assert {x.case.dtype for x in run.records} == {dtype}
        assert "loadavg" in run.meta.host.at_resume and run.meta.host.at_start is not None
    out = capsys.readouterr()
    assert "== cpu" in out.out


def test_what_else_is_on_the_gpus_is_read_for_each(monkeypatch):
    from bench.measure import environment

    seen = {0: [{"pid": 7, "used": 2**30}], 1: "not read: no NVML handle"}
    monkeypatch.setattr(environment, "gpu_processes", lambda index: seen[index])
    both = host.others_on(["cuda:0", "cuda:1"])
    assert both["gpu_processes"] == {"cuda:0": seen[0], "cuda:1": seen[1]} and "loadavg" in both
    assert host.others_on(["cuda:1", "cpu"], load=False) == {"gpu_processes": {"cuda:1": seen[1]}}


def test_a_sweep_thread_that_fails_stops_the_others_and_raises_here():
    """A bug in one GPU's sweep is not an interruption: it surfaces, and the other GPU
    stops at once (it would wait 30 s for the stop)."""
    from bench.sweep.launch import Launcher, Part

    seen = {}

    class Failing(Launcher):
        several = True

        def open(self):
            pass

        def measure(self, part, progress, stop):
            if part.name == "cuda:0":
                raise RuntimeError("a bug")
            seen["stopped"] = stop.wait(30)

    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="a bug"):
        Failing([Part("cuda:0"), Part("cuda:1")]).launch()
    assert seen == {"stopped": True} and time.monotonic() - t0 < 10
