"""Runs on disk (see DESIGN.md): one loader, `open_run`, and one writer, `RunWriter`.

A run is a folder with meta.json and cases.jsonl. Each finished case is appended as
one JSON line and flushed to disk at once, so a run that dies loses at most the case
in flight; meta.json is replaced atomically. A sweep that writes a run folder holds
its lock (an flock on `.lock`) until it ends, so that two sweeps never write one run.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from bench.errors import BadInput
from bench.files import read_text, write_atomic
from bench.record import CaseRecord, RunMeta

if TYPE_CHECKING:
    import pandas as pd

META = "meta.json"
CASES = "cases.jsonl"
TORN = CASES + ".torn"
LOCK = ".lock"
# Two sweeps of one name started in the same second into one folder: the second
# gets "-2", and so on.
MAX_SAME_SECOND = 100


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "device"


def new_run_id(device_name: str, config_name: str, when: datetime | None = None) -> str:
    when = when or datetime.now(timezone.utc)
    return f"{when:%Y%m%d-%H%M%S}-{slug(device_name)}-{slug(config_name)}"


# -- reading ------------------------------------------------------------------------------


@dataclass
class Run:
    """One run folder as read: its meta.json and its records, one per case_id."""

    path: Path
    meta: RunMeta
    records: list[CaseRecord]

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
        command = "fleet" if self.meta.extra.get("fleet") else "run"
        return f"{said}; resume with: vae-bench {command} --resume {self.path}"

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
    if not path.exists():
        raise BadInput(path, None, "missing: not a vae-bench run folder")
    try:
        raw = json.loads(read_text(path, "run's meta.json"))
    except json.JSONDecodeError as exc:
        raise BadInput(path, None, f"corrupt JSON at line {exc.lineno}") from None
    if not isinstance(raw, dict):
        raise BadInput(path, None, "must hold a JSON object")
    return RunMeta.from_json(raw)


def parse_record(line: bytes) -> CaseRecord | None:
    """One cases.jsonl line as a record, or None when it is not one: not UTF-8, not
    JSON, not an object with a case_id and the case's parameters."""
    try:
        raw = json.loads(line.decode("utf-8"))
        return CaseRecord.from_json(raw) if isinstance(raw, dict) else None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _lines(run_dir: str | Path) -> list[tuple[int, bytes]]:
    """(line number, bytes) of every non-blank line of cases.jsonl."""
    path = Path(run_dir) / CASES
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except IsADirectoryError:
        raise BadInput(path, None, "is a folder, not the run's case records") from None
    except OSError as exc:
        raise BadInput(path, None, f"cannot read: {exc.strerror}") from None
    return [(n, line) for n, line in enumerate(data.split(b"\n"), 1) if line.strip()]


def _read_cases(run_dir: str | Path, strict: bool = False) -> list[CaseRecord]:
    """Every stored case, one per case_id. A line that does not parse is a warning (or,
    with `strict`, bad input); a run killed mid-write leaves at most one such line, the
    last. A case_id stored twice (two sweeps that wrote one run before runs were
    locked) is said once, and its last record is the one used."""
    path = Path(run_dir) / CASES
    by_id: dict[str, CaseRecord] = {}
    repeated = 0
    for n, line in _lines(run_dir):
        rec = parse_record(line)
        if rec is None:
            if strict:
                raise BadInput(path, f"line {n}", "corrupt case record")
            warnings.warn(f"{path}:{n}: skipping a corrupt case record", stacklevel=2)
            continue
        if rec.case_id in by_id:
            repeated += 1
        by_id[rec.case_id] = rec
    if repeated:
        warnings.warn(
            f"{path}: {repeated} case record(s) repeat a case_id stored before; the last record "
            "of each case is used",
            stacklevel=2,
        )
    return list(by_id.values())


def open_run(run_dir: str | Path, strict: bool = False, need_cases: bool = False) -> Run:
    """The one way to read a run folder. Bad input for a missing folder or meta.json,
    a corrupt meta.json, and, with `strict`, a corrupt case line (else a warning);
    with `need_cases`, for a run with no case stored."""
    meta = _read_meta(run_dir)
    records = _read_cases(run_dir, strict=strict)
    if need_cases and not records:
        raise BadInput(Path(run_dir) / CASES, None, "no case stored in this run")
    return Run(Path(run_dir), meta, records)


def find_runs(root: str | Path) -> list[Run]:
    """Every run folder below `root` with cases stored, oldest first. A folder that
    does not read is left out with a warning."""
    root = Path(root)
    if not root.is_dir():
        raise BadInput(root, None, "no such results folder")
    runs = []
    for meta_path in sorted(root.rglob(META)):
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
    """Whether a sweep holds the run's lock now, read from /proc/locks so that a reader
    never takes the lock itself (a sweep starting that moment would be refused); None
    where that cannot be told (no lock file, no /proc)."""
    try:
        st = os.stat(Path(run_dir) / LOCK)
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    want = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    return any(line.split()[5:6] == [want] for line in table.splitlines() if "FLOCK" in line)


class RunLock:
    """An exclusive flock on the run folder's `.lock`, held while a sweep writes the
    run. The kernel drops it when the process ends, however it ends."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise BadInput(
                run_dir,
                None,
                f"another vae-bench (PID {holder}) is writing this run; wait for it to end, "
                "or stop it and resume",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd: int | None = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


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
                (root / name).mkdir()
                break
            except FileExistsError:
                continue
        else:
            raise BadInput(root / run_id, None, "exists; remove it or write into another --out")
        run_dir = root / name
        lock = RunLock(run_dir)
        meta.run_id = name
        _write_meta(run_dir, meta)
        (run_dir / CASES).touch()
        return cls(run_dir, lock)

    @classmethod
    def reopen(cls, run_dir: str | Path) -> RunWriter:
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
        if not path.exists():
            path.touch()
            return
        data = path.read_bytes()
        lines = _lines(self.dir)
        bad = [(n, line) for n, line in lines if parse_record(line) is None]
        if not bad:
            if data and not data.endswith(b"\n"):  # a whole record that only lacks its newline
                with open(path, "ab") as f:
                    f.write(b"\n")
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
        with open(self.dir / TORN, "ab") as f:
            f.write(b"".join(line + b"\n" for _, line in bad))
            f.flush()
            os.fsync(f.fileno())
        bad_numbers = {n for n, _ in bad}
        write_atomic(path, b"".join(line + b"\n" for n, line in lines if n not in bad_numbers))

    def done_ids(self) -> set[str]:
        return {r.case_id for r in _read_cases(self.dir)}

    def append(self, record: CaseRecord) -> None:
        line = json.dumps(record.to_json(), separators=(",", ":")) + "\n"
        with open(self.dir / CASES, "a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def save_meta(self) -> None:
        """Write `self.meta` as it now is."""
        _write_meta(self.dir, self.meta)

    def add_warnings(self, messages) -> None:
        if self.meta.add_warnings(messages):
            self.save_meta()


def _write_meta(run_dir: Path, meta: RunMeta) -> None:
    write_atomic(run_dir / META, json.dumps(meta.to_json(), indent=2) + "\n")
