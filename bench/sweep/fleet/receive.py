"""The caller's side of a fleet run: a node's messages written into a local run folder,
so that it fills case by case as a local run's does and reads like one."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

from bench.errors import BadInput
from bench.files import parse_json_line, plain_name
from bench.record.run import RunMeta
from bench.record.sections import FleetSection
from bench.record.store import Run, RunWriter, read_record
from bench.strict import Invalid
from bench.sweep.launch import Outcome, Part

# meta.json keys that the node's run knows best once it has ended
# (time_spent too: the node's run holds every sweep into it)
FROM_NODE = (
    "status",
    "ended_at",
    "device",
    "environment",
    "models",
    "warnings",
    "resumed_at",
    "workers",
    "time_spent",
)


class LocalRun(Part):
    """One kind's run folder here, a part of the fleet's launch: new (made in `out` once
    the node's meta.json arrives), or the `stored` run, resumed (`opened` with its writer,
    its lock held). `task` holds what the node's task is given besides the stored run."""

    def __init__(
        self,
        kind: str,
        fleet: dict,
        out: Path | None = None,
        stored: Run | None = None,
        sweep_file: str | None = None,
        command: str | None = None,
        task: dict | None = None,
    ):
        super().__init__(kind, stored=stored)
        self.kind = kind
        self.sweep_file = sweep_file  # the caller's, not the node's scratch copy
        self.command = command
        self.fleet = FleetSection.from_json({**fleet, "kind": kind})  # fleet: what the caller knows
        self.out = out
        self.task = task or {}
        self.done: set[str] = set()
        self.spent_before = 0  # the sweeps whose time the run held when opened
        self.added = 0
        self.ended: dict | None = None
        self.on_case = None  # called with each new record

    def opened(self, writer: RunWriter) -> None:
        self.writer = writer
        self.done = writer.done_ids()
        self.spent_before = len(writer.meta.time_spent)

    def result(self) -> Outcome | None:
        """How the node's sweep ended, as far as the run here knows (None: no run came back)."""
        if self.writer is None:
            return None
        meta = self.writer.meta
        spent = meta.time_spent[-1] if len(meta.time_spent) > self.spent_before else None
        status = "complete" if meta.status == "complete" else "interrupted"
        return Outcome(status, self.planned, self.kept, self.added, spent)

    @property
    def dir(self) -> Path | None:
        return self.writer.dir if self.writer is not None else None

    def take(self, msg: tuple) -> None:
        what = msg[0]
        if what == "started":
            self.fleet = replace(
                self.fleet, node_pid=msg[1]["pid"], sweep_pid=msg[1]["sweep_pid"], host=msg[1]["host"]
            )
            if self.writer is not None:
                self._save_fleet()
        elif what == "meta" and self.writer is None:
            meta = _node_meta(msg[2])
            self.fleet = replace(self.fleet, node_command=meta.command)
            meta.config_file, meta.command = self.sweep_file, self.command or meta.command
            meta.fleet = self.fleet
            # the node names the run: a plain folder name, or bad input (never a path)
            self.writer = RunWriter.create(
                self.out, plain_name(msg[1], self.out, "fleet node's run id"), meta
            )
        elif what == "case":
            try:
                record = read_record(str(msg[1]).encode())
            except Invalid as exc:
                warnings.warn(
                    f"{self.kind}: the node sent a case record that is not one ({exc}); left out",
                    stacklevel=2,
                )
                return
            if self.writer is None or record.case_id in self.done:
                return  # what the run holds already (a resume sends it again)
            self.writer.append(record)
            self.done.add(record.case_id)
            self.added += 1
            if self.on_case:
                self.on_case(self, record)
        elif what == "end":
            self.ended = msg[1]
            if self.writer is not None and msg[1].get("meta"):
                self._merge(_node_meta(msg[1]["meta"]))

    def _merge(self, node: RunMeta) -> None:
        meta = self.writer.meta
        for key in FROM_NODE:
            setattr(meta, key, getattr(node, key))
        self._save_fleet()

    def _save_fleet(self) -> None:
        self.writer.meta.fleet = self.fleet
        self.writer.save_meta()

    def lost(self, why: str) -> None:
        """The node or its task died: what arrived is kept; the run is marked interrupted."""
        if self.writer is None:
            return
        meta = self.writer.meta
        meta.status = "interrupted"
        meta.add_warnings([f"fleet: {why}; resume with vae-bench fleet --resume {self.writer.dir}"])
        self._save_fleet()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _node_meta(text: str) -> RunMeta:
    """The meta.json a node sent, read as strictly as one on disk."""
    try:
        return RunMeta.from_json(parse_json_line(str(text).encode()))
    except ValueError as exc:  # Invalid included
        raise BadInput("fleet node's meta.json", None, str(exc)) from None
