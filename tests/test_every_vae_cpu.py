"""bench/configs/every-vae-cpu.yaml end to end: every registered model builds with
random weights, encodes and decodes once at its smallest size on the CPU. Minutes
on two cores: marked every_vae, run by `make test-every-vae` (not by `make test`,
whose time it would more than double)."""

from __future__ import annotations

import pytest

from bench.cli import main
from bench.models.registry import load_registry
from bench.record.store import open_run

pytestmark = [pytest.mark.slow, pytest.mark.every_vae]


def test_every_registered_model_encodes_and_decodes_on_the_cpu(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["run", "every-vae-cpu", "--out", str(tmp_path)]) == 0
    run = open_run(capsys.readouterr().out.splitlines()[-1])
    assert {r.case.model for r in run.records} == set(load_registry())
    assert len(run.records) == 2 * len(load_registry())
    bad = [f"{r.label}: {r.status} {r.error}" for r in run.records if not r.ok]
    assert not bad, bad
    assert all(r.weights == "random" and r.mem.process_peak for r in run.records)
