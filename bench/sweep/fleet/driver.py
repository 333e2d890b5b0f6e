"""The fleet, driven from the caller's machine: connect to Ray, find the kinds, and the
fleet's launcher: one task per kind (or per run to resume), each task's stream taken into
its local run, all kinds at once. The only module that imports Ray."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import ray

from bench.sweep.fleet.kinds import Kind, choose, kinds_of
from bench.sweep.fleet.receive import LocalRun
from bench.sweep.fleet.remote import run_sweep
from bench.sweep.launch import Ending, Launcher, Outcome, finished


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


class Fleet(Launcher):
    """Each kind's run measured by a Ray task on a node of that kind (LocalRun: the run
    here); Ctrl-C cancels every task, and what arrived is kept."""

    command = "fleet"
    voice = "vae-bench fleet"
    several = True
    grace_s = 10.0  # a cancelled task's stream may never end

    def __init__(self, parts: list[LocalRun], kinds: dict[str, Kind], trust_code: bool = False, out=None):
        super().__init__(parts)
        self.kinds = kinds  # by part name
        self.trust_code = trust_code
        self.out = out
        self.refs: list = []
        self.lock = threading.Lock()

    def open(self) -> None:
        from bench.record.store import RunWriter

        for part in self.parts:
            if part.stored is not None:
                part.opened(RunWriter.reopen(part.stored))
                self.say(f"resuming {part.dir} on {part.kind}")
        if self.out is not None:
            self.say(
                f"{len(self.parts)} kind(s): {', '.join(p.kind for p in self.parts)}; runs into {self.out}"
            )

    def display(self) -> Callable:
        """A line per case as it arrives: a node's plan, and so the count, is the node's."""
        from bench.sweep.progress import outcome_text

        def show(event, case, record, tag=None):
            if event == "done":
                self.say(f"[{tag}] {case.label}: {outcome_text(record)}")

        show.close = lambda: None
        return show

    def measure(self, part: LocalRun, progress: Callable, stop: threading.Event) -> Outcome | None:
        task = dict(part.task, trust_code=self.trust_code)
        if part.writer is not None:
            task["stored"] = stored_files(part.writer)
        gen = _task(self.kinds[part.name]).remote(**task)
        self.refs.append(gen)
        if stop.is_set():  # stopped while this one started: on_stop may have missed it
            ray.cancel(gen, force=True)
        part.on_case = lambda run, record: progress("done", record.case, record)
        try:
            for ref in gen:
                with self.lock:
                    part.take(ray.get(ref))
        except Exception as exc:  # the node, its worker or the task died
            with self.lock:
                part.lost(
                    f"the task on {part.kind} ended: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                )
        else:
            with self.lock:
                if part.ended is None:
                    part.lost(f"the task on {part.kind} ended without its last message")
        return part.result()

    def on_stop(self) -> None:
        for ref in list(self.refs):
            ray.cancel(ref, force=True)

    def ended(self) -> None:
        if not self.interrupted:
            return
        with self.lock:  # what arrived is kept; each run not ended is marked interrupted
            for part in self.parts:
                if part.ended is None or (part.writer and part.writer.meta.status != "complete"):
                    part.lost("stopped by Ctrl-C")
                part.outcome = part.result()

    def resume_dirs(self) -> list[str]:
        """Each run to resume by name (a fleet's runs are resumed one by one), the complete left out."""
        return [str(p.dir) for p in self.parts if p.dir is not None and not p.complete]

    def report_part(self, part: LocalRun) -> Ending:
        from bench.analysis.summary import summary_table

        print(f"\n== {part.kind}")
        if part.run is None:
            tail = (part.ended or {}).get("tail", "").strip()
            print(f"no run came back{': ' + tail.splitlines()[-1] if tail else ''}")
            return Ending.FAILED
        if part.complete:
            code = finished(part.run)  # the summary, tables.md, and errors said
        else:
            print(summary_table(part.run.records))
            print(f"\n{part.run.meta.status}: resume with vae-bench fleet --resume {part.dir}")
            code = Ending.STOPPED
        print(f"{part.added} case(s) of it arrived now")
        return code

    def epilogue(self) -> None:
        from bench.docs.spec import specs_of_sweep

        runs = [p.run for p in self.parts if p.run is not None]
        labels = [r.device_label for r in runs]
        alike = sorted({x for x in labels if labels.count(x) > 1})
        if alike:
            print(
                f"\nnote: several kinds' runs name their device alike ({', '.join(alike)}): their rows "
                "collide in one table; new fleet runs made with --label-by-kind name each by its kind"
            )
        if runs:
            runs_text = " ".join(str(r.path) for r in runs)
            print("\nthe tables of every kind, from these runs:")
            print(f"  vae-bench tables {runs_text}")
            specs = list(dict.fromkeys(s for r in runs for s in specs_of_sweep(r.meta.config_file)))
            for spec in specs or ["SPEC"]:
                print(f"  vae-bench docs update PAGE --spec {_shown_path(spec)} {runs_text}")


def _shown_path(path) -> str:
    """A path as short as the user would type it: relative to here when below here."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def stored_files(writer) -> dict:
    """The run a node resumes, as text: its meta.json, and its records as the writer
    holds them (cases.jsonl is not read again)."""
    from bench.files import read_text
    from bench.record.store import META, case_lines

    return {
        "run_id": writer.dir.name,
        "meta": read_text(writer.dir / META, "run's meta.json"),
        "cases": case_lines(writer.run.records).decode(),
    }
