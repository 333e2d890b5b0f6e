"""What the commands print and write on the committed reference runs, pinned byte for
byte in tests/golden/expected/: tables, docs update, compare, fit, project, advise,
show, history, and the data every plot draws. A change meant to move code, not
output, must leave these alone. After a change that means to alter output:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py

and read the diff of tests/golden/expected/ before committing it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import (
    FIXTURES,
    REFERENCE,
    REFERENCE_H200,
    REFERENCE_H200_DOCS,
    REFERENCE_H200_VARIANTS,
    ROOT,
)

EXPECTED = Path(__file__).resolve().parent / "golden" / "expected"
SPECS = ROOT / "bench" / "configs" / "docs"
RUNS = {
    "cpu": REFERENCE,
    "h200a": REFERENCE_H200,
    "h200": REFERENCE_H200_DOCS,
    "variants": REFERENCE_H200_VARIANTS,
}


def _commands(runs: dict[str, Path], work: Path) -> dict[str, list]:
    cpu, h200a, h200, variants = runs["cpu"], runs["h200a"], runs["h200"], runs["variants"]
    out: dict[str, list] = {}
    for name, run in runs.items():
        out[f"show-{name}"] = ["show", run]
        out[f"tables-{name}"] = ["tables", run]
        out[f"tables-zh-{name}"] = ["tables", run, "--lang", "zh"]
        out[f"plot-{name}"] = ["plot", run, "--out", work / "plots" / name]
    out["tables-both-h200"] = ["tables", h200a, h200]
    out["tables-spec-h200"] = ["tables", h200, "--spec", SPECS / "hybrid-inference.yaml"]
    out["tables-decode-style"] = ["tables", h200, "--style", "decode"]
    for fmt in ("text", "md", "json"):
        out[f"compare-{fmt}"] = ["compare", h200a, h200, "--format", fmt]
        out[f"fit-card-{fmt}"] = ["fit", h200, "--card", "RTX 4090", "--format", fmt]
        out[f"advise-{fmt}"] = ["advise", variants, "--vram", "8GiB", "--format", fmt]
        out[f"project-{fmt}"] = ["project", h200, "--cards", "RTX 3080 10GB,RTX 4090", "--format", fmt]
    out["compare-cpu-self"] = ["compare", cpu, cpu]
    out["fit-vram-headroom"] = ["fit", variants, "--vram", "12GiB", "--headroom", "1GiB"]
    out["advise-psnr"] = ["advise", variants, "--card", "RTX 3060 12GB", "--min-psnr", "30"]
    one = ["--model", "sd-v1", "--op", "decode", "--size", "2048"]
    out["fit-one-case"] = ["fit", h200, variants, "--card", "RTX 3070", *one]
    out["fit-one-case-shipped"] = [
        "fit",
        "--card",
        "RTX 4060 Ti 8GB",
        "--model",
        "sdxl",
        "--op",
        "decode",
        "--size",
        "1024",
    ]
    out["history"] = ["history", work / "runs"]
    out["history-memory"] = ["history", work / "runs", "--metric", "memory", "--device", "H200"]
    out["plot-together"] = ["plot", h200a, h200, variants, "--out", work / "plots" / "together"]
    for page, spec in (("overview.en.md", "hybrid-inference.yaml"), ("vae_encode.en.md", "vae-encode.yaml")):
        copy = work / "pages" / page
        out[f"update-{page}"] = ["docs", "update", copy, "--spec", SPECS / spec, h200]
        out[f"check-{page}"] = ["docs", "check", copy]
    return out


class _PlotRecorder:
    """Every call a plot makes on its axes and figures, with its arguments, instead of
    the PNG's bytes (which belong to matplotlib's renderer, not to us)."""

    METHODS = (
        "plot", "scatter", "fill_between", "axhline", "axvline", "errorbar", "bar", "barh",
        "text", "annotate", "set_title", "set_xlabel", "set_ylabel", "set_xscale", "set_yscale",
        "set_xlim", "set_ylim", "set_xticks", "set_xticklabels", "legend",
    )  # fmt: skip

    def __init__(self, monkeypatch, work: Path):
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.axes import Axes
        from matplotlib.figure import Figure

        self.calls: list[str] = []
        self.work = work
        for name in self.METHODS:
            monkeypatch.setattr(Axes, name, self._wrap(name, getattr(Axes, name)))
        monkeypatch.setattr(Figure, "suptitle", self._wrap("suptitle", Figure.suptitle))
        monkeypatch.setattr(Figure, "savefig", self._save(Figure.savefig))

    def _wrap(self, name, original):
        def call(obj, *args, **kwargs):
            self.calls.append(f"{name}{_show(args)} {_show(kwargs)}")
            return original(obj, *args, **kwargs)

        return call

    def _save(self, original):
        def save(fig, path, *args, **kwargs):
            if isinstance(path, (str, Path)):
                self.calls.append(f"savefig {Path(path).relative_to(self.work)}")
                return original(fig, path, *args, **kwargs)
            # A figure rendered into a buffer on its way to a file: what it draws is
            # recorded above, and rendering it (most of this test's time) would pin
            # nothing; tests/test_plot.py checks the PNGs.
            path.write(b"\x89PNG\r\n\x1a\n")
            return None

        return save

    def take(self) -> str:
        text = "\n".join(self.calls)
        self.calls.clear()
        return text


def _show(value) -> str:
    """A stable text for plot arguments: floats to 6 significant digits, arrays as lists."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_show(v)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    if isinstance(value, (str, int, bool, type(None), Path)):
        return repr(str(value)) if isinstance(value, Path) else repr(value)
    return type(value).__name__


def _capture(tmp_path: Path, monkeypatch, capsys) -> dict[str, str]:
    from bench import cli

    work = tmp_path / "w"
    runs = {}
    for name, src in RUNS.items():
        runs[name] = work / "runs" / src.name
        shutil.copytree(src, runs[name])
    (work / "pages").mkdir(parents=True)
    for page in ("overview.en.md", "vae_encode.en.md"):
        shutil.copyfile(FIXTURES / "docs" / page, work / "pages" / page)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(work)
    recorder = _PlotRecorder(monkeypatch, work)

    got: dict[str, str] = {}
    for name, args in _commands(runs, work).items():
        code = cli.main([str(a) for a in args])
        out, err = capsys.readouterr()
        line = " ".join(str(a) for a in args)
        text = f"$ vae-bench {line}\nexit {code}\n--- stdout\n{out}--- stderr\n{err}"
        if name.startswith("plot"):
            text += "--- drawn\n" + recorder.take() + "\n"
        if name.startswith("update-"):
            text += "--- page\n" + (work / "pages" / name.removeprefix("update-")).read_text()
        got[name] = text.replace(str(work), "<WORK>").replace(str(ROOT), "<ROOT>")
    return got


@pytest.mark.slow
def test_command_outputs_on_the_reference_runs_are_unchanged(tmp_path, monkeypatch, capsys):
    got = _capture(tmp_path, monkeypatch, capsys)
    if os.environ.get("UPDATE_GOLDEN"):
        shutil.rmtree(EXPECTED, ignore_errors=True)
        EXPECTED.mkdir(parents=True)
        for name, text in got.items():
            (EXPECTED / f"{name}.txt").write_text(text)
    expected = {p.stem: p.read_text() for p in EXPECTED.glob("*.txt")}
    assert sorted(got) == sorted(expected)
    changed = [name for name in got if got[name] != expected[name]]
    for name in changed:
        print(f"{name}: differs from {EXPECTED / name}.txt")
    assert not changed, changed
