"""`vae-bench run` in a layer's interpreter, with this checkout's vae-bench first on its
path: the whole run (planning, meta.json, the workers) imports what the layer holds.

The child runs in a session of its own; a Ctrl-C (or SIGTERM) that reaches us is passed
on to it once, and we wait for it to store what it finished and stop, as `vae-bench
run` does, and never kill it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import bench
from bench.errors import BadInput

CHECKOUT = Path(bench.__file__).resolve().parent.parent
EXIT_INTERRUPTED = 130


class Interrupted(Exception):
    """The sweep in a layer stopped on Ctrl-C; what it finished is stored."""

    def __init__(self, run: Path | None):
        self.run = run
        super().__init__("interrupted")


@dataclass(frozen=True)
class Ran:
    run: Path | None  # the run folder it reported (None when it failed before one)
    status: int  # vae-bench run's exit status: 0 every case ok or oom, 1 some failed, 2 bad input
    error: str  # its last line on stderr

    @property
    def measured(self) -> bool:
        """The sweep ran to its end (some cases may have failed)."""
        return self.run is not None and self.status in (0, 1)


def run_sweep(
    python: Path, sweep: str, out: Path, trust_code: bool = False, resume: Path | None = None
) -> Ran:
    """A new run of `sweep` into `out`, or the rest of the run `resume`."""
    command = [str(python), "-m", "bench", "run", "--format", "json"]
    command += ["--resume", str(resume)] if resume else [sweep, "--out", str(out)]
    if trust_code:
        command.append("--trust-code")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(CHECKOUT), *filter(None, [env.get("PYTHONPATH")])])
    # A session of its own: the terminal's Ctrl-C reaches only us, and the child gets
    # exactly one SIGINT from us (a second one could land in the middle of its stop).
    child = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    stdout, stderr, interrupted = _wait(child)
    run = _run_folder(stdout)
    if interrupted or child.returncode == EXIT_INTERRUPTED:
        raise Interrupted(run or resume)
    last = next((ln for ln in reversed(stderr.splitlines()) if ln.strip()), "")
    return Ran(run, child.returncode, last.removeprefix("vae-bench: error: ").strip())


def run_slot(owner, n: int, python: Path, stored: Path | None, entry) -> Ran:
    """The sweep of `owner` (a Matrix or a Bisect) for its environment or candidate n
    (`entry`, whose `run` the state keeps), into runs/<n>/, or the rest of its `stored`
    run. On Ctrl-C the entry gets the run's name before the state is saved. A stored
    run that cannot be finished is bad input: it is there, and resuming is the fix."""
    from bench.versions import state

    owner.sweep.check(owner.folder)  # each run reads it again
    try:
        ran = run_sweep(python, str(owner.sweep.path), state.slot(owner.folder, n), owner.trust_code, stored)
    except Interrupted as stop:
        if stop.run is not None:
            entry.run = stop.run.name
        owner.save()
        raise
    if stored is not None and not ran.measured:
        raise BadInput(stored, None, f"vae-bench run --resume failed: {ran.error}")
    return ran


def _wait(child: subprocess.Popen) -> tuple[str, str, bool]:
    """The child's stdout and stderr once it has ended, its stderr shown as it comes
    (its progress lines); and whether we were interrupted while it ran."""
    err_lines: list[str] = []

    def relay():
        for line in child.stderr:
            err_lines.append(line)
            print(line, end="", file=sys.stderr, flush=True)

    reader = threading.Thread(target=relay, daemon=True)
    reader.start()
    interrupted = False
    out = ""
    while True:
        try:
            out += child.stdout.read()
            child.wait()
            reader.join()
            break
        except KeyboardInterrupt:
            if not interrupted and child.poll() is None:
                child.send_signal(signal.SIGINT)
            interrupted = True
    return out, "".join(err_lines), interrupted


def _run_folder(stdout: str) -> Path | None:
    try:
        doc = json.loads(stdout)
        runs = doc["data"]["runs"]
    except (ValueError, KeyError, TypeError):
        return None
    return Path(runs[0]) if isinstance(runs, list) and runs and isinstance(runs[0], str) else None
