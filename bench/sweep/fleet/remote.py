"""What runs on a fleet node: vae-bench itself, in a subprocess, into a scratch folder,
with every case it stores sent back as it lands. Plain Python (the driver wraps it in a
Ray task): it yields messages, and the caller's side writes them into local runs.

Messages: ("started", {pid, host}), ("meta", run_id, meta.json text) once the run
folder exists, ("case", line) for each line of cases.jsonl, ("end", {meta, rc, tail}).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

from bench.files import slug
from bench.record.store import CASES, META

POLL_S = 0.2
TAIL_CHARS = 4000


def _die_with_parent() -> None:
    """The sweep stops (SIGTERM: cleanly, what it has kept) when the task's process dies,
    so that a killed task leaves nothing measuring on the node."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def run_sweep(
    sweep: dict | None = None, stored: dict | None = None, trust_code: bool = False
) -> Iterator[tuple]:
    """A new run of `sweep` (a sweep as a dict), or the resume of `stored`
    ({run_id, meta, cases}: a run folder's files as text); `trust_code` is the caller's
    --trust-code, passed on to the node's vae-bench."""
    work = Path(tempfile.mkdtemp(prefix="vae-bench-fleet-"))
    try:
        if stored is not None:
            run_dir = work / slug(stored["run_id"], fallback="run")  # a scratch name: never a path
            run_dir.mkdir()
            (run_dir / META).write_text(stored["meta"])
            (run_dir / CASES).write_text(stored["cases"])
            args = ["run", "--resume", str(run_dir)]
        else:
            path = work / "sweep.yaml"
            path.write_text(yaml.safe_dump(sweep, sort_keys=False))
            args = ["run", str(path), "--out", str(work / "runs")]
            run_dir = None
        if trust_code:
            args.append("--trust-code")
        log = open(work / "output.log", "w+")
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        yield ("started", {"pid": os.getpid(), "sweep_pid": proc.pid, "host": socket.gethostname()})
        sent_meta, offset = False, 0
        while True:
            ended = proc.poll() is not None
            if run_dir is None:
                made = [p for p in (work / "runs").glob("*") if (p / META).exists()]
                run_dir = made[0] if made else None
            if run_dir is not None:
                if not sent_meta and (run_dir / META).exists():
                    yield ("meta", run_dir.name, (run_dir / META).read_text())
                    sent_meta = True
                offset, lines = _new_lines(run_dir / CASES, offset)
                for line in lines:
                    yield ("case", line)
            if ended:
                break
            time.sleep(POLL_S)
        log.seek(0)
        tail = log.read()[-TAIL_CHARS:]
        log.close()
        meta = (run_dir / META).read_text() if run_dir and (run_dir / META).exists() else None
        yield ("end", {"meta": meta, "rc": proc.returncode, "tail": tail})
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _new_lines(path: Path, offset: int) -> tuple[int, list[str]]:
    """The whole lines written past `offset` (a line still being written waits)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return offset, []
    cut = data.rfind(b"\n") + 1
    lines = [line.decode() for line in data[:cut].splitlines() if line.strip()]
    return offset + cut, lines
