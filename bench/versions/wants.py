"""What a layer is asked to hold: the text of one `--with`, checked once.

`diffusers==0.41.0`, `torch==2.9.1`, a path to a local checkout or a wheel, or several
of them joined by `+` (`diffusers==0.41.0+huggingface_hub==0.36.0`). A `+` directly
after a pinned version with a bare label behind it is the version's local label
(`torch==2.9.1+cpu`), as pip reads it. Each item also says what its layer's cache key
is made of: a requirement's text, a wheel's hash, or a checkout's files."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from bench.errors import BadInput, shown

LOCAL_LABEL_RE = re.compile(r"[A-Za-z0-9]+(\.[A-Za-z0-9]+)*")
# Build output and caches are not what a checkout is.
SKIPPED_DIRS = {".git", "__pycache__", "build", "dist", ".tox", ".venv", ".pytest_cache"}
MAX_ITEMS = 20
MAX_FILES = 200_000


@dataclass(frozen=True)
class Item:
    text: str  # a requirement, or the absolute path of a checkout or a wheel
    name: str | None  # the distribution a requirement names (None for a path)
    path: Path | None = None
    key: str | None = None  # what names its content where that is known (a commit)

    def content(self) -> str:
        """What this item's part of a cache key is made of."""
        if self.key is not None:
            return self.key
        if self.path is None:
            return f"req:{self.text}"
        if self.path.is_file():
            return f"wheel:{self.path.name}:{_file_hash(self.path)}"
        return f"tree:{tree_hash(self.path)}"


@dataclass(frozen=True)
class Want:
    text: str  # as given on the command line
    items: tuple[Item, ...]


def parse_want(text: str, option: str = "--with") -> Want:
    if not text.strip():
        raise BadInput(None, option, "is empty; give a requirement such as diffusers==0.41.0")
    pieces = [p.strip() for p in text.split("+")]
    joined: list[str] = []
    for piece in pieces:
        if joined and "==" in joined[-1] and LOCAL_LABEL_RE.fullmatch(piece):
            joined[-1] += "+" + piece  # torch==2.9.1+cpu
        else:
            joined.append(piece)
    if len(joined) > MAX_ITEMS:
        raise BadInput(None, option, f"{shown(text)} joins more than {MAX_ITEMS} requirements")
    items = tuple(_item(piece, text, option) for piece in joined)
    names = [i.name for i in items if i.name]
    twice = {
        canonicalize_name(n)
        for n in names
        if sum(canonicalize_name(m) == canonicalize_name(n) for m in names) > 1
    }
    if twice:
        raise BadInput(None, option, f"{shown(text)} names {', '.join(sorted(twice))} more than once")
    return Want(text, items)


def _item(piece: str, text: str, option: str) -> Item:
    if not piece:
        raise BadInput(None, option, f"{shown(text)} has an empty part between two +")
    if piece.startswith(("/", ".", "~")) or os.sep in piece and not _looks_like_requirement(piece):
        return _path_item(Path(piece).expanduser(), option)
    try:
        req = Requirement(piece)
    except InvalidRequirement as exc:
        raise BadInput(
            None,
            option,
            f"{shown(piece)} is neither a requirement (diffusers==0.41.0) nor a path "
            f"(./diffusers, /wheels/x.whl): {exc}",
        ) from None
    if req.url:
        raise BadInput(
            None,
            option,
            f"{shown(piece)} names a URL; vae-bench installs from your package indexes or from a local path",
        )
    return Item(str(req), req.name)


def _looks_like_requirement(piece: str) -> bool:
    try:
        Requirement(piece)
    except InvalidRequirement:
        return False
    return True


def _path_item(path: Path, option: str) -> Item:
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise BadInput(path, option, f"cannot be read: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        if not any((path / f).is_file() for f in ("pyproject.toml", "setup.py", "setup.cfg")):
            raise BadInput(
                path, option, "is a folder without pyproject.toml or setup.py: not a package checkout"
            )
    elif not (stat.S_ISREG(st.st_mode) and path.suffix == ".whl"):
        raise BadInput(path, option, "must be a package checkout (a folder) or a wheel (.whl), not a link")
    return Item(str(path.resolve()), None, path.resolve())


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tree_hash(root: Path) -> str:
    """A checkout's files, names and contents, links as their target text (never
    followed): the same tree gives the same hash wherever it lies."""
    h = hashlib.sha256()
    count = 0
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info"))
        for name in sorted(names):
            path = Path(folder) / name
            count += 1
            if count > MAX_FILES:
                raise BadInput(root, None, f"holds more than {MAX_FILES} files: not a package checkout")
            rel = path.relative_to(root).as_posix()
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                h.update(f"L {rel} {os.readlink(path)}\n".encode(errors="surrogateescape"))
            elif stat.S_ISREG(st.st_mode):
                h.update(f"F {rel} {_file_hash(path)}\n".encode(errors="surrogateescape"))
    return h.hexdigest()
