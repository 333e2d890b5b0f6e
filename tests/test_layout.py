"""The package's layers, as ARCHITECTURE.md draws them. Two views: what each module
imports as written (every import statement, those inside functions included, read
from the source), and what importing a reader really loads (in a fresh interpreter).

- bench.record, the run format, stands on the loose modules alone.
- Readers of runs (bench.docs, bench.analysis) never reach the sweep's execution
  path (planning, launching, workers), model building or the measurement backends;
  bench.docs may read a sweep's description (bench.sweep.config, bench.sweep.cases,
  the registry); bench.analysis reads runs alone.
- bench.site, the HTML report, reads runs through both readers and draws: it never
  reaches the sweep's execution path, the models or the measurement backends, and no
  reader imports it.
- The measurement and model layers never reach up into the sweep, the readers or
  the command line; nothing but the command line imports bench.commands.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

BENCH = ROOT / "bench"
LOOSE_ALLOWED = 5  # beside cli.py, __main__.py and __init__.py
MAX_LINES = 400

EXECUTION = (
    "bench.sweep.plan",
    "bench.sweep.runner",
    "bench.sweep.worker",
    "bench.sweep.host",
    "bench.sweep.launch",
    "bench.sweep.local",
    "bench.sweep.progress",
    "bench.sweep.fleet",
    "bench.models.build",
    "bench.models.workloads",
    "bench.models.variants",
    "bench.measure",
)
# bench.versions runs sweeps in other interpreters, through the command line: it stands
# above everything but the commands, and nothing below the commands imports it.
COMMAND_LINE = ("bench.commands", "bench.cli", "bench.versions")
LOOSE = ("bench.errors", "bench.files", "bench.strict", "bench.stats", "bench.cards", "bench.shipped")

# every layer above the loose modules
UPPER = ("bench.sweep", "bench.models", "bench.measure", "bench.docs", "bench.analysis", "bench.site")
UPPER += COMMAND_LINE

# (package, what none of its modules may import)
RULES = [
    (
        "bench.record",
        ("bench.sweep", "bench.models", "bench.measure", "bench.docs", "bench.analysis", "bench.cards")
        + ("bench.shipped",)
        + COMMAND_LINE,
    ),
    ("bench.docs", EXECUTION + ("bench.site",) + COMMAND_LINE),
    ("bench.analysis", EXECUTION + ("bench.models", "bench.docs", "bench.site") + COMMAND_LINE),
    ("bench.site", EXECUTION + ("bench.models", "bench.sweep") + COMMAND_LINE),
    ("bench.measure", ("bench.sweep", "bench.docs", "bench.analysis", "bench.site") + COMMAND_LINE),
    (
        "bench.models",
        ("bench.sweep", "bench.measure", "bench.docs", "bench.analysis", "bench.site") + COMMAND_LINE,
    ),
    ("bench.sweep", COMMAND_LINE),
    ("bench.versions", EXECUTION + ("bench.docs", "bench.site", "bench.commands", "bench.cli")),
    ("bench.errors", ("bench.",)),
    ("bench.files", UPPER + ("bench.record", "bench.cards")),
    ("bench.strict", UPPER + ("bench.record", "bench.cards")),
    ("bench.cards", UPPER + ("bench.record",)),
    ("bench.stats", ("bench.",)),
    ("bench.shipped", UPPER + ("bench.record", "bench.cards", "bench.files", "bench.strict")),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every bench module `path` names in an import, wherever the statement stands; `from
    bench.x import y` counts as bench.x.y where y is a module, else as bench.x."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("bench")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("bench"):
            for alias in node.names:
                sub = BENCH.parent.joinpath(*node.module.split("."), alias.name)
                is_module = sub.with_suffix(".py").exists() or sub.is_dir()
                names.add(f"{node.module}.{alias.name}" if is_module else node.module)
    return names


def _under(name: str, prefix: str) -> bool:
    return name == prefix.rstrip(".") or name.startswith(prefix if prefix.endswith(".") else prefix + ".")


MODULES = {module_name(p): p for p in sorted(BENCH.rglob("*.py"))}


@pytest.mark.parametrize("package, forbidden", RULES, ids=[r[0] for r in RULES])
def test_no_module_imports_across_its_layer(package, forbidden):
    wrong = []
    for name, path in MODULES.items():
        if _under(name, package):
            wrong += [
                f"{name} imports {i}"
                for i in sorted(imports_of(path))
                if any(_under(i, f) for f in forbidden)
            ]
    assert not wrong, "\n".join(wrong)


def test_only_the_command_line_imports_the_commands():
    wrong = [
        f"{name} imports {i}"
        for name, path in MODULES.items()
        if not _under(name, "bench.commands") and name not in ("bench.cli", "bench.__main__")
        for i in imports_of(path)
        if _under(i, "bench.commands") or i == "bench.cli"
    ]
    assert not wrong, "\n".join(wrong)


def test_the_import_scan_sees_imports_inside_functions(tmp_path):
    """The rule above would be blind to a lazy import if the scan only read the module's
    top level; this is the shape it must catch."""
    source = tmp_path / "m.py"
    source.write_text(
        "def f():\n    if True:\n        from bench.sweep import runner\n        import bench.measure.cuda\n"
    )
    assert imports_of(source) == {"bench.sweep.runner", "bench.measure.cuda"}


def test_no_module_is_over_the_size_limit():
    long = {name: n for name, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def test_few_modules_sit_loose_in_the_package():
    loose = sorted(
        p.name for p in BENCH.glob("*.py") if p.name not in ("cli.py", "__main__.py", "__init__.py")
    )
    assert len(loose) <= LOOSE_ALLOWED, loose
    assert {f"bench.{Path(n).stem}" for n in loose} <= set(LOOSE), loose


def test_every_package_says_what_it_owns_and_cites_the_architecture():
    for init in sorted(BENCH.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc, f"{init} has no docstring"
    assert (ROOT / "ARCHITECTURE.md").is_file()
    cites = [p for p in MODULES.values() if "ARCHITECTURE.md" in p.read_text()]
    assert len(cites) >= 4, cites
    stale = [str(p) for p in MODULES.values() if "DESIGN.md" in p.read_text()]
    assert not stale, stale


# -- what importing really loads ------------------------------------------------------


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
        ("bench.site.build",),
    ],
    ids=["docs", "analysis", "site"],
)
def test_readers_of_runs_never_load_the_sweep_path_or_torch(modules):
    loaded = loaded_by(*modules)
    assert set(modules) <= loaded
    assert not {m for m in loaded if any(_under(m, e) for e in EXECUTION)}, loaded
    assert "torch" not in loaded and "diffusers" not in loaded


def test_compare_loads_neither_the_config_nor_the_registry_nor_yaml():
    loaded = loaded_by("bench.analysis.compare")
    assert not {"bench.sweep.config", "bench.models.registry", "bench.sweep.cases", "yaml"} & loaded, loaded


def test_the_run_format_and_its_store_load_nothing_heavy():
    loaded = loaded_by("bench.record", "bench.record.store")
    assert {"bench.record", "bench.record.store"} <= loaded
    assert not {"yaml", "pandas", "matplotlib", "scipy", "torch"} & loaded, loaded
    assert not {m for m in loaded if _under(m, "bench.sweep") or _under(m, "bench.models")}, loaded
