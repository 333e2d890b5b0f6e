"""Driving the CLI from tests: in a subprocess (to send it signals), waiting for its
run folder to fill, and reading its one-line errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from bench.record.store import CASES, META
from tests.conftest import ROOT


def start(args, env: dict | None = None, **kw) -> subprocess.Popen:
    """`python -m bench ARGS` in the repository, offline; `env` changes the environment
    (a value of None takes a variable out)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **(env or {})}
    env = {k: v for k, v in env.items() if v is not None}
    return subprocess.Popen(
        [sys.executable, "-m", "bench", *map(str, args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def wait_for_run(runs: Path, proc, timeout: float = 60.0) -> Path:
    """The run folder a sweep makes under `runs`, once its meta.json is written."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        folders = [p for p in runs.glob("*") if (p / META).exists()] if runs.exists() else []
        if folders:
            return folders[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"no run folder in {runs} after {timeout} s")


def wait_for_cases(run: Path, n: int, proc, timeout: float = 60.0) -> None:
    """Until `run` holds n case lines (the sweep in `proc` still going)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        path = run / CASES
        if path.exists() and sum(1 for line in path.read_bytes().splitlines() if line.strip()) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} cases after {timeout} s")


def only_run(runs: Path) -> Path:
    folders = [p for p in runs.iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


def one_error_line(capsys) -> str:
    """The one line a command printed for bad input, and no traceback."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("vae-bench: error:") and "Traceback" not in err
    return lines[0]


@contextmanager
def no_hang(seconds: int = 60):
    """Fail instead of hanging: a command that blocks (on a FIFO, say) is interrupted."""

    def stop(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def fake_gpus(monkeypatch) -> None:
    """Every device a sweep asks for (cuda:0, cuda:1) resolves to this CPU, so that the
    runs of a host sweep go side by side here."""
    from bench.sweep import plan
    from bench.sweep.config import from_dict

    real = plan.resolve_device
    monkeypatch.setattr(
        plan, "resolve_device", lambda sweep: real(from_dict({**sweep.to_dict(), "device": "cpu"}))
    )
