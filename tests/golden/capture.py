"""Every command's output on the committed reference run and on the GPU runs in
../shared/gpu-runs/, one file per command, so that a change that should not alter
any output can be checked byte for byte:

    python tests/golden/capture.py /tmp/before      # on the old commit
    python tests/golden/capture.py /tmp/after       # on the new one
    diff -r /tmp/before /tmp/after

Runs are copied to one fixed place first, so paths in the output are the same.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GPU_RUNS = ROOT.parent / "shared" / "gpu-runs" / "h200-2026-11-26"
WORK = Path("/tmp/vae-bench-golden")
DOCS = ROOT / "tests" / "fixtures" / "docs"
SPECS = ROOT / "bench" / "configs" / "docs"
PAGES = {
    "overview.en.md": "hybrid-inference.yaml",
    "vae_encode.en.md": "vae-encode.yaml",
    "vae_decode.en.md": "vae-decode.yaml",
}


def main(out: Path) -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    cpu = WORK / "cpu"
    gpu = WORK / "gpu"
    for base in (ROOT / "results" / "reference", ROOT / "bench" / "reference"):
        for run in sorted(p for p in base.iterdir() if p.is_dir()):
            shutil.copytree(run, cpu / run.name)
    for run in sorted(p for p in GPU_RUNS.iterdir() if (p / "meta.json").exists()):
        shutil.copytree(run, gpu / run.name)
    runs = sorted(cpu.iterdir()) + sorted(gpu.iterdir())
    docs_run, default_run = (
        next(r for r in gpu.iterdir() if r.name.endswith(s)) for s in ("docs", "default")
    )

    commands: dict[str, list] = {"models": ["models"]}
    for r in runs:
        commands[f"show-{r.name}"] = ["show", r]
        commands[f"tables-{r.name}"] = ["tables", r]
        commands[f"tables-zh-{r.name}"] = ["tables", r, "--lang", "zh"]
        commands[f"tables-decode-{r.name}"] = ["tables", r, "--style", "decode"]
        commands[f"plot-{r.name}"] = ["plot", r, "--out", WORK / "plots" / r.name]
    commands["tables-gpu-all"] = ["tables", *sorted(gpu.iterdir())]
    commands["tables-spec-h200"] = ["tables", docs_run, "--spec", SPECS / "hybrid-inference.yaml"]
    for fmt in ("text", "md", "json"):
        commands[f"compare-docs-default-{fmt}"] = ["compare", docs_run, default_run, "--format", fmt]
        commands[f"compare-default-docs-{fmt}"] = ["compare", default_run, docs_run, "--format", fmt]
    commands["plot-gpu-together"] = ["plot", docs_run, default_run, "--out", WORK / "plots" / "together"]
    for extra in ([], ["--metric", "memory"], ["--model", "sd-v1", "--op", "decode"], ["--device", "H200"]):
        name = "history" + "".join(f"-{x.strip('-')}" for x in extra)
        commands[name] = ["history", gpu, *extra]
    commands["history-cpu"] = ["history", cpu]
    commands["history-plot"] = ["history", gpu, "--plot", WORK / "plots" / "history.png"]
    for page in sorted(DOCS.glob("*.md")):
        commands[f"check-{page.name}"] = ["docs", "check", page]
    commands["check-zh-lang"] = ["docs", "check", DOCS / "vae_encode.zh.md", "--lang", "zh"]
    for page in PAGES:
        commands[f"import-{page}"] = ["docs", "import", DOCS / page, "--out", WORK / "imported" / page]
    for sweep in sorted((ROOT / "bench" / "configs").glob("*.yaml")):
        if sweep.name != "models.yaml":
            commands[f"dry-run-{sweep.name}"] = ["run", sweep, "--dry-run"]

    for name, args in commands.items():
        _run(out / name, args)
    # What the imports wrote, then commands over the imported runs.
    for page, spec in PAGES.items():
        imported = sorted((WORK / "imported" / page).iterdir())
        _snapshot(out / f"import-{page}.files", imported)
        copy = WORK / "pages" / page
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DOCS / page, copy)
        _run(
            out / f"update-check-{page}",
            ["docs", "update", copy, "--spec", SPECS / spec, *imported, "--check"],
        )
        _run(out / f"tables-imported-{page}", ["tables", *imported])
        _run(out / f"show-imported-{page}", ["show", imported[0]])
    rtx4090 = next(p for p in (WORK / "imported" / "overview.en.md").iterdir() if "4090" in p.name)
    _run(out / "compare-published-4090-h200", ["compare", rtx4090, docs_run])
    _run(out / "plot-published", ["plot", rtx4090, docs_run, "--out", WORK / "plots" / "published"])
    zh = WORK / "pages" / "vae_encode.zh.md"
    shutil.copyfile(DOCS / "vae_encode.zh.md", zh)
    imported = sorted((WORK / "imported" / "vae_encode.en.md").iterdir())
    _run(
        out / "update-zh",
        ["docs", "update", zh, "--spec", SPECS / "vae-encode.yaml", *imported, "--lang", "zh"],
    )
    (out / "update-zh.page").write_bytes(zh.read_bytes())
    _snapshot(out / "plots.files", sorted((WORK / "plots").rglob("*.png")))


def _run(path: Path, args: list) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    path.write_text(
        f"$ vae-bench {' '.join(map(str, args))}\nexit {proc.returncode}\n"
        f"--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"
    )


def _snapshot(path: Path, files: list[Path]) -> None:
    """sha256 of every file (folders: of every file below them)."""
    lines = []
    for f in files:
        for g in sorted(f.rglob("*")) if f.is_dir() else [f]:
            if g.is_file() and g.name != ".lock":
                lines.append(f"{hashlib.sha256(g.read_bytes()).hexdigest()}  {g.relative_to(WORK)}")
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
