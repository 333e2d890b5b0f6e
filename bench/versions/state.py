"""The folder of one matrix or bisect: its state file (what was asked, what each
environment or candidate came to, which run folder holds its figures), rewritten
whole after every step, and `runs/`, where the runs go. A resume reads the state file
once, strictly, and goes on where it stopped; the sweep file must be the one the
folder was started with (its hash is kept)."""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import files
from bench.errors import BadInput
from bench.shipped import sweep_path
from bench.strict import Invalid, Obj, printable_tree

STATE_FORMAT = 1
RUNS = "runs"
MAX_STATE_BYTES = 4 * 1024**2


@dataclass(frozen=True)
class SweepFile:
    path: Path  # absolute
    sha256: str

    @classmethod
    def of(cls, text: str) -> SweepFile:
        """The sweep a command names (a shipped name or a file); the file is read again
        by every run the command starts, and must not change while it works."""
        path = sweep_path(text).resolve()
        data = files.read_bytes(path, "sweep file", follow=True)
        return cls(path, hashlib.sha256(data).hexdigest())

    def check(self, where: Path) -> None:
        now = SweepFile.of(str(self.path))
        if now.sha256 != self.sha256:
            raise BadInput(
                self.path, None, f"changed since {where} was started with it; start a new one instead"
            )


def one_device(sweep):
    """A sweep of one device: each environment or candidate is one run folder (a sweep
    over several GPUs would make one per GPU)."""
    if sweep.devices or sweep.device == "all":
        raise BadInput(
            sweep.source,
            "device",
            "matrix and bisect run a sweep on one device; name one (cuda:0, cpu, auto)",
        )
    return sweep


def new_folder(out: str | Path, kind: str, name: str) -> Path:
    """A new folder `<out>/<UTC time>-<kind>-<sweep name>` with its runs/ inside."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{kind}-{files.slug(name, 'sweep')}"
    for n in range(1, 100):
        try:
            folder = files.make_folder(out, base if n == 1 else f"{base}-{n}")
        except FileExistsError:
            continue
        (folder / RUNS).mkdir()
        return folder
    raise BadInput(out, None, f"holds too many folders named {base}")


def state_path(folder: Path, kind: str) -> Path:
    return folder / f"{kind}.json"


def save(owner, kind: str, state: dict) -> None:
    """The state file of `owner` (a Matrix or a Bisect) anew: what every kind holds (the
    sweep and its hash, the cache of environments and the installer), then `state`."""
    head = {"sweep": str(owner.sweep.path), "sweep_sha256": owner.sweep.sha256}
    head |= {"envs": str(owner.envs), "installer": owner.installer}
    text = json.dumps({"format": STATE_FORMAT, "kind": kind, **head, **state}, indent=2) + "\n"
    files.write_atomic(state_path(owner.folder, kind), text, root=owner.folder)


def load(folder: str | Path, kind: str, option: str = "--resume") -> tuple[Path, Obj]:
    """The state file of a matrix or bisect folder, read once and checked as an object
    (each command reads its fields through the Obj)."""
    folder = Path(folder)
    path = state_path(folder, kind)
    if folder.is_symlink() or not folder.is_dir() or not files.regular_or_absent(path, f"{kind} state"):
        raise BadInput(folder, option, f"is not a {kind} folder (no {path.name} in it)")
    raw: Any = files.read_json(path, f"{kind} state", limit=MAX_STATE_BYTES)
    try:
        printable_tree(raw)
        o = Obj(raw)
        if o.int("format", required=True, lo=1, hi=10**6) != STATE_FORMAT:
            raise o.bad("format", f"is {raw.get('format')}; this vae-bench reads format {STATE_FORMAT}")
        o.str("kind", required=True, choices=(kind,))
    except Invalid as exc:
        raise BadInput(path, exc.field, exc.why) from None
    return folder, o


def slot(folder: Path, n: int) -> Path:
    """Where the runs of one environment or candidate go: runs/<n>/, so that a run the
    state file never heard of (the parent killed before it could save) is found again."""
    return folder / RUNS / str(n)


def run_of(folder: Path, n: int, name: str | None) -> Path | None:
    """The run folder the state names for slot n (a plain name only), or the one run
    folder the slot holds when the state names none."""
    if name is None:
        held = [p for p in slot(folder, n).glob("*") if p.is_dir() and not p.is_symlink()]
        return held[0] if len(held) == 1 else None
    files.plain_name(name, folder, "run")
    return slot(folder, n) / name


@contextmanager
def reading(path: Path):
    """A context in which a field that is not what the state file needs is bad input
    naming that file."""
    try:
        yield
    except Invalid as exc:
        raise BadInput(path, exc.field, exc.why) from None
