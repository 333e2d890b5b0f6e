"""The package's layers: readers of runs (bench.docs, bench.analysis) never load the
sweep path, the measurement backends or torch; compare loads neither the sweep's
config nor the registry nor yaml; the run format loads nothing heavy."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

SWEEP_PATH = (
    "bench.sweep.runner",
    "bench.sweep.worker",
    "bench.measure",
    "bench.models.workloads",
    "bench.models.build",
    "bench.sweep.plan",
)


def loaded_by(*modules: str) -> set[str]:
    code = (
        f"import sys, {', '.join(modules)}\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(('bench', 'torch', 'diffusers', "
        "'yaml', 'pandas', 'matplotlib', 'scipy')))))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize(
    "modules",
    [
        ("bench.docs.tables", "bench.docs.update", "bench.docs.check", "bench.docs.published"),
        (
            "bench.analysis.compare",
            "bench.analysis.report",
            "bench.analysis.history",
            "bench.analysis.plot",
            "bench.analysis.summary",
        ),
    ],
    ids=["docs", "analysis"],
)
def test_readers_of_runs_never_load_the_sweep_path_or_torch(modules):
    loaded = loaded_by(*modules)
    assert set(modules) <= loaded
    assert not {m for m in loaded if m.startswith(SWEEP_PATH)}, loaded
    assert "torch" not in loaded and "diffusers" not in loaded


def test_compare_loads_neither_the_config_nor_the_registry_nor_yaml():
    loaded = loaded_by("bench.analysis.compare")
    assert not {"bench.sweep.config", "bench.models.registry", "bench.sweep.cases", "yaml"} & loaded, loaded


def test_the_run_format_and_its_store_load_nothing_heavy():
    loaded = loaded_by("bench.record.run", "bench.record.store")
    assert {"bench.record.run", "bench.record.store"} <= loaded
    assert not {"yaml", "pandas", "matplotlib", "scipy", "torch"} & loaded, loaded
