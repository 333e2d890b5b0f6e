"""Runs on disk (see DESIGN.md): one loader, `open_run`, and one writer, `RunWriter`.

A run is a folder with meta.json and cases.jsonl. Each finished case is appended as
one JSON line and flushed to disk at once, so a run that dies loses at most the case
in flight; meta.json is replaced atomically. A sweep that writes a run folder holds
its lock (an flock on `.lock`) until it ends, so that two sweeps never write one run.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from bench import files
from bench.errors import BadInput
from bench.files import MAX_CASES_BYTES, slug
from bench.record.run import CaseRecord, RunMeta
from bench.strict import Invalid, Newer

if TYPE_CHECKING:
    import pandas as pd

META = "meta.json"
CASES = "cases.jsonl"
TORN = CASES + ".torn"
LOCK = ".lock"
TABLES = "tables.md"
# Every file a sweep writes in its run folder: a resume refuses a run where one is not a
# regular file (a link would have it write wherever the link points).
RUN_FILES = (META, CASES, TORN, LOCK, TABLES)
# Two sweeps of one name started in the same second into one folder: the second
# gets "-2", and so on.
MAX_SAME_SECOND = 100


# A run's id is at most this long, so that "-N" still fits a file name.
MAX_RUN_ID = 200
# A run whose cases.jsonl holds many unreadable lines names the first ones, then counts.
NAMED_LINES = 5


def new_run_id(device_name: str, config_name: str, when: datetime | None = None) -> str:
    when = when or datetime.now(timezone.utc)
    return slug(f"{when:%Y%m%d-%H%M%S}-{slug(device_name)}-{slug(config_name)}")[:MAX_RUN_ID].strip("-")


# -- reading ------------------------------------------------------------------------------


@dataclass
class Run:
    """One run folder as read: its meta.json and its records, one per case_id."""

    path: Path
    meta: RunMeta
    records: list[CaseRecord]
    skipped: int = 0  # lines of cases.jsonl that are not case records, left out

    @property
    def run_id(self) -> str:
        return self.meta.run_id or self.path.name

    @property
    def device_kind(self) -> str:
        """ "cuda:0", "cpu", ...: what the run measured on."""
        kind = self.meta.device_kind or (self.records[0].device if self.records else None)
        return str(kind or "unknown")

    @property
    def device_name(self) -> str:
        return str(self.meta.device_name or self.meta.device_kind or "unknown device")

    @property
    def device_label(self) -> str:
        """The device as tables and history name it (see RunMeta.device_label)."""
        return str(self.meta.device_label or self.device_name)

    @property
    def unfinished(self) -> str | None:
        """What a reader of a run that holds part of its sweep should hear: stopped
        (Ctrl-C, or killed with no word: still `running`, its lock free), or still
        being written."""
        status = self.meta.status
        if status == "running":
            held = lock_held(self.path)
            if held:
                status = "still running (a sweep is writing it)"
            elif held is False:
                status = "stopped without a word (the sweep was killed, or its machine went down)"
            else:
                return None
        elif status != "interrupted":
            return None
        planned = f" of {self.meta.cases_planned}" if self.meta.cases_planned else ""
        said = f"{self.path}: {status}, {len(self.records)}{planned} cases stored"
        if status.startswith("still"):
            return said
        command = "fleet" if self.meta.fleet is not None else "run"
        return f"{said}; resume with: vae-bench {command} --resume {self.path}"

    @property
    def left_out(self) -> str | None:
        """What a summary of the run should say of the records it could not read."""
        if not self.skipped:
            return None
        return (
            f"{self.path / CASES}: {self.skipped} stored line(s) are not case records (see the "
            "warnings); this summary leaves them out"
        )

    @property
    def is_gpu(self) -> bool:
        return self.device_kind.startswith("cuda")

    @property
    def imported(self) -> bool:
        """Read from published tables: medians and percentages only, bytes approximate."""
        return self.meta.imported is not None

    def frame(self) -> pd.DataFrame:
        """One row per case, nested fields flattened (`time_s.median`, `mem.percent`)."""
        import pandas as pd

        return pd.DataFrame([{"run": self.run_id, **r.flat()} for r in self.records])


def _read_meta(run_dir: str | Path) -> RunMeta:
    path = Path(run_dir) / META
    if not Path(run_dir).is_dir():
        raise BadInput(run_dir, None, "no such run folder")
    if not files.regular_or_absent(path, "run's meta.json"):
        raise BadInput(path, None, "missing: not a vae-bench run folder")
    try:
        return RunMeta.from_json(files.read_json(path, "run's meta.json"))
    except Invalid as exc:
        raise BadInput(path, exc.field, exc.why) from None


def read_record(line: bytes) -> CaseRecord:
    """One cases.jsonl line as a record; Invalid (naming the field) when it is not one."""
    try:
        raw = files.parse_json_line(line)
    except ValueError as exc:
        raise Invalid("", f"not JSON ({exc})") from None
    return CaseRecord.from_json(raw)


def _lines(run_dir: str | Path) -> list[tuple[int, bytes]]:
    """(line number, bytes) of every non-blank line of cases.jsonl."""
    path = Path(run_dir) / CASES
    if not files.regular_or_absent(path, "run's case records (cases.jsonl)"):
        return []
    return _split(files.read_bytes(path, "run's case records (cases.jsonl)", MAX_CASES_BYTES))


def _split(data: bytes) -> list[tuple[int, bytes]]:
    return [(n, line) for n, line in enumerate(data.split(b"\n"), 1) if line.strip()]


def _read_cases(run_dir: str | Path, strict: bool = False) -> tuple[list[CaseRecord], int]:
    """Every stored case, one per case_id, and the count of lines left out. A line that
    is not a case record is a warning naming its field (or, with `strict`, bad input);
    a run killed mid-write leaves at most one such line, the last. A case_id stored
    twice (two sweeps that wrote one run before runs were locked) is said once, and its
    last record is the one used."""
    path = Path(run_dir) / CASES
    by_id: dict[str, CaseRecord] = {}
    repeated = 0
    skipped = []
    for n, line in _lines(run_dir):
        try:
            rec = read_record(line)
        except Invalid as exc:
            if strict:
                raise BadInput(path, f"line {n}", f"corrupt case record: {exc}") from None
            skipped.append(f"line {n}: corrupt case record: {exc}")
            continue
        if rec.case_id in by_id:
            repeated += 1
        by_id[rec.case_id] = rec
    for said in skipped[:NAMED_LINES]:
        warnings.warn(f"{path}: {said}; left out", stacklevel=3)
    if len(skipped) > NAMED_LINES:
        warnings.warn(f"{path}: {len(skipped) - NAMED_LINES} more records left out", stacklevel=3)
    if repeated:
        warnings.warn(
            f"{path}: {repeated} case record(s) repeat a case_id stored before; the last record "
            "of each case is used",
            stacklevel=3,
        )
    return list(by_id.values()), len(skipped)


def open_run(run_dir: str | Path, strict: bool = False, need_cases: bool = False) -> Run:
    """The one way to read a run folder. Bad input for a missing folder or meta.json,
    a corrupt meta.json, and, with `strict`, a corrupt case line (else a warning);
    with `need_cases`, for a run with no case stored."""
    meta = _read_meta(run_dir)
    records, skipped = _read_cases(run_dir, strict=strict)
    if need_cases and not records:
        raise BadInput(Path(run_dir) / CASES, None, "no case stored in this run")
    return Run(Path(run_dir), meta, records, skipped)


def find_runs(root: str | Path) -> list[Run]:
    """Every run folder below `root` with cases stored, oldest first. A folder that
    does not read is left out with a warning."""
    root = Path(root)
    if not root.is_dir():
        raise BadInput(root, None, "no such results folder")
    try:
        found = sorted(root.rglob(META))
    except RecursionError:
        raise BadInput(root, None, "nested too deeply to search for runs") from None
    runs = []
    for meta_path in found:
        try:
            runs.append(open_run(meta_path.parent, strict=True, need_cases=True))
        except BadInput as exc:
            warnings.warn(f"left out: {exc}", stacklevel=2)
    if not runs:
        raise BadInput(root, None, "no vae-bench run with stored cases in this folder")
    runs.sort(key=lambda r: (r.meta.started_at or "", r.run_id))
    return runs


# -- writing ------------------------------------------------------------------------------


def lock_held(run_dir: str | Path) -> bool | None:
    """Whether a sweep holds the run's lock now; None where that cannot be told."""
    return files.lock_held(Path(run_dir) / LOCK)


class RunLock(files.Lock):
    """The lock a sweep holds on its run folder while it writes it (`.lock`)."""

    def __init__(self, run_dir: Path):
        super().__init__(
            Path(run_dir) / LOCK,
            "another vae-bench is writing this run (wait for it to end, or stop it and resume)",
        )


class RunWriter:
    """Writes one run folder; made by `create` (a new run) or `reopen` (a resume), each
    of which takes the run's lock first."""

    def __init__(self, run_dir: Path, lock: RunLock | None = None):
        self.dir = Path(run_dir)
        self.lock = lock
        self.meta = _read_meta(self.dir)

    @classmethod
    def create(cls, root: str | Path, run_id: str, meta: RunMeta, unique: bool = True) -> RunWriter:
        """A new run folder `root/run_id`; with `unique`, `run_id-2`, `-3`, ... when
        that one exists (two sweeps in one second), else bad input."""
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise BadInput(root, None, "is a file; runs go into a folder (--out, or the sweep's output)")
        root.mkdir(parents=True, exist_ok=True)
        for n in range(1, MAX_SAME_SECOND + 1 if unique else 2):
            name = run_id if n == 1 else f"{run_id}-{n}"
            try:
                run_dir = files.make_folder(root, name)
                break
            except FileExistsError:
                continue
        else:
            raise BadInput(root / run_id, None, "exists; remove it or write into another --out")
        lock = RunLock(run_dir)
        meta.run_id = name
        _write_meta(run_dir, meta)
        files.append(run_dir / CASES, b"", run_dir)
        return cls(run_dir, lock)

    @classmethod
    def reopen(cls, run_dir: str | Path) -> RunWriter:
        for name in RUN_FILES:
            files.regular_or_absent(Path(run_dir) / name, f"run's {name}")
        lock = RunLock(Path(run_dir))
        writer = cls(Path(run_dir), lock)
        writer._repair()
        return writer

    def close(self) -> None:
        if self.lock is not None:
            self.lock.release()

    def _repair(self) -> None:
        """Move every line that is not a case record aside, into cases.jsonl.torn with
        its bytes as they were, and rewrite cases.jsonl atomically without them, so
        that its cases run again and every reader can read the run."""
        path = self.dir / CASES
        if not files.regular_or_absent(path, "run's case records (cases.jsonl)"):
            files.append(path, b"", self.dir)
            return
        data = files.read_bytes(path, "run's case records (cases.jsonl)", MAX_CASES_BYTES)
        lines = _split(data)
        bad = []
        for n, line in lines:
            try:
                read_record(line)
            except Newer as exc:  # a newer vae-bench's record: not ours to move
                raise BadInput(path, f"line {n}", exc.why) from None
            except Invalid:
                bad.append((n, line))
        if not bad:
            if data and not data.endswith(b"\n"):  # a whole record that only lacks its newline
                files.append(path, b"\n", self.dir)
            return
        last = lines[-1][0]
        torn = [n for n, _ in bad if n == last and not data.endswith(b"\n")]
        other = [n for n, _ in bad if n not in torn]
        said = []
        if torn:
            said.append(f"the last line was cut off when the run died (line {torn[0]})")
        if other:
            said.append(f"line(s) {', '.join(map(str, other))} are not case records")
        warnings.warn(f"{path}: {'; '.join(said)}; moved to {TORN}, and their cases run again", stacklevel=2)
        files.append(self.dir / TORN, b"".join(line + b"\n" for _, line in bad), self.dir)
        bad_numbers = {n for n, _ in bad}
        files.write_atomic(
            path, b"".join(line + b"\n" for n, line in lines if n not in bad_numbers), self.dir
        )

    def done_ids(self) -> set[str]:
        return {r.case_id for r in _read_cases(self.dir)[0]}

    def append(self, record: CaseRecord) -> None:
        line = json.dumps(record.to_json(), separators=(",", ":"), allow_nan=False) + "\n"
        files.append(self.dir / CASES, line.encode(), self.dir)

    def save_meta(self) -> None:
        """Write `self.meta` as it now is."""
        _write_meta(self.dir, self.meta)

    def add_warnings(self, messages) -> None:
        if self.meta.add_warnings(messages):
            self.save_meta()


def _write_meta(run_dir: Path, meta: RunMeta) -> None:
    files.write_atomic(run_dir / META, json.dumps(meta.to_json(), indent=2, allow_nan=False) + "\n", run_dir)
