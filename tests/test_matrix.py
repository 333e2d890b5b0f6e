"""`vae-bench matrix` for real: a tiny CPU sweep (taesd at 64 px) under two diffusers
releases from the package index, each in a layer built once for the module, then the
same matrix again with every index out of reach, so that any install would fail."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import yaml

from bench.cli import main
from bench.record import layer
from bench.record.store import open_run

pytestmark = pytest.mark.slow

RELEASES = ("0.41.0", "0.42.0")  # neither is the diffusers the test environment holds
SWEEP = {
    "name": "taesd-versions",
    "models": ["taesd"],
    "ops": ["encode", "decode"],
    "resolutions": [64],
    "dtype": "float32",
    "tiled": [False],
    "warmup": 1,
    "warmup_time": 0,
    "repeats": 6,
    "device": "cpu",
    "weights": "random",
    "output": "unused",
}


def matrix(capsys, sweep: Path, out: Path, envs: Path) -> tuple[int, dict, str, float]:
    args = [f"--with=diffusers=={v}" for v in RELEASES]
    start = time.monotonic()
    code = main(["matrix", str(sweep), *args, "--out", str(out), "--envs", str(envs), "--format", "json"])
    took = time.monotonic() - start
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else {}, captured.err, took


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    root = tmp_path_factory.mktemp("matrix")
    sweep = root / "sweep.yaml"
    sweep.write_text(yaml.safe_dump(SWEEP))
    return root, sweep


def test_each_release_runs_in_its_own_environment_and_a_second_matrix_installs_nothing(
    first, capsys, monkeypatch
):
    root, sweep = first
    envs = root / "envs"
    code, doc, err, took_first = matrix(capsys, sweep, root / "out", envs)
    if code == 2 and "could not be installed" in err:
        pytest.skip(f"the package index cannot be reached from here: {err.strip()[-200:]}")
    assert code in (0, 1), err  # 1: a CPU's noise may pass for a regression; the figures are checked below
    data = doc["data"]
    assert [e["with"] for e in data["environments"]] == [f"diffusers=={v}" for v in RELEASES]
    for env, version in zip(data["environments"], RELEASES, strict=True):
        run = open_run(env["run"])
        assert run.meta.status == "complete" and len(run.records) == 2
        # what the run imported, not the base environment's diffusers
        assert run.meta.environment["diffusers"] == env["diffusers"] == version
        recorded = layer.from_environment(run.meta.environment)
        assert recorded.want == (f"diffusers=={version}",) and recorded.version("diffusers") == version
        assert all(c["median_s"] > 0 and c["peak_bytes"] > 0 for c in env["cases"])
    assert all(c["verdict"] is not None for c in data["environments"][1]["cases"])
    assert err.count("building the environment of") == 2
    layers = sorted(p for p in envs.iterdir() if not p.name.startswith("."))
    assert len(layers) == 2
    stamps = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in layers}

    # No index can be reached now: an install would fail, and the matrix with it.
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("UV_OFFLINE", "1")
    code, doc, err, took_second = matrix(capsys, sweep, root / "out", envs)
    assert code in (0, 1), err
    assert "building the environment" not in err and err.count("the cached environment") == 2
    assert all(e["environment_reused"] for e in doc["data"]["environments"])
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in layers} == stamps
    versions = [e["diffusers"] for e in doc["data"]["environments"]]
    assert versions == list(RELEASES)

    # history lines the four runs up by the diffusers version they recorded
    assert main(["history", str(root / "out"), "--by", "diffusers", "--format", "json"]) == 0
    h = json.loads(capsys.readouterr().out)["data"]
    assert [r["diffusers"] for r in h["runs"]] == [RELEASES[0]] * 2 + [RELEASES[1]] * 2
    print(f"matrix: first {took_first:.1f} s (two environments built), second {took_second:.1f} s (reused)")


def test_uv_installs_only_what_the_base_lacks(tmp_path, monkeypatch):
    """uv, which reads neither pip's configuration nor packages outside a virtualenv,
    still installs only what the base lacks, from pip's indexes."""
    import subprocess
    import sys

    from bench.versions.layers import Cache
    from bench.versions.wants import parse_want

    tools = tmp_path / "uv"
    got = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--target", str(tools), "uv"], capture_output=True
    )
    if got.returncode != 0 or not (tools / "bin" / "uv").exists():
        pytest.skip("uv cannot be installed from the package index here")
    monkeypatch.setenv("PATH", f"{tools / 'bin'}{os.pathsep}{os.environ['PATH']}")
    built = Cache(tmp_path / "envs", "uv", say=lambda line: None).ensure(
        parse_want("diffusers==0.41.0").items, ("diffusers==0.41.0",), "diffusers 0.41.0"
    )
    held = {p.name.split("-")[0].lower() for p in layer.site_packages(built.path).glob("*.dist-info")}
    assert "diffusers" in held and not held & {"torch", "numpy", "pillow", "pyyaml"}  # the base's stay
    out = subprocess.run(
        [str(built.python), "-c", "import diffusers, torch; print(diffusers.__version__, torch.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out[0] == "0.41.0" and not out[1].startswith(str(built.path))
