"""The one file layer: every file vae-bench reads or writes goes through here.

Run folders come from other machines and other people (a fleet, `docs import`, a
colleague's copy), and vae-bench often runs as root, so a file is data, never a
pointer to somewhere else:
- Reading: a regular file, at most a stated size, never a FIFO or a device (/dev/zero
  would never end). A run folder's files are opened without following a symbolic
  link; a config or a page, which a person names, may be one (`follow`). Any reason a
  file cannot be read is bad input, one line.
- Writing: inside a stated folder only, never through a link; a file is replaced whole
  in one rename after an fsync, and an append is flushed to disk at once.
- Names: a path component that comes from data (a run id, a label, a model or op name)
  passes `slug` or `plain_name` before it reaches a path.
- Locks: `Lock` (filelock's flock; a file system without flock is refused), which
  names its holder.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import stat
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import BadInput, shown

if TYPE_CHECKING:
    import yaml

# A YAML file that names an anchor many times can expand to billions of values
# (the "billion laughs"); no sweep, registry or spec comes near these bounds.
MAX_YAML_ALIASES = 500
MAX_YAML_VALUES = 100_000
# What vae-bench reads at most: a config or meta.json is a few KiB, a page some
# hundreds, the largest cases.jsonl seen some hundreds (300 samples a case).
MAX_CONFIG_BYTES = 16 * 2**20
MAX_TEXT_BYTES = 64 * 2**20
MAX_CASES_BYTES = 512 * 2**20
MAX_LOCK_BYTES = 4096
# How long a sweep or an update waits for a lock a reader holds for an instant (it
# probes whether a sweep is writing a run) before it says who holds it.
LOCK_WAIT_S = 2.0
MAX_NAME = 240


def _mib(n: int) -> str:
    return f"{n // 2**20} MiB"


# -- reading ------------------------------------------------------------------------------


def read_bytes(path: str | Path, what: str, limit: int = MAX_CONFIG_BYTES, follow: bool = False) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; `what` ("sweep file",
    "run's meta.json", ...) names it in errors. Without `follow`, a symbolic link is
    refused (a run folder's files are data, never pointers)."""
    path = Path(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise BadInput(path, None, f"no such file (a {what} was expected)") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and path.is_symlink():
            raise BadInput(
                path,
                None,
                f"is a symbolic link; vae-bench reads a {what} only from a file, never through a link",
            ) from None
        raise BadInput(path, None, f"cannot read: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise BadInput(path, None, f"is a folder, not a {what}")
        if not stat.S_ISREG(st.st_mode):
            raise BadInput(
                path, None, f"is not a regular file (a FIFO, a device or a socket); a {what} was expected"
            )
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise BadInput(path, None, f"is larger than {_mib(limit)}; not a {what} this tool reads")
        return b"".join(chunks)
    except OSError as exc:
        raise BadInput(path, None, f"cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)


def read_text(
    path: str | Path,
    what: str,
    newline: str | None = None,
    limit: int = MAX_CONFIG_BYTES,
    follow: bool = False,
) -> str:
    """The file's UTF-8 text (see read_bytes). newline="" keeps line endings exactly as
    on disk; None turns \\r\\n and \\r into \\n, as Python's text files do."""
    data = read_bytes(path, what, limit, follow)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(path, None, f"not UTF-8 text; a {what} is text") from None
    return text if newline == "" else text.replace("\r\n", "\n").replace("\r", "\n")


def read_json(path: str | Path, what: str, limit: int = MAX_CONFIG_BYTES, follow: bool = False) -> Any:
    """A JSON document, read strictly: NaN and Infinity (which Python's json reads, and
    no JSON writer should make) are refused."""
    import json

    try:
        return json.loads(read_text(path, what, limit=limit, follow=follow), parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise BadInput(path, None, f"corrupt JSON at line {exc.lineno}: {exc.msg}") from None
    except ValueError as exc:
        raise BadInput(path, None, f"corrupt JSON: {exc}") from None
    except RecursionError:
        raise BadInput(path, None, "nested too deeply: not a file this tool reads") from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse_json_line(line: bytes) -> Any:
    """One JSON value from one line, as read_json reads (ValueError otherwise)."""
    import json

    try:
        return json.loads(line.decode("utf-8"), parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def read_yaml(path: str | Path, what: str, follow: bool = False) -> Any:
    import yaml  # here, so that readers of runs never load it

    text = read_text(path, what, follow=follow)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            return None
        _check_size(node, path)
        # Construct from the node already composed: the text is parsed once.
        loader = yaml.SafeLoader("")
        try:
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except RecursionError:
        raise BadInput(path, None, "nested too deeply: not a config this tool reads") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or "cannot parse"
        raise BadInput(path, None, f"{where}YAML syntax error: {problem}") from None


def _check_size(root: yaml.Node, path: str | Path) -> None:
    """Refuse a document whose aliases expand to more values than any config needs,
    before anything is built from it: its size is counted on the node graph, where an
    alias is a second reference to the same node, not a copy. Each mapping's keys are
    checked on the way."""
    import yaml

    expanded: dict[int, int] = {}
    seen: set[int] = set()
    aliases = 0

    def size(node: yaml.Node) -> int:
        nonlocal aliases
        key = id(node)
        if key in seen:
            aliases += 1
        seen.add(key)
        if key in expanded:
            return expanded[key]
        expanded[key] = 1  # a node that contains itself counts once
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            _check_unique_keys(node, path)
            children = [n for pair in node.value for n in pair]
        total = 1 + sum(size(child) for child in children)
        expanded[key] = total
        return total

    total = size(root)
    if aliases > MAX_YAML_ALIASES or total > MAX_YAML_VALUES:
        raise BadInput(
            path,
            None,
            f"too large once its aliases are expanded ({aliases} aliases, {total} values; "
            f"at most {MAX_YAML_ALIASES} and {MAX_YAML_VALUES}): not a config this tool reads",
        )


def _check_unique_keys(node: yaml.MappingNode, path: str | Path) -> None:
    """YAML lets a later key replace an earlier one without a word; in a config that is
    a mistake (two `models:` lines), and the second would run unseen."""
    import yaml

    lines: dict[str, int] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        line = key.start_mark.line + 1
        if key.value in lines:
            raise BadInput(
                path, None, f"line {line}: key {key.value!r} given twice (first on line {lines[key.value]})"
            )
        lines[key.value] = line


def regular_or_absent(path: str | Path, what: str) -> bool:
    """Whether a regular file is at `path` (False: nothing is); bad input for a link, a
    folder, a FIFO or a device there."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise BadInput(path, None, f"cannot read: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise BadInput(path, None, f"is a symbolic link; a {what} is a file of its own, never a link")
    if not stat.S_ISREG(st.st_mode):
        raise BadInput(path, None, f"is not a regular file (a folder, FIFO or device); a {what} was expected")
    return True


# -- names --------------------------------------------------------------------------------


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


# -- writing ------------------------------------------------------------------------------


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


# -- locks --------------------------------------------------------------------------------


def _file_lock(path: Path):
    import filelock

    try:
        # No soft fallback (a lock file's content is its holder's line here, and a
        # soft lock would read it as its own): a file system without flock says so.
        return filelock.FileLock(str(path), thread_local=False, fallback_to_soft=False)
    except TypeError:  # filelock 3 (a GPU box's own, run with PYTHONPATH=.): no soft fallback
        return filelock.FileLock(str(path), thread_local=False)


class Lock:
    """An exclusive lock on `path` (filelock's flock), held until
    `release` or the end of the process, however it ends. The holder writes who it is
    into the file, so that another vae-bench refused the lock can name it. With
    `remove`, the file goes with the lock (see `release`)."""

    def __init__(self, path: str | Path, what: str, wait: float = LOCK_WAIT_S, remove: bool = False):
        import filelock

        self.path = Path(path)
        self.remove = remove
        regular_or_absent(self.path, "lock file")
        lock = _file_lock(self.path)
        try:
            lock.acquire(timeout=wait)
        except filelock.Timeout:
            raise BadInput(self.path.parent, None, f"{what}: held by {holder(self.path)}") from None
        except OSError as exc:
            raise BadInput(self.path, None, f"cannot take the lock: {exc.strerror or exc}") from None
        self._lock = lock
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        line = f"{os.getpid()} {socket.gethostname()} {started}\n".encode()
        # A second descriptor: closing it leaves the flock of the first in place.
        fd = os.open(self.path, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0))
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def release(self) -> None:
        """Let go of the lock; with `remove`, take its file away first (a page's folder
        keeps no trace of an update). A process that waited on the file it removed finds
        it unlinked once it gets the lock, and tries again on a new one (filelock 4)."""
        if self._lock is not None:
            if self.remove:
                self.path.unlink(missing_ok=True)
            self._lock.release()
            self._lock = None


def holder(path: str | Path) -> str:
    """Who holds the lock at `path`, as its holder wrote it: "PID 123 on host since T"."""
    try:
        text = read_text(path, "lock file", limit=MAX_LOCK_BYTES)
    except BadInput:
        text = ""
    parts = text.split()
    if len(parts) >= 3 and parts[0].isdigit():
        pid, host, since = parts[0], parts[1], parts[2]
        gone = host == socket.gethostname() and not _alive(int(pid))
        # the previous holder's line: the new one took the lock a moment ago and has not
        # written its own yet
        note = " (that process has ended: the holder took the lock just now; try again)" if gone else ""
        return f"PID {pid} on {host} since {since}{note}"
    return "another process (it did not say which)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def lock_held(path: str | Path) -> bool | None:
    """Whether a process holds the lock at `path` now; None where that cannot be told
    (no lock file, a lock file that is not a regular file, a folder it cannot lock).
    The lock is taken for an instant (a sweep that starts that moment waits for it,
    LOCK_WAIT_S), never made."""
    import filelock

    path = Path(path)
    try:
        if not regular_or_absent(path, "lock file"):
            return None
    except BadInput:
        return None
    lock = _file_lock(path)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        return True
    except OSError:  # a lock file this reader may not write: another user's run, a read-only mount
        return _held_read_only(path)
    lock.release()
    return False


def _held_read_only(path: Path) -> bool | None:
    """lock_held for a reader that may only read the lock file: a shared flock on a
    read-only descriptor (filelock opens its file for writing), where the system has
    flock; None elsewhere."""
    try:
        import fcntl
    except ImportError:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    finally:
        os.close(fd)  # and with it the shared lock
    return False
