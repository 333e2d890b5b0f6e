"""The fleet, driven from the caller's machine: connect to Ray, find the kinds, start one
task per kind (or per run to resume), and take each task's stream into its local run,
all kinds at once. The only module that imports Ray."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import ray

from bench.sweep.fleet.kinds import Kind, choose, kinds_of
from bench.sweep.fleet.receive import LocalRun
from bench.sweep.fleet.remote import run_sweep


class FleetError(Exception):
    pass


# A head started where a token exists (~/.ray/auth_token) has token authentication on
# (Ray 2.60); a caller connecting to it needs RAY_AUTH_MODE=token and the token.
AUTH_HINT = (
    "a cluster with token authentication needs its token here: "
    "export RAY_AUTH_TOKEN=<the output of `ray get-auth-token` on the head>"
)


def connect(address: str | None) -> None:
    if ray.is_initialized():
        return  # a caller (a test, a notebook) holds a connection already
    _reachable(address)
    try:
        ray.init(address=address, log_to_driver=False, logging_level="ERROR")
    except ConnectionError as exc:
        hint = "" if os.environ.get("RAY_AUTH_MODE", "").lower() == "token" else f"; {AUTH_HINT}"
        raise FleetError(f"{str(exc).splitlines()[0] if str(exc) else 'no connection'}{hint}") from None


def _reachable(address: str | None, timeout_s: float = 5.0) -> None:
    """Fail at once on an address nothing answers at: Ray itself retries for minutes."""
    import socket

    if not address or address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise FleetError(f"{address!r} is not HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise FleetError(f"nothing answers at {address} ({exc.strerror or exc})") from None


def cluster_kinds() -> dict[str, Kind]:
    return kinds_of(ray.nodes())


def pick(wanted: list[str] | None) -> list[Kind]:
    found = cluster_kinds()
    chosen, missing = choose(found, wanted)
    if missing:
        offered = ", ".join(sorted(found)) or "none"
        raise FleetError(f"no node offers {', '.join(missing)}; the cluster offers: {offered}")
    if not chosen:
        raise FleetError(
            "no node of the cluster names its GPU kind: start each GPU node with "
            "`ray start --address HEAD:6379 --resources '{\"accelerator_type:RTX-4090\": 1}'` "
            "(or let Ray detect it)"
        )
    return chosen


def _task(kind: Kind):
    # one GPU of that kind when the kind's nodes have GPUs (Ray then sets
    # CUDA_VISIBLE_DEVICES, so the sweep's cuda:0 is that GPU); a sliver of the kind's
    # resource pins the task to those nodes. No retry: a retry would measure anew into
    # another run; `fleet --resume` continues the same one.
    return ray.remote(run_sweep).options(
        num_gpus=1 if kind.gpus else 0,
        resources={kind.resource: 0.001},
        max_retries=0,
        name=f"vae-bench {kind.name}",
    )


class Fleet:
    """Tasks in flight and their local runs; `wait` takes the streams until each ends,
    fails, or Ctrl-C."""

    def __init__(self):
        self.runs: list[LocalRun] = []
        self.refs: list = []
        self.threads: list[threading.Thread] = []
        self.say = lambda text: print(f"vae-bench fleet: {text}", file=sys.stderr, flush=True)
        self.lock = threading.Lock()

    def start(self, kind: Kind, run: LocalRun, **task_args) -> None:
        gen = _task(kind).remote(**task_args)
        run.on_case = self._progress
        self.runs.append(run)
        self.refs.append(gen)
        t = threading.Thread(target=self._take, args=(gen, run), daemon=True, name=f"fleet-{kind.name}")
        self.threads.append(t)
        t.start()

    def _take(self, gen, run: LocalRun) -> None:
        try:
            for ref in gen:
                with self.lock:
                    run.take(ray.get(ref))
        except Exception as exc:  # the node, its worker or the task died
            with self.lock:
                run.lost(
                    f"the task on {run.kind} ended: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                )
            return
        with self.lock:
            if run.ended is None:
                run.lost(f"the task on {run.kind} ended without its last message")

    def _progress(self, run: LocalRun, record) -> None:
        from bench.sweep.progress import outcome_text

        self.say(f"[{run.kind}] {record.case.label}: {outcome_text(record)}")

    def wait(self) -> bool:
        """True when every stream ended; False on Ctrl-C (the tasks are cancelled, what
        arrived is kept and each run marked interrupted)."""
        try:
            while any(t.is_alive() for t in self.threads):
                time.sleep(0.2)
            return True
        except KeyboardInterrupt:
            for ref in self.refs:
                ray.cancel(ref, force=True)
            deadline = time.monotonic() + 10
            for t in self.threads:
                t.join(max(0.0, deadline - time.monotonic()))
            with self.lock:
                for run in self.runs:
                    if run.ended is None or (run.writer and run.writer.meta.status != "complete"):
                        run.lost("stopped by Ctrl-C")
            return False

    def close(self) -> None:
        for run in self.runs:
            run.close()


def stored_files(run_dir: Path) -> dict:
    from bench.files import MAX_CASES_BYTES, read_text, regular_or_absent
    from bench.record.store import CASES, META

    cases = run_dir / CASES
    return {
        "run_id": run_dir.name,
        "meta": read_text(run_dir / META, "run's meta.json"),
        "cases": read_text(cases, "run's case records", limit=MAX_CASES_BYTES)
        if regular_or_absent(cases, "run's case records")
        else "",
    }
