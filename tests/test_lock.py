"""constraints.txt: what `make setup` installs, made by `make lock` (tools/lock.py)."""

from __future__ import annotations

import re
import sys
from importlib import metadata

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement

from tests.conftest import ROOT

pytest.importorskip("tomllib", reason="tools/lock.py reads pyproject.toml with tomllib (Python 3.11+)")
from tools import lock  # noqa: E402

CONSTRAINTS = ROOT / "constraints.txt"


def pins_for(python: str) -> dict[str, str]:
    """name -> version that constraints.txt gives under `python`, each name once."""
    out: dict[str, str] = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        req = Requirement(line)
        if req.marker and not req.marker.evaluate({"python_version": python}):
            continue
        (spec,) = req.specifier
        assert spec.operator == "==", line
        assert lock.canonical(req.name) not in out, f"{req.name} pinned twice for Python {python}"
        out[lock.canonical(req.name)] = spec.version
    return out


def locked_pythons() -> list[str]:
    head = CONSTRAINTS.read_text().splitlines()[1]
    return re.findall(r"3\.\d+", head)


def test_merge_gives_a_marker_only_where_the_pythons_differ():
    by_python = {
        "3.10": {"numpy": "2.2.6", "tabulate": "0.10.0", "tomli": "2.0.1"},
        "3.11": {"numpy": "2.4.6", "tabulate": "0.10.0"},
        "3.12": {"numpy": "2.4.6", "tabulate": "0.10.0"},
    }
    assert lock.merge(by_python) == [
        'numpy==2.2.6 ; python_version == "3.10"',
        'numpy==2.4.6 ; python_version == "3.11" or python_version == "3.12"',
        "tabulate==0.10.0",
        'tomli==2.0.1 ; python_version == "3.10"',
    ]
    for line in lock.merge(by_python):  # pip reads each line
        Requirement(line)


def test_pins_leave_torch_out_of_a_pip_report():
    report = {
        "install": [
            {"metadata": {"name": "torch", "version": "2.13.0"}},
            {"metadata": {"name": "PyYAML", "version": "6.0.4"}},
            {"metadata": {"name": "nvidia_ml_py", "version": "13.615.71"}},
        ]
    }
    assert lock.pins(report) == {"pyyaml": "6.0.4", "nvidia-ml-py": "13.615.71"}


def test_requirements_are_the_projects_without_torch():
    reqs = lock.requirements(ROOT / "pyproject.toml")
    names = {lock.canonical(Requirement(r).name) for r in reqs}
    assert "torch" not in names
    assert {"diffusers", "tabulate", "pytest", "ray", "pyarrow", "jsonschema"} <= names


def test_constraints_pin_every_dependency_within_pyproject_for_each_python():
    pythons = locked_pythons()
    assert pythons == list(lock.PYTHONS)
    for py in pythons:
        pins = pins_for(py)
        assert not [n for n in pins if n == "torch" or n.startswith("nvidia-cu") or n == "triton"]
        assert "vae-bench" not in pins
        for text in lock.requirements(ROOT / "pyproject.toml"):
            req = Requirement(text)
            if req.marker and not req.marker.evaluate({"python_version": py}):
                continue
            name = lock.canonical(req.name)
            assert name in pins, f"{name} is not pinned for Python {py}: run make lock"
            assert req.specifier.contains(pins[name], prereleases=True), (py, text, pins[name])


def test_tabulate_has_an_upper_bound_the_lock_keeps():
    (tab,) = [Requirement(r) for r in lock.requirements(ROOT / "pyproject.toml") if r.startswith("tabulate")]
    assert any(s.operator == "<" for s in tab.specifier)
    for py in locked_pythons():
        assert tab.specifier.contains(pins_for(py)["tabulate"])


def test_make_installs_through_the_constraints():
    makefile = (ROOT / "Makefile").read_text()
    installs = [ln for ln in makefile.splitlines() if "pip install" in ln and "-e " in ln]
    assert installs and all("-c $(CONSTRAINTS)" in ln for ln in installs)
    assert "CONSTRAINTS := constraints.txt" in makefile


IN_MAKE_VENV = sys.prefix == str(ROOT / ".venv")


@pytest.mark.skipif(
    not IN_MAKE_VENV, reason="runs in the virtualenv make setup installs from constraints.txt"
)
def test_the_virtualenv_holds_the_pinned_versions():
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    if py not in locked_pythons():
        pytest.skip(f"constraints.txt has no pins for Python {py}")
    pins = pins_for(py)
    checked = 0
    for text in lock.requirements(ROOT / "pyproject.toml"):
        req = Requirement(text)
        if req.marker and not req.marker.evaluate():
            continue
        name = lock.canonical(req.name)
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # an extra make setup does not install (parquet)
        assert installed == pins[name], f"{name}: run make setup"
        checked += 1
    assert checked >= 15


def test_markers_are_valid():
    for line in CONSTRAINTS.read_text().splitlines():
        if ";" in line and not line.startswith("#"):
            Marker(line.split(";", 1)[1])
