"""Runs on disk: a folder with meta.json and cases.jsonl (see DESIGN.md).

Each finished case is appended as one JSON line and flushed to disk at once, so a
run that dies loses at most the case in flight. meta.json is replaced atomically.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import BadInput

META = "meta.json"
CASES = "cases.jsonl"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "device"


def new_run_id(device_name: str, config_name: str, when: datetime | None = None) -> str:
    when = when or datetime.now(timezone.utc)
    return f"{when:%Y%m%d-%H%M%S}-{slug(device_name)}-{slug(config_name)}"


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_meta(run_dir: str | Path) -> dict:
    path = Path(run_dir) / META
    if not Path(run_dir).is_dir():
        raise BadInput(run_dir, None, "no such run folder")
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise BadInput(path, None, "missing: not a vae-bench run folder") from None
    except json.JSONDecodeError as exc:
        raise BadInput(path, None, f"corrupt JSON at line {exc.lineno}") from None
    if not isinstance(meta, dict):
        raise BadInput(path, None, "must hold a JSON object")
    return meta


def read_cases(run_dir: str | Path, strict: bool = False) -> list[dict]:
    """Every stored case. A line that does not parse is a warning (or, with `strict`,
    bad input); a run killed mid-write leaves at most one such line, the last."""
    path = Path(run_dir) / CASES
    if not path.exists():
        return []
    records = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict) or "case_id" not in rec:
                    raise ValueError("not a case record")
            except ValueError:
                if strict:
                    raise BadInput(path, f"line {n}", "corrupt case record") from None
                warnings.warn(f"{path}:{n}: skipping a corrupt case record", stacklevel=2)
                continue
            records.append(rec)
    return records


def load_run(run_dir: str | Path, strict: bool = False) -> tuple[dict, pd.DataFrame]:
    """meta.json and one row per case, nested fields flattened (`time_s.median`,
    `mem.percent`, ...)."""
    meta = read_meta(run_dir)
    run = meta.get("run_id", Path(run_dir).name)
    frame = pd.DataFrame([{"run": run, **flatten(r)} for r in read_cases(run_dir, strict=strict)])
    return meta, frame


def flatten(record: dict) -> dict:
    """`time_s` and `mem` spread into `time_s.median`, `mem.percent`, ...; `tiling`
    stays one dict, since it is a parameter of the case, not a measurement."""
    flat = {k: v for k, v in record.items() if k not in ("time_s", "mem")}
    for key in ("time_s", "mem"):
        for sub, value in (record.get(key) or {}).items():
            flat[f"{key}.{sub}"] = value
    return flat


class RunWriter:
    """Appends to one run folder; made by `create` (new run) or `reopen` (--resume)."""

    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir)
        self.meta = read_meta(self.dir)

    @classmethod
    def create(cls, root: str | Path, run_id: str, meta: dict) -> RunWriter:
        run_dir = Path(root) / run_id
        run_dir.mkdir(parents=True, exist_ok=False)
        write_json_atomic(run_dir / META, {"run_id": run_id, **meta})
        (run_dir / CASES).touch()
        return cls(run_dir)

    @classmethod
    def reopen(cls, run_dir: str | Path) -> RunWriter:
        writer = cls(Path(run_dir))
        writer._repair_tail()
        return writer

    def _repair_tail(self) -> None:
        """Move a torn last line (a run killed mid-write) aside, keeping its bytes in
        cases.jsonl.torn, so that new lines start on a line of their own."""
        path = self.dir / CASES
        if not path.exists():
            path.touch()
            return
        data = path.read_bytes()
        cut = data.rfind(b"\n") + 1
        tail = data[cut:]
        if not tail.strip():
            return
        try:
            json.loads(tail)
            complete = True
        except ValueError:
            complete = False
        if complete:  # a whole record that only lacks its newline
            with open(path, "ab") as f:
                f.write(b"\n")
            return
        warnings.warn(
            f"{path}: the last line was cut off when the run died; moved it to {CASES}.torn",
            stacklevel=2,
        )
        with open(self.dir / (CASES + ".torn"), "ab") as f:
            f.write(tail + b"\n")
        with open(path, "r+b") as f:
            f.truncate(cut)

    def done_ids(self) -> set[str]:
        return {r["case_id"] for r in read_cases(self.dir)}

    def append(self, record: dict) -> None:
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with open(self.dir / CASES, "a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def update_meta(self, **fields: Any) -> None:
        self.meta.update(fields)
        write_json_atomic(self.dir / META, self.meta)

    def add_warnings(self, messages: Iterable[str]) -> None:
        known = self.meta.setdefault("warnings", [])
        new = [m for m in messages if m and m not in known]
        if new:
            known.extend(new)
            self.update_meta()

    def records(self) -> list[dict]:
        return read_cases(self.dir)
