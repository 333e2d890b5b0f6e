"""Layered environments: a virtualenv per `--with`, holding only what it was asked for
(and what that needs that the base lacks), seeing the running environment's packages
through a .pth file, and kept in a cache folder named by a hash of what it holds.

The base's torch (and the packages that come with a torch build: torchvision,
torchaudio, triton, nvidia-*) is pinned unless the layer names it, so a layer never
replaces a user's CUDA torch. pip is run from the base with `--python` on the layer's
interpreter, which sees the base through the .pth file and installs only what is
missing or at another version; uv, which looks at a virtualenv's own site-packages
only, resolves first (`uv pip compile`, the same pins) and the layer gets the
resolution's packages that the base does not hold at that version, without deps.

A layer is built in a temporary folder beside the cache entry and renamed into place
once it is complete: an interrupted build leaves nothing a later run would use."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import site
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.utils import canonicalize_name

from bench import files
from bench.errors import BadInput
from bench.record import layer as layer_file
from bench.record.layer import LAYER_FILE, Layer
from bench.versions.wants import Item

PINNED = {"torch", "torchvision", "torchaudio", "triton"}
INSTALLERS = ("auto", "uv", "pip")
DEFAULT_ENVS = "results/envs"
LOG = "install.log"
# A second vae-bench building the same layer waits for the first this long.
BUILD_WAIT_S = 3600.0


class InstallFailed(Exception):
    """A layer could not be built: the installer's last words."""


@dataclass(frozen=True)
class Built:
    path: Path
    layer: Layer
    reused: bool

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


def _last_versions(listed: str) -> str:
    versions = [v.strip() for v in listed.split(",") if v.strip()]
    return f"(from versions: {'..., ' if len(versions) > 5 else ''}{', '.join(versions[-5:])})"


def base_site_dirs() -> list[str]:
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages()):
        dirs.append(site.getusersitepackages())
    return [d for d in dirs if os.path.isdir(d)]


def base_versions() -> dict[str, str]:
    """Every distribution the running environment holds, by canonical name (the first
    one on the path, as an import would find it)."""
    found: dict[str, str] = {}
    for dist in metadata.distributions(path=base_site_dirs()):
        name = dist.metadata["Name"]
        if name:
            found.setdefault(canonicalize_name(name), dist.version)
    return found


def pins(named: set[str], versions: dict[str, str]) -> list[str]:
    """The base's torch build, pinned, but for the packages the layer names."""
    return sorted(
        f"{name}=={version}"
        for name, version in versions.items()
        if (name in PINNED or name.startswith("nvidia-")) and name not in named
    )


def layer_key(items: tuple[Item, ...], versions: dict[str, str]) -> str:
    """What the layer holds and what it was resolved against: the same asks on the same
    base (Python, its folders, its torch) give the same key."""
    material = {
        "python": sys.version.split()[0],
        "base": base_site_dirs(),
        "pins": pins(set(), versions),
        "items": [i.content() for i in items],
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:20]


# pip's settings of where packages come from, and uv's options for them: uv reads no
# pip configuration, and a layer installs only from the indexes pip is configured with.
PIP_INDEX_SETTINGS = {
    "index-url": "--index-url",
    "extra-index-url": "--extra-index-url",
    "find-links": "--find-links",
}


def pip_indexes() -> list[str]:
    """pip's index settings (its config files and PIP_* variables, as `pip config list`
    gives them) as uv options."""
    done = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True)
    settings: dict[tuple[str, str], list[str]] = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition("=")
        section, _, name = key.rpartition(".")
        settings[section, name] = value.strip().strip("'\"").split()
    args = []
    for name, option in PIP_INDEX_SETTINGS.items():
        # the environment over pip's install section over its global one, as pip reads them
        values = next(
            (settings[s, name] for s in (":env:", "install", "global") if (s, name) in settings), []
        )
        for value in values:
            args += [option, value]
    no_index = next(
        (settings[s, "no-index"] for s in (":env:", "install", "global") if (s, "no-index") in settings), []
    )
    if no_index and no_index[0].lower() in ("1", "true", "yes", "on"):
        args.append("--no-index")
    return args


def which_installer(choice: str) -> str:
    if choice == "auto":
        return "uv" if shutil.which("uv") else "pip"
    if choice == "uv" and not shutil.which("uv"):
        raise BadInput(None, "--installer", "uv is not on PATH; install it or use --installer pip")
    return choice


class Cache:
    """The layers of one cache folder."""

    def __init__(self, root: str | Path, installer: str = "auto", say=print, started_with: str | None = None):
        self.root = Path(root)
        self.started_with = started_with  # the cache a resumed state file names: a hint, never used
        self.installer = which_installer(installer)
        self.say = say
        self.versions = base_versions()

    def cached(self, items: tuple[Item, ...]) -> Built | None:
        folder = self.root / layer_key(items, self.versions)
        if folder.is_dir() and not folder.is_symlink() and (folder / LAYER_FILE).is_file():
            return Built(folder, layer_file.read_file(folder), reused=True)
        return None

    def ensure(
        self, items: tuple[Item, ...], want: tuple[str, ...], label: str, commit=None, may_build: bool = True
    ) -> Built:
        """The layer holding `items`: the cached one, or one built now (where `may_build`;
        a resume from a state file may not without --trust-code)."""
        named = {canonicalize_name(i.name) for i in items if i.name}
        key = layer_key(items, self.versions)
        self.root.mkdir(parents=True, exist_ok=True)
        folder = self.root / key
        lock = files.Lock(
            self.root / f".{key}.lock", "a layer is being built", wait=BUILD_WAIT_S, remove=True
        )
        try:
            found = self.cached(items)
            if found is not None:
                return found
            if not may_build:
                where = ""
                if self.started_with and Path(self.started_with) != self.root.resolve():
                    where = f"give --envs {self.started_with} (where it was started), or "
                raise BadInput(
                    None,
                    "--trust-code",
                    f"the environment of {label} is not in {self.root}: {where}give --trust-code to let this "
                    "resume build it (building runs the installers of what the state file names)",
                )
            self.say(f"building the environment of {label} ({self.installer}): {' + '.join(want)}")
            layer = Layer(want=want, key=key, commit=commit, label=label)
            self._build(folder, items, named, layer)
            return Built(folder, layer, reused=False)
        finally:
            lock.release()

    def _build(self, folder: Path, items: tuple[Item, ...], named: set[str], layer: Layer) -> None:
        # What a killed build of this layer left (we hold its lock: no build is running)
        for stale in self.root.glob(f".{folder.name}-*"):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=f".{folder.name}-"))
        try:
            made = subprocess.run(
                [sys.executable, "-m", "venv", "--without-pip", str(tmp)], capture_output=True, text=True
            )
            if made.returncode != 0:
                raise InstallFailed(f"venv: {' '.join(made.stderr.split())[-300:]}")
            site_dir = layer_file.site_packages(tmp)
            # addsitedir, not a bare path: the base's own .pth files (an editable
            # install, distutils-precedence) are read as the base reads them.
            lines = [f"import site; site.addsitedir({d!r})" for d in base_site_dirs()]
            (site_dir / "_vae_bench_base.pth").write_text("\n".join(lines) + "\n")
            constraints = tmp / "pins.txt"
            constraints.write_text("\n".join(pins(named, self.versions)) + "\n")
            log = tmp / LOG
            if self.installer == "uv":
                self._uv(tmp, items, named, constraints, log)
            else:
                self._install(
                    [sys.executable, "-m", "pip", "--python", str(tmp / "bin" / "python"), "install"]
                    + ["--disable-pip-version-check", "--no-input", "-c", str(constraints)]
                    + [i.text for i in items],
                    log,
                )
            files.write_atomic(tmp / LAYER_FILE, json.dumps(layer.as_json(), indent=2) + "\n", root=tmp)
            os.chmod(tmp, 0o755)  # mkdtemp's 0700 would keep the layer from other users of the cache
            os.rename(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _uv(self, tmp: Path, items: tuple[Item, ...], named: set[str], constraints: Path, log: Path) -> None:
        wanted = tmp / "want.txt"
        wanted.write_text("\n".join(i.text for i in items) + "\n")
        python = str(tmp / "bin" / "python")
        # uv prefers no installed version it cannot see: first every base package at
        # its version (the layer then holds what pip would put there), and only where
        # the asked-for packages need others, the torch build alone pinned.
        everything = tmp / "base.txt"
        everything.write_text(
            "\n".join(f"{n}=={v}" for n, v in sorted(self.versions.items()) if n not in named) + "\n"
        )
        compile_ = ["uv", "pip", "compile", str(wanted), "--python", python, "--no-header", "--no-annotate"]
        # pip's choice among its indexes: the best match of them all, not the first's
        compile_ += ["--quiet", "--index-strategy", "unsafe-best-match", *pip_indexes()]
        try:
            resolved = self._install([*compile_, "-c", str(everything)], log)
        except InstallFailed:
            resolved = self._install([*compile_, "-c", str(constraints)], log)
        needed = []
        for line in resolved.splitlines():
            line = line.split("#")[0].strip()
            if not line:
                continue
            name, _, version = line.partition("==")
            if version and self.versions.get(canonicalize_name(name.strip())) == version.strip():
                continue  # the base holds it at that version
            needed.append(line)
        if needed:
            self._install(
                ["uv", "pip", "install", "--python", python, "--no-deps", *needed, *pip_indexes()], log
            )

    def _install(self, command: list[str], log: Path) -> str:
        """Run one installer command, its output kept in the layer's log; the output,
        or InstallFailed with its last error line."""
        done = subprocess.run(command, capture_output=True, text=True)
        with open(log, "a") as f:
            f.write("$ " + " ".join(command) + "\n" + done.stdout + done.stderr + "\n")
        if done.returncode != 0:
            errors = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
            said = [ln for ln in errors if ln.lower().startswith(("error", "×", "x "))] or errors
            text = " ".join(said[-2:])
            # pip lists every version the index has: the last few say enough
            text = re.sub(r"\(from versions: ([^)]*)\)", lambda m: _last_versions(m.group(1)), text)
            raise InstallFailed(text[:500] or f"{command[0]} exited with {done.returncode}")
        return done.stdout
