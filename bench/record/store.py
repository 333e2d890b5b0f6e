"""Runs on disk (see ARCHITECTURE.md): one loader, `open_run`, and one writer, `RunWriter`.

A run is a folder with meta.json and cases.jsonl. Each finished case is appended as
one JSON line and flushed to disk at once, so a run that dies loses at most the case
in flight; meta.json is replaced atomically. A sweep that writes a run folder holds
its lock (an flock on `.lock`) until it ends, so that two sweeps never write one run.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
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
PLOTS = "plots"  # vae-bench plot's default folder
# Every file a sweep writes in its run folder: a resume refuses a run where one is not
# a regular file (a link would have it write wherever it points).
RUN_FILES = (META, CASES, TORN, LOCK, TABLES)
# Two sweeps of one name started in one second into one folder: the second gets "-2"...
MAX_SAME_SECOND = 100
MAX_RUN_ID = 200  # a run's id at most, so that "-N" still fits a file name
NAMED_LINES = 5  # a cases.jsonl of many unreadable lines: the first named, then a count


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
    # what a resume needs of this read besides the records (see RunWriter.reopen)
    read: _Read | None = field(default=None, repr=False, compare=False)

    @property
    def case_ids(self) -> set[str]:
        return {r.case_id for r in self.records}

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


def read_meta(run_dir: str | Path) -> RunMeta:
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


@dataclass
class _Read:
    """What a resume needs of a read besides the records (RunWriter.reopen)."""

    stamp: tuple = ()  # the files' before it: a resume reads again if they changed by its lock
    bad: list[tuple[int, bytes]] = field(default_factory=list)  # lines that are not records
    newer: BadInput | None = None  # the first record of a newer vae-bench: no resume moves it
    data: bytes | None = None  # cases.jsonl as read, kept only where a resume repairs it


def _cases_bytes(run_dir: str | Path) -> bytes | None:
    """cases.jsonl as stored (None where there is none): the one place it is read."""
    path, what = Path(run_dir) / CASES, "run's case records (cases.jsonl)"
    return files.read_bytes(path, what, MAX_CASES_BYTES) if files.regular_or_absent(path, what) else None


def _stamp(run_dir: str | Path) -> tuple:
    """What changes when either file of a run is written (meta.json is replaced: a new inode)."""
    stamp = []
    for name in (META, CASES):
        try:
            st = os.stat(Path(run_dir) / name, follow_symlinks=False)
            stamp.append((st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:  # the read that follows says what is wrong
            stamp.append(None)
    return tuple(stamp)


def _split(data: bytes) -> list[tuple[int, bytes]]:
    return [(n, line) for n, line in enumerate(data.split(b"\n"), 1) if line.strip()]


def _read_cases(run_dir: str | Path, strict: bool = False) -> tuple[list[CaseRecord], _Read, int]:
    """Every stored case, one per case_id, and what else the read found. A line that
    is not a case record is a warning naming its field (or, with `strict`, bad input);
    a run killed mid-write leaves at most one such line, the last. A case_id stored
    twice (two sweeps that wrote one run before runs were locked) is said once, and its
    last record is the one used."""
    path = Path(run_dir) / CASES
    data = _cases_bytes(run_dir)
    read = _Read()
    by_id: dict[str, CaseRecord] = {}
    repeated, skipped = 0, []
    for n, line in _split(data or b""):
        try:
            rec = read_record(line)
        except Invalid as exc:
            if strict:
                raise BadInput(path, f"line {n}", f"corrupt case record: {exc}") from None
            if isinstance(exc, Newer):
                read.newer = read.newer or BadInput(path, f"line {n}", exc.why)
            else:
                read.bad.append((n, line))
            skipped.append(f"line {n}: corrupt case record: {exc}")
            continue
        if rec.case_id in by_id:
            repeated += 1
        by_id[rec.case_id] = rec
    if read.bad or (data and not data.endswith(b"\n")):
        read.data = data
    said = [f"{path}: {line}; left out" for line in skipped[:NAMED_LINES]]
    if len(skipped) > NAMED_LINES:
        said.append(f"{path}: {len(skipped) - NAMED_LINES} more records left out")
    if repeated:
        said.append(
            f"{path}: {repeated} case record(s) repeat a case_id stored before; the last record "
            "of each case is used"
        )
    for text in said:
        warnings.warn(text, stacklevel=3)
    return list(by_id.values()), read, len(skipped)


def open_run(run_dir: str | Path, strict: bool = False, need_cases: bool = False) -> Run:
    """The one way to read a run folder. Bad input for a missing folder or meta.json,
    a corrupt meta.json, and, with `strict`, a corrupt case line (else a warning);
    with `need_cases`, for a run with no case stored."""
    stamp = _stamp(run_dir)
    meta = read_meta(run_dir)
    records, read, skipped = _read_cases(run_dir, strict=strict)
    if need_cases and not records:
        raise BadInput(Path(run_dir) / CASES, None, "no case stored in this run")
    read.stamp = stamp
    return Run(Path(run_dir), meta, records, skipped, read)


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
    return oldest_first(runs)


def oldest_first(runs: list[Run]) -> list[Run]:
    """Runs in the order they started (their ids where a start is not recorded)."""
    return sorted(runs, key=lambda r: (r.meta.started_at or "", r.run_id))


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
    of which takes the run's lock first. `run`: the run as read once, and appended since."""

    def __init__(self, run: Run, lock: RunLock | None = None):
        self.dir = run.path
        self.lock = lock
        self.run = run
        self.meta = run.meta
        self._at = {r.case_id: i for i, r in enumerate(run.records)}

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
        return cls(Run(run_dir, read_meta(run_dir), []), lock)

    @classmethod
    def reopen(cls, run: Run | str | Path) -> RunWriter:
        """The stored run, locked, its unreadable lines moved aside; from the Run a resume
        was planned from (read again only if a sweep wrote it since), or read here."""
        run_dir = run.path if isinstance(run, Run) else Path(run)
        for name in RUN_FILES:
            files.regular_or_absent(run_dir / name, f"run's {name}")
        if isinstance(run, Run) and run.read is not None and run.read.newer is not None:
            raise run.read.newer  # before the lock: a refused resume writes nothing
        lock = RunLock(run_dir)
        try:
            if not isinstance(run, Run) or run.read is None or _stamp(run_dir) != run.read.stamp:
                run = open_run(run_dir)
            writer = cls(run, lock)
            writer._repair(run.read)
            run.read = None  # spent: the writer changes the files from here on
        except BaseException:
            lock.release()
            raise
        return writer

    def close(self) -> None:
        if self.lock is not None:
            self.lock.release()

    def _repair(self, read: _Read) -> None:
        """Move every line that is not a case record aside, into cases.jsonl.torn with
        its bytes as they were, and rewrite cases.jsonl atomically without them, so
        that its cases run again and every reader can read the run."""
        path = self.dir / CASES
        if read.newer is not None:  # a newer vae-bench's record: not ours to move
            raise read.newer
        data = read.data
        if data is None:  # nothing to mend (made if absent)
            files.append(path, b"", self.dir)
            return
        if not read.bad:  # a whole record that only lacks its newline
            files.append(path, b"\n", self.dir)
            return
        lines, bad = _split(data), read.bad
        torn = [n for n, _ in bad if n == lines[-1][0] and not data.endswith(b"\n")]
        other = [n for n, _ in bad if n not in torn]
        said = []
        if torn:
            said.append(f"the last line was cut off when the run died (line {torn[0]})")
        if other:
            said.append(f"line(s) {', '.join(map(str, other))} are not case records")
        warnings.warn(f"{path}: {'; '.join(said)}; moved to {TORN}, and their cases run again", stacklevel=3)
        files.append(self.dir / TORN, b"".join(line + b"\n" for _, line in bad), self.dir)
        bad_numbers = {n for n, _ in bad}
        files.write_atomic(
            path, b"".join(line + b"\n" for n, line in lines if n not in bad_numbers), self.dir
        )
        self.run.skipped = 0

    def done_ids(self) -> set[str]:
        return set(self._at)

    def append(self, record: CaseRecord) -> None:
        files.append(self.dir / CASES, case_lines([record]), self.dir)
        # as a reader would find it: the last record of a case_id, in its first place
        at = self._at.setdefault(record.case_id, len(self.run.records))
        self.run.records[at : at + 1] = [record]

    def save_meta(self) -> None:
        """Write `self.meta` as it now is."""
        _write_meta(self.dir, self.meta)

    def add_warnings(self, messages) -> None:
        if self.meta.add_warnings(messages):
            self.save_meta()


def case_lines(records: list[CaseRecord]) -> bytes:
    """Records as cases.jsonl holds them, one JSON line each."""
    return b"".join(
        (json.dumps(r.to_json(), separators=(",", ":"), allow_nan=False) + "\n").encode() for r in records
    )


def _write_meta(run_dir: Path, meta: RunMeta) -> None:
    files.write_atomic(run_dir / META, json.dumps(meta.to_json(), indent=2, allow_nan=False) + "\n", run_dir)
