"""Write constraints.txt: the version of every package vae-bench installs, for each
Python it supports, as pip resolves them today from the indexes pip is configured
with. `make setup` and `make test` install through it, so a clean clone gets the
versions CI tested and the docs tables keep their bytes (tabulate formats them).

    make lock            # or: .venv/bin/python tools/lock.py [--out constraints.txt]

torch is left out, and with it what only torch pulls in (CUDA wheels, triton,
sympy): setup keeps a CUDA torch the machine already has, and a pin on torch's own
dependencies could fight it. The resolution is pip's own (`pip install --dry-run
--report`), once per Python version, for Linux wheels. pip evaluates environment
markers for the Python that runs it (3.11 or later), so a package only an older
Python or another platform needs (tomli, exceptiongroup on 3.10) is left unpinned.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    raise SystemExit(
        "lock: run it with Python 3.11 or later (it reads pyproject.toml with tomllib)"
    ) from None

ROOT = Path(__file__).resolve().parent.parent
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
# torch and its own stack: the user's build is kept (see the Makefile's setup)
LEFT_OUT = ("torch",)
HEADER = """\
# The versions `make setup` and `make test` install (pip install -c constraints.txt),
# resolved for Python {pythons} on Linux, markers as the Python running make lock reads
# them. Made by `make lock` (tools/lock.py), from pyproject.toml; torch is left out (setup keeps yours).
"""


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def requirements(pyproject: Path) -> list[str]:
    """The project's dependencies and every extra's, torch left out."""
    project = tomllib.loads(pyproject.read_text())["project"]
    found = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        found += extra
    return [r for r in found if canonical(_name(r)) not in LEFT_OUT]


def _name(requirement: str) -> str:
    for i, ch in enumerate(requirement):
        if not (ch.isalnum() or ch in "-_."):
            return requirement[:i]
    return requirement


def resolve(reqs: list[str], python: str) -> dict[str, str]:
    """name -> version, as pip would install `reqs` into an empty environment of `python`."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--quiet",
            "--ignore-installed",
            "--only-binary=:all:",
            "--python-version",
            python,
            "--target",
            str(Path(tmp) / "never-written"),  # pip wants one with --python-version
            "--report",
            str(report),
            *reqs,
        ]
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode:
            errors = [ln for ln in done.stderr.splitlines() if "is ignored" not in ln]
            raise SystemExit(f"lock: pip could not resolve for Python {python}:\n" + "\n".join(errors[-15:]))
        return pins(json.loads(report.read_text()))


def pins(report: dict) -> dict[str, str]:
    """name -> version from a pip installation report."""
    out = {}
    for item in report["install"]:
        meta = item["metadata"]
        if canonical(meta["name"]) not in LEFT_OUT:
            out[canonical(meta["name"])] = meta["version"]
    return out


def merge(by_python: dict[str, dict[str, str]]) -> list[str]:
    """One line per package and version: `name==version`, with a marker naming the
    Pythons it is for where not all of them."""
    pythons = list(by_python)
    names = sorted({n for p in by_python.values() for n in p})
    lines = []
    for name in names:
        versions: dict[str, list[str]] = {}
        for py in pythons:
            if name in by_python[py]:
                versions.setdefault(by_python[py][name], []).append(py)
        for version, where in versions.items():
            line = f"{name}=={version}"
            if where != pythons:
                line += " ; " + " or ".join(f'python_version == "{py}"' for py in where)
            lines.append(line)
    return lines


def render(by_python: dict[str, dict[str, str]]) -> str:
    return HEADER.format(pythons=", ".join(by_python)) + "\n".join(merge(by_python)) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "constraints.txt")
    ap.add_argument(
        "--python", action="append", help=f"a Python to resolve for (default: {', '.join(PYTHONS)})"
    )
    args = ap.parse_args(argv)
    reqs = requirements(ROOT / "pyproject.toml")
    by_python = {}
    for py in args.python or PYTHONS:
        print(f"lock: resolving for Python {py} ...", file=sys.stderr)
        by_python[py] = resolve(reqs, py)
    text = render(by_python)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, args.out)
    print(f"lock: {args.out} ({len(text.splitlines()) - 3} pins)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
