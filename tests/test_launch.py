"""The launchers (bench.sweep.launch): a run opened once (cases.jsonl read once by a
resume, dry or real, on one device or a host's), a host sweep saying what a
single-device sweep says (the plan's warnings, the time line), and the threads every
launcher measures in: Ctrl-C and a failed part stop them all."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import yaml

from bench.cli import main
from bench.sweep.launch import Ending, Launcher, Part, side_by_side
from tests.cli_helpers import fake_gpus
from tests.runs import tiny_cpu_run, tiny_sweep


@pytest.fixture
def reads(monkeypatch):
    """The run folder of every read of a cases.jsonl (tables.md's writer included: the end
    of a sweep hands it the Run it holds, so it must read none)."""
    from bench.record import store

    real = store._cases_bytes
    seen: list[Path] = []

    def counted(run_dir):
        seen.append(Path(run_dir).resolve())
        return real(run_dir)

    monkeypatch.setattr(store, "_cases_bytes", counted)
    return seen


def _by_the_sweep(reads, run: Path) -> int:
    return reads.count(run.resolve())


def _keep_first_line(run: Path) -> None:
    lines = (run / "cases.jsonl").read_text().splitlines()
    (run / "cases.jsonl").write_text(lines[0] + "\n")


@pytest.mark.slow
def test_a_resume_reads_its_cases_once(tmp_path, capsys, reads):
    run = tiny_cpu_run(tmp_path, resolutions=[32, 40])
    _keep_first_line(run)
    reads.clear()
    assert main(["run", "--resume", str(run), "--dry-run"]) == 0
    assert reads == [run.resolve()]
    assert capsys.readouterr().out.count("to run") == 1

    reads.clear()
    assert main(["run", "--resume", str(run)]) == 0  # one case to run, then the report
    assert _by_the_sweep(reads, run) == 1
    out = capsys.readouterr()
    assert "1 of 2 cases to run" in out.err and f"run stored in {run}" in out.out
    assert out.out.splitlines()[-1] == str(run)  # the last line, for a script to take
    assert out.out.count(" ok ") == 2  # the report holds what the writer appended, unread

    reads.clear()
    assert main(["run", "--resume", str(run)]) == 0  # a complete run: nothing to run
    assert _by_the_sweep(reads, run) == 1


def _host_sweep(tmp_path: Path, **fields) -> Path:
    sweep = tmp_path / "host.yaml"
    sweep.write_text(
        yaml.safe_dump(
            tiny_sweep(
                models=["tiny", "tiny-slow"],
                device="auto",
                devices=["cuda:0", "cuda:1"],
                output=str(tmp_path / "host"),
                **fields,
            )
        )
    )
    return sweep


@pytest.mark.slow
def test_a_host_resume_reads_each_run_once(tmp_path, monkeypatch, capsys, reads):
    fake_gpus(monkeypatch)
    assert main(["run", "--trust-code", str(_host_sweep(tmp_path, resolutions=[32, 40]))]) == 0
    runs = sorted((tmp_path / "host").iterdir())
    assert len(runs) == 2
    for run in runs:
        _keep_first_line(run)
    capsys.readouterr()

    reads.clear()
    assert main(["run", "--trust-code", "--resume", str(runs[1]), "--dry-run"]) == 0
    assert sorted(reads) == sorted(r.resolve() for r in runs)

    reads.clear()
    assert main(["run", "--trust-code", "--resume", str(runs[1])]) == 0
    assert [_by_the_sweep(reads, r) for r in runs] == [1, 1]
    assert capsys.readouterr().err.count("1 of 2 cases to run") == 2


def _said(err: str, start: str) -> list[str]:
    """The lines of stderr that hold `start`, from there on (after vae-bench's prefix and
    the device a host sweep names: "cpu time: ..." is "time: ...")."""
    lines = [line.removeprefix("vae-bench: ") for line in err.splitlines()]
    # how busy the host was differs from one run to the next (the suite runs beside it)
    return [
        line[line.index(start) :] for line in lines if start in line and "made on a busy host" not in line
    ]


@pytest.mark.slow
def test_a_host_sweep_says_what_a_single_device_sweep_says(tmp_path, monkeypatch, capsys):
    """The weights that fell back to random, the classes a dry run leaves unimported,
    and where the time went: in both, the host's once for all its GPUs, its time once
    for each."""
    single = tmp_path / "single.yaml"
    single.write_text(
        yaml.safe_dump(
            tiny_sweep(models=["tiny", "tiny-slow"], weights="auto", output=str(tmp_path / "single"))
        )
    )
    host = _host_sweep(tmp_path, weights="auto")
    fake_gpus(monkeypatch)
    capsys.readouterr()

    said = {}
    for name, sweep in (("single", single), ("host", host)):
        assert main(["run", str(sweep), "--dry-run"]) == 0
        dry = capsys.readouterr().err
        assert main(["run", "--trust-code", str(sweep)]) == 0
        said[name] = (dry, capsys.readouterr().err)

    (single_dry, single_err), (host_dry, host_err) = said["single"], said["host"]
    assert _said(single_dry, "warning:") == _said(host_dry, "warning:")
    assert any("is not imported by a dry run" in line for line in _said(host_dry, "warning:"))
    warned = _said(single_err, "warning:")
    assert warned == _said(host_err, "warning:")
    assert sum("pretrained weights not reachable" in line for line in warned) == 2  # tiny, tiny-slow
    assert len(_said(single_err, "time: ")) == 1 and len(_said(host_err, "time: ")) == 2
    assert len(_said(single_err, "cases to run on")) == 1 and len(_said(host_err, "cases to run on")) == 2


# -- the threads ---------------------------------------------------------------------------


def _wait_for_stop(stop):
    return "stopped" if stop.wait(30) else "never stopped"


def _ctrl_c_while(jobs, **kw):
    """side_by_side(jobs), Ctrl-C'd after 0.2 s; the handlers put back after (as the CLI does)."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def interrupt():
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    try:
        out = side_by_side(jobs, **kw)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # a second Ctrl-C waits its turn
        return out
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def test_ctrl_c_stops_every_part_and_holds_further_signals_off():
    stops = []
    t0 = time.monotonic()
    results, interrupted = _ctrl_c_while(
        [("a", _wait_for_stop), ("b", _wait_for_stop)], on_stop=lambda: stops.append(1)
    )
    assert interrupted and results == ["stopped", "stopped"] and stops == [1]
    assert time.monotonic() - t0 < 10


def test_a_part_that_does_not_stop_is_given_up_after_its_grace():
    """A fleet's task may never answer again: its part's result is None, the rest are kept."""
    never = threading.Event()
    t0 = time.monotonic()
    results, interrupted = _ctrl_c_while(
        [("a", _wait_for_stop), ("b", lambda stop: never.wait(30))], grace_s=0.3
    )
    assert interrupted and results == ["stopped", None] and time.monotonic() - t0 < 10
    never.set()
    assert side_by_side([("a", lambda stop: 1), ("b", lambda stop: 2)]) == ([1, 2], False)


class _NothingComesBack(Launcher):
    """A launcher whose parts never get a run (a fleet stopped before any node wrote one)."""

    several = True
    command = "fleet"

    def open(self) -> None:
        pass

    def display(self):
        return None

    def measure(self, part, progress, stop):
        stop.wait(30)
        return None


def test_ctrl_c_before_any_run_exists_still_ends_as_interrupted(capsys):
    launcher = _NothingComesBack([Part("kind-a"), Part("kind-b")])
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    try:
        launcher.launch()
        assert launcher.interrupted
        assert launcher.report() == Ending.STOPPED
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert "interrupted before any run was stored" in capsys.readouterr().err


def test_a_signal_while_the_threads_start_is_held_until_all_have_started():
    """Ctrl-C as the first job starts: every job still starts, and every one is stopped."""
    started = []

    def first(stop):
        started.append("a")
        os.kill(os.getpid(), signal.SIGINT)  # lands while the second thread is being started
        return _wait_for_stop(stop)

    def second(stop):
        started.append("b")
        return _wait_for_stop(stop)

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        results, interrupted = side_by_side([("a", first), ("b", second)])
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert interrupted and sorted(started) == ["a", "b"] and results == ["stopped", "stopped"]


def test_a_failed_job_gives_the_signal_handlers_back():
    before = signal.getsignal(signal.SIGINT)

    def boom(stop):
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        side_by_side([("a", boom), ("b", _wait_for_stop)])
    assert signal.getsignal(signal.SIGINT) is before
