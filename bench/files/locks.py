"""Locks on run folders and pages: filelock's flock (a file system without flock is
refused), whose holder writes "PID host since" into the lock file so that a refusal
names it."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timezone
from pathlib import Path

from bench.errors import BadInput
from bench.files.read import read_text, regular_or_absent

MAX_LOCK_BYTES = 4096
# How long a sweep or an update waits for a lock a reader holds for an instant (it
# probes whether a sweep is writing a run) before it says who holds it.
LOCK_WAIT_S = 2.0


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
