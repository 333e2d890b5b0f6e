"""What a bisect chooses from: a package's releases between two versions, from the
package indexes pip is configured with, or a checkout's first-parent commits between
two commits, each exported (`git archive`) into a folder a layer installs from."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tarfile
from pathlib import Path

from packaging.version import InvalidVersion, Version

from bench.errors import BadInput, shown

SHA_RE = re.compile(r"[0-9a-f]{40}")
VERSION_RE = re.compile(r"[0-9][0-9A-Za-z.+!-]{0,60}")
NAME_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?")


class ExportFailed(Exception):
    """A commit's files could not be written out."""


def package_name(name: str) -> str:
    """A distribution name as the package index spells them (never an option to pip)."""
    if not NAME_RE.fullmatch(name):
        raise BadInput(None, "--package", f"{shown(name)} is not a package name")
    return name


MAX_CANDIDATES = 10_000


def releases(package: str) -> list[Version]:
    """Every final release of `package` the configured indexes list (pip index versions)."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", package, "--disable-pip-version-check"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no answer"])[-1]
        raise BadInput(None, "--package", f"the package index does not list {shown(package)}: {last}")
    return parse_index_versions(done.stdout)


def parse_index_versions(text: str) -> list[Version]:
    """The `Available versions:` line of `pip index versions`, final releases only."""
    for line in text.splitlines():
        if line.startswith("Available versions:"):
            out = []
            for word in line.split(":", 1)[1].split(","):
                try:
                    v = Version(word.strip())
                except InvalidVersion:
                    continue
                if not (v.is_prerelease or v.is_devrelease):
                    out.append(v)
            return sorted(set(out))
    raise BadInput(None, "--package", "the package index answered without a list of versions")


def between_releases(available: list[Version], good: str, bad: str) -> list[str]:
    """good, the releases after it, up to and with bad, oldest first."""
    try:
        lo, hi = Version(good), Version(bad)
    except InvalidVersion as exc:
        raise BadInput(None, "--good/--bad", f"with --package, give released versions: {exc}") from None
    if lo >= hi:
        raise BadInput(None, "--good", f"{good} must be older than --bad {bad}")
    for v, option in ((lo, "--good"), (hi, "--bad")):
        if v not in available:
            raise BadInput(None, option, f"{v} is not a release the package index lists")
    return [str(v) for v in available if lo <= v <= hi]


def _git(repo: Path, *args: str, binary: bool = False):
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=not binary)
    if done.returncode != 0:
        err = done.stderr if isinstance(done.stderr, str) else done.stderr.decode(errors="replace")
        raise BadInput(repo, "--repo", f"git {args[0]}: {' '.join(err.split())[:300]}")
    return done.stdout


def full_sha(repo: Path, ref: str, option: str) -> str:
    if ref.startswith("-"):
        raise BadInput(None, option, f"{shown(ref)} is not a commit")
    try:
        sha = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
    except BadInput:
        raise BadInput(repo, option, f"{shown(ref)} is not a commit of this repository") from None
    return sha


def between_commits(repo: Path, good: str, bad: str) -> list[str]:
    """good, then the first-parent commits after it up to and with bad, oldest first."""
    if not (repo / ".git").exists():
        raise BadInput(repo, "--repo", "is not the top of a git checkout")
    lo, hi = full_sha(repo, good, "--good"), full_sha(repo, bad, "--bad")
    if lo == hi:
        raise BadInput(None, "--bad", "is the same commit as --good")
    ancestor = subprocess.run(["git", "-C", str(repo), "merge-base", "--is-ancestor", lo, hi])
    if ancestor.returncode != 0:
        raise BadInput(None, "--good", f"{lo[:12]} is not an ancestor of --bad {hi[:12]}")
    listed = _git(repo, "rev-list", "--first-parent", "--reverse", f"{lo}..{hi}").split()
    if len(listed) > MAX_CANDIDATES:
        raise BadInput(None, "--good", f"more than {MAX_CANDIDATES} commits lie between --good and --bad")
    if not listed or listed[-1] != hi:
        raise BadInput(None, "--bad", f"{hi[:12]} is not on the first-parent line after --good")
    return [lo, *listed]


def export(repo: Path, sha: str, into: Path) -> Path:
    """The files of one commit in a new folder (`git archive`, unpacked with the tar
    filter that refuses links out of the folder and absolute names)."""
    if not SHA_RE.fullmatch(sha):
        raise ValueError(f"not a full commit: {sha!r}")
    try:
        data = _git(repo, "archive", "--format=tar", sha, binary=True)
        folder = into / sha
        folder.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(folder, filter="data")
            else:  # a Python before 3.10.12 / 3.11.4: plain files and folders, inside only
                safe = [
                    m
                    for m in tar.getmembers()
                    if (m.isfile() or m.isdir())
                    and not m.name.startswith("/")
                    and ".." not in m.name.split("/")
                ]
                tar.extractall(folder, members=safe)
    except (BadInput, OSError, tarfile.TarError) as exc:
        raise ExportFailed(f"git archive {sha[:12]}: {exc}") from None
    return folder
