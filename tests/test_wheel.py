"""The package as a user installs it: a wheel built from the sources, installed into a
fresh virtual environment, run from a folder outside the checkout. The shipped
configs, cards and reference runs must come with it (package data), and every
answer a user asks first must work with no run of their own.

The environment's dependencies (torch, diffusers, pandas, ...) are those of the
interpreter running the tests, put on its path by a .pth line: that keeps the test
off the network. The wheel itself is installed with pip, without its dependencies,
and the checkout is nowhere on the path."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path, dict]:
    tmp = tmp_path_factory.mktemp("wheel")
    # Build from a copy of what the package is made of: nothing else of the checkout
    # (results/, tests/, a build/ folder) can slip into the wheel or onto the path.
    src = tmp / "src"
    src.mkdir()
    shutil.copytree(
        ROOT / "bench", src / "bench", ignore=shutil.ignore_patterns("__pycache__", "plots", ".lock")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    dist = tmp / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", dist, src], check=True)
    (wheel,) = dist.glob("vae_bench-*.whl")

    env = tmp / "env"
    venv.EnvBuilder(with_pip=False).create(env)
    # pip installs into the fresh environment from outside it: no pip of its own to bootstrap
    subprocess.run([*pip, "--python", env / "bin" / "python", "install", "--no-deps", wheel], check=True)
    (purelib,) = [p for p in (env / "lib").glob("python3*/site-packages")]
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (purelib / "test-deps.pth").write_text("\n".join(deps) + "\n")

    outside = tmp / "elsewhere"
    outside.mkdir()
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environ.update(HF_HUB_OFFLINE="1", COLUMNS="200")
    return env, outside, environ


def vae_bench(installed, *args) -> subprocess.CompletedProcess:
    env, outside, environ = installed
    return subprocess.run(
        [env / "bin" / "vae-bench", *args],
        cwd=outside,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_installed_package_is_the_wheel_not_the_checkout(installed):
    env, outside, environ = installed
    found = subprocess.run(
        [
            env / "bin" / "python",
            "-c",
            "import bench, bench.shipped as s; print(bench.__file__); print(s.CONFIGS_DIR)",
        ],
        cwd=outside,
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(p.startswith(str(env)) for p in found), found
    assert not any(str(ROOT) in p for p in found)


def test_the_first_answers_work_from_the_wheel_alone(installed):
    from bench import __version__

    got = vae_bench(installed, "--version")
    assert (got.returncode, got.stdout) == (0, f"vae-bench {__version__}\n")

    got = vae_bench(installed, "run", "cpu", "--dry-run")
    assert got.returncode == 0, got.stderr
    assert "dry run, nothing was run or written" in got.stdout

    case = "--model sdxl --op decode --size 1024".split()
    got = vae_bench(installed, "fit", "--card", "NVIDIA GeForce RTX 3070", *case)
    assert got.returncode in (0, 1), got.stderr
    assert got.stdout.count("\n") == 1 and got.stdout.startswith(("FITS: ", "DOES NOT FIT: "))
    assert "using the shipped reference run" in got.stderr

    got = vae_bench(installed, "advise", "--card", "RTX 3070", "--headroom", "10%")
    assert got.returncode == 0, got.stderr
    assert "797 MiB headroom (10% of the card)" in got.stdout

    got = vae_bench(installed, "project", "--cards", "RTX 3070,RTX 4060 Ti 16GB")
    assert got.returncode == 0, got.stderr
    assert "NVIDIA GeForce RTX 4060 Ti 16GB" in got.stdout and "(projected)" in got.stdout

    # the card table comes with the wheel: a name sold in two sizes is refused from it
    got = vae_bench(installed, "fit", "--card", "RTX 4060 Ti", *case)
    assert (
        got.returncode == 2
        and "'NVIDIA GeForce RTX 4060 Ti 8GB' or 'NVIDIA GeForce RTX 4060 Ti 16GB'" in got.stderr
    )


def test_the_sweep_schema_comes_with_the_wheel_beside_the_sweeps_that_name_it(installed):
    env, _, _ = installed
    (configs,) = list(env.glob("lib/python3*/site-packages/bench/configs"))
    shipped = (configs / "sweep.schema.json").read_text()
    assert (
        (configs / "docs.yaml").read_text().startswith("# yaml-language-server: $schema=sweep.schema.json\n")
    )
    got = vae_bench(installed, "schema")
    assert got.returncode == 0 and got.stdout == shipped
