"""vae-bench fleet on a Ray cluster started here: two fake kinds of GPU (custom
resources on this machine), a tiny sweep on the CPU once per kind, streamed back into
local run folders; a task killed mid-sweep and the resume; the kinds read from nodes;
and the core without Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from traceback import extract_stack

import pytest

from bench.cli import main
from bench.record.store import open_run
from bench.sweep.fleet.kinds import Kind, choose, kinds_of
from tests.cli_helpers import start, wait_for_cases
from tests.conftest import ROOT, TINY_REGISTRY

ray = pytest.importorskip("ray", reason="the fleet extra is not installed: pip install -e '.[fleet]'")

KINDS = {"accelerator_type:Fake-A": 1, "accelerator_type:Fake-B": 1}


@pytest.fixture(scope="module")
def cluster():
    ctx = ray.init(
        num_cpus=4, resources=KINDS, include_dashboard=False, log_to_driver=False, logging_level="ERROR"
    )
    yield ctx.address_info["address"]  # this cluster's, for a fleet command in another process
    ray.shutdown()


def _runs(root):
    return sorted(p for p in root.iterdir() if (p / "meta.json").exists()) if root.exists() else []


@pytest.mark.slow  # a Ray cluster started, two kinds swept, a task killed and resumed
def test_one_run_per_kind_arrives_and_a_killed_task_resumes(
    cluster, write_sweep, tmp_path, capsys, monkeypatch
):
    """Both kinds run the sweep at once; Fake-A's task is killed after two cases. Fake-B's
    run arrives complete; Fake-A's keeps what arrived, and its resume (which reads the
    run's cases.jsonl once) completes it without duplicates. Both runs then render into
    one table, a row per kind: the kinds share this machine's CPU, so each run's device is
    labelled by its kind."""
    sweep = write_sweep(models=["tiny-slow"], resolutions=[32, 40, 48, 56, 64, 72])
    out = tmp_path / "fleet"
    # the fleet command in a process of its own, as a user runs it, on this test's cluster
    # as a user's shell holds it: the cluster's token, and no RAY_AUTH_MODE (the test's
    # own ray.init set that in this process)
    token_file = Path.home() / ".ray" / "auth_token"
    token = os.environ.get("RAY_AUTH_TOKEN") or (
        token_file.read_text().strip() if token_file.exists() else None
    )
    proc = start(
        ["fleet", "--trust-code", sweep, "--address", cluster, "--out", out, "--label-by-kind"],
        env={"RAY_AUTH_MODE": None, "RAY_AUTH_TOKEN": token} if token else None,  # else: auth is off
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(_runs(out)) < 2:
        time.sleep(0.1)
    by_kind = {open_run(p).meta.fleet.kind: p for p in _runs(out)}
    assert set(by_kind) == {"Fake-A", "Fake-B"}
    wait_for_cases(by_kind["Fake-A"], 2, proc, timeout=120)
    os.kill(open_run(by_kind["Fake-A"]).meta.fleet.node_pid, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "[Fake-B] tiny-slow encode 32x32" in stderr and "== Fake-A" in stdout
    assert "vae-bench fleet --resume" in stdout and "vae-bench docs update PAGE" in stdout

    b = open_run(by_kind["Fake-B"])
    assert b.meta.status == "complete" and b.meta.device["device"] == "cpu" and b.device_name
    assert sorted(r.case.width for r in b.records) == [32, 40, 48, 56, 64, 72] and all(
        r.ok for r in b.records
    )
    assert (b.path / "tables.md").exists() and b.meta.time_spent and b.meta.workers

    a = open_run(by_kind["Fake-A"])
    assert a.meta.status == "interrupted" and 2 <= len(a.records) < 6
    assert any("fleet --resume" in w for w in a.meta.warnings)
    from bench.record import store

    real, reads = store._cases_bytes, []

    def counted(run_dir):
        if not any(f.filename.endswith(os.path.join("bench", "docs", "tables.py")) for f in extract_stack()):
            reads.append(Path(run_dir).resolve())  # a read of the resume's, not tables.md's writer's
        return real(run_dir)

    monkeypatch.setattr(store, "_cases_bytes", counted)
    capsys.readouterr()
    assert main(["fleet", "--trust-code", "--resume", str(a.path), "--format", "json"]) == 0
    assert reads == [a.path.resolve()]
    monkeypatch.undo()
    doc = json.loads(capsys.readouterr().out)  # stdout is the JSON alone
    assert doc["command"] == "fleet" and doc["data"]["ending"] == "ok"
    assert [Path(p).resolve() for p in doc["data"]["runs"]] == [a.path.resolve()]
    a = open_run(a.path)
    ids = [r.case_id for r in a.records]
    assert a.meta.status == "complete" and len(ids) == len(set(ids)) == 6 and a.meta.resumed_at
    assert a.meta.fleet.kind == "Fake-A" and a.device_name == b.device_name
    assert (a.device_label, b.device_label) == ("Fake-A", "Fake-B")
    assert a.meta.config_file == str(sweep) and "--label-by-kind" in b.meta.command
    assert a.meta.fleet.node_command.startswith("vae-bench run ")

    capsys.readouterr()
    spec = tmp_path / "spec.yaml"
    block = {"title": "Tiny", "model": "tiny-slow", "op": "encode", "style": "encode"}
    spec.write_text(json.dumps({"registry": str(TINY_REGISTRY), "blocks": [block]}))  # JSON is YAML
    assert main(["tables", str(a.path), str(b.path), "--spec", str(spec)]) == 0
    rows = [line.split("|")[1].strip() for line in capsys.readouterr().out.splitlines() if "|" in line]
    assert rows[0] == "GPU" and rows[2:] == ["Fake-A"] * 6 + ["Fake-B"] * 6


def test_bad_kinds_and_no_kinds_are_one_line(cluster, write_sweep, capsys, tmp_path):
    sweep = write_sweep()
    assert main(["fleet", str(sweep), "--kinds", "RTX 9999"]) == 2
    err = capsys.readouterr().err.strip()
    assert "RTX 9999" in err and "Fake-A" in err and len(err.splitlines()) == 1
    # a label for one device given to every kind
    labelled = write_sweep("labelled.yaml", device_label="box")
    assert main(["fleet", str(labelled)]) == 2
    assert "device_label: names one device, and the fleet runs 2 kinds" in capsys.readouterr().err
    assert main(["fleet", "--resume", str(tmp_path), "--label-by-kind"]) == 2
    assert "keeps the device label it was made with" in capsys.readouterr().err


def test_kinds_are_read_from_resources_and_labels():
    nodes = [
        {
            "Alive": True,
            "NodeManagerAddress": "10.0.0.1",
            "Resources": {"GPU": 2, "accelerator_type:A100": 1},
        },
        {
            "Alive": True,
            "NodeManagerAddress": "10.0.0.2",
            "Resources": {"GPU": 1},
            "Labels": {"ray.io/accelerator-type": "RTX-4090"},
        },
        {"Alive": False, "NodeManagerAddress": "10.0.0.3", "Resources": {"GPU": 1, "accelerator_type:L4": 1}},
        {"Alive": True, "NodeManagerAddress": "10.0.0.4", "Resources": {"CPU": 8}},
    ]
    found = kinds_of(nodes)
    assert set(found) == {"A100", "RTX-4090"} and found["A100"].gpus == 2
    chosen, missing = choose(found, ["rtx 4090", "L4"])
    assert [k.name for k in chosen] == ["RTX-4090"] and missing == ["L4"]
    assert choose(found, None)[0] == [found["A100"], found["RTX-4090"]]
    assert Kind("A100").resource == "accelerator_type:A100"


def test_the_core_imports_without_ray():
    """Every module but the fleet driver, in an interpreter where `import ray` fails."""
    code = (
        "import sys, importlib, pkgutil\n"
        "sys.modules['ray'] = None\n"
        "import bench\n"
        "for m in pkgutil.walk_packages(bench.__path__, 'bench.'):\n"
        "    if m.name not in ('bench.sweep.fleet.driver', 'bench.__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "from bench.cli import main\n"
        "print(main(['fleet', 'x.yaml']))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "2" and "pip install -e '.[fleet]'" in out.stderr


def test_an_address_nothing_answers_at_fails_at_once():
    from bench.sweep.fleet.driver import FleetError, _reachable

    with pytest.raises(FleetError, match="nothing answers at 127.0.0.1:1"):
        _reachable("127.0.0.1:1")
    with pytest.raises(FleetError, match="is not HOST:PORT"):
        _reachable("ray://nohost")
    _reachable(None)  # a cluster on this machine, or RAY_ADDRESS: Ray finds it


def test_a_refused_connection_says_what_token_auth_needs(monkeypatch):
    from bench.sweep.fleet import driver

    def refuse(**kw):
        raise ConnectionError("Failed to connect to Ray cluster at 10.0.0.1:6379")

    monkeypatch.setattr(driver.ray, "is_initialized", lambda: False)
    monkeypatch.setattr(driver.ray, "init", refuse)
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    with pytest.raises(driver.FleetError, match="10.0.0.1:6379; a cluster with token auth.*RAY_AUTH_TOKEN"):
        driver.connect(None)
    monkeypatch.setenv("RAY_AUTH_MODE", "token")  # a token was sent: the hint would mislead
    with pytest.raises(driver.FleetError) as info:
        driver.connect(None)
    assert str(info.value) == "Failed to connect to Ray cluster at 10.0.0.1:6379"


def test_the_end_says_when_kinds_name_their_device_alike(tmp_path, capsys):
    """Two kinds whose nodes hold one model of card, run without --label-by-kind."""
    from bench.sweep.fleet.driver import Fleet
    from bench.sweep.fleet.receive import LocalRun
    from bench.sweep.launch import Ending, Outcome
    from tests.runs import case, write_run

    parts = []
    for kind in ("a", "b"):
        part = LocalRun(kind, {}, stored=open_run(write_run(tmp_path, kind, [case()])))
        part.added, part.ended, part.outcome = 1, {}, Outcome("complete", 1, 1, 1)
        parts.append(part)
    assert Fleet(parts, {}).report() == Ending.OK
    out = capsys.readouterr().out
    assert "name their device alike (NVIDIA GeForce RTX 4090)" in out and "--label-by-kind" in out
    assert "--spec SPEC" in out  # a sweep no shipped spec names
