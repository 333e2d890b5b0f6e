"""Names that come from data (a run id, a label, a model or op name) on their way into a
path, and the check that a path stays inside its folder."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from bench.errors import BadInput, shown

MAX_NAME = 240


def slug(text: str, fallback: str = "device") -> str:
    """A path component made from data: lowercase letters, digits and single dashes,
    so that no name can climb out of its folder (`..`), hide (`.x`) or grow past what
    a file system takes."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:MAX_NAME].strip("-") or fallback


RUN_NAME_RULE = "a run folder name (lowercase letters, digits and dashes)"


def is_plain_name(name: Any) -> bool:
    """Whether `name` is exactly what `slug` makes of it: a run id vae-bench makes."""
    return isinstance(name, str) and bool(name) and slug(name, fallback="") == name


def plain_name(name: Any, where: str | Path | None, field: str) -> str:
    """A run id that data names (a fleet node's run, a folder to make), else bad input."""
    if not is_plain_name(name):
        raise BadInput(where, field, f"{shown(name)} is not {RUN_NAME_RULE}")
    return name


def inside(root: str | Path, path: str | Path) -> Path:
    """`path`, once checked to lie inside the folder `root` (links resolved: a folder
    link that leads out counts as out); bad input otherwise."""
    folder_inside(root, Path(path).parent, named=path)
    return Path(path)


def folder_inside(root: str | Path, folder: str | Path, named: str | Path | None = None) -> None:
    """Bad input (naming `named`, else the folder) unless `folder`, its links resolved, is
    `root` or lies below it."""
    root_real = os.path.realpath(root)
    real = os.path.realpath(folder)
    if real != root_real and not real.startswith(root_real.rstrip(os.sep) + os.sep):
        where = named if named is not None else folder
        raise BadInput(where, None, f"lies outside {root}; vae-bench writes only inside its output folder")
