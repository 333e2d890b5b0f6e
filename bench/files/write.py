"""Writing inside a stated folder only, never through a link: a file replaced whole in
one rename after an fsync, an append flushed to disk at once."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from bench.errors import BadInput
from bench.files.names import inside, plain_name


def write_atomic(
    path: str | Path, data: str | bytes, root: str | Path | None = None, follow: bool = False
) -> Path:
    """Replace the file at `path` with `data` in one rename, after an fsync: a reader
    sees the old file or the new one, never half of one. `root`: the folder the file
    must lie in. A symbolic link is refused, or, with `follow` (a page the command line
    names), the file it points to is replaced. An existing file keeps its permissions.
    Returns the path written."""
    path = Path(path)
    target = path
    if path.is_symlink():
        if not follow:
            raise BadInput(path, None, "is a symbolic link; vae-bench writes no file through a link")
        target = Path(os.path.realpath(path))
    if root is not None:
        inside(root, path)
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        mode = None
    else:
        if not stat.S_ISREG(st.st_mode):
            raise BadInput(target, None, "is not a regular file; vae-bench replaces only files")
        mode = st.st_mode & 0o7777
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode if mode is not None else 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)
    return target


def append(path: str | Path, data: bytes, root: str | Path) -> None:
    """Append `data` to the file at `path` inside `root` (made if absent), flushed to
    disk before it returns; a link or a file that is not regular is refused."""
    path = inside(root, path)
    flags = (
        os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    )
    try:
        fd = os.open(path, flags | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BadInput(
                path, None, "is a symbolic link; vae-bench writes no file through a link"
            ) from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise BadInput(path, None, "is not a regular file; vae-bench appends only to files")
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def make_folder(root: str | Path, name: str) -> Path:
    """The new folder `root/name` (FileExistsError when it exists); `name` is a plain
    name, never a path."""
    plain_name(name, root, "folder")
    folder = Path(root) / name
    folder.mkdir()
    return folder


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
