"""How far a median can be trusted: configs/cpu.yaml run several times with a fixed
`repeats: 5` and with `repeats: auto` (calls until the 95% interval of the median is
within 1% of it), alternating, so that drift of the machine hits both alike.

For each case it prints the spread of the median across the runs of each kind,
(max - min) / median, the calls that were timed and how often the precision was met;
and, run by run, the identical-work pairs: sd-v1 encode and decode at 128x128 untiled
against tiled with a 128 px tile, which is the same work (the image fits one tile).
Targets: with auto, each pair within 2% in every run, and a median spread no worse
than with fixed repeats.

    python tests/perf/precision.py [--config configs/cpu.yaml] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.record.store import open_run  # noqa: E402

PAIR_TARGET = 0.02
PAIRS = [
    (f"sd-v1 {op} 128x128 float32 untiled", f"sd-v1 {op} 128x128 float32 tiled")
    for op in ("encode", "decode")
]


def run(config: dict, folder: Path) -> Path:
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    out = folder / "runs"
    cmd = [sys.executable, "-m", "bench", "run", str(path), "--out", str(out)]
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (run_dir,) = out.iterdir()
    return run_dir


def spread(values: list[float]) -> float:
    return (max(values) - min(values)) / statistics.median(values)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="cpu")
    p.add_argument("--runs", type=int, default=3, help="runs of each kind (default 3)")
    args = p.parse_args()
    base = yaml.safe_load((ROOT / args.config).read_text())
    kinds = {"fixed 5": {**base, "repeats": 5}, "auto": {**base, "repeats": "auto"}}
    results: dict[str, list] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            for kind, config in kinds.items():
                folder = Path(tmp) / f"{kind.replace(' ', '')}-{i}"
                folder.mkdir()
                results[kind].append({r.label: r for r in open_run(run(config, folder)).records})
                print(f"run {i + 1}/{args.runs} ({kind}) done", file=sys.stderr, flush=True)

    labels = list(results["auto"][0])
    print(f"{'case':<38} {'kind':<8} {'spread':>7} {'calls':>6} {'met':>5}  medians (s), run by run")
    for label in labels:
        for kind, runs in results.items():
            recs = [r[label] for r in runs if label in r and r[label].ok]
            if not recs:
                continue
            calls = statistics.mean(r.time.calls or len(r.samples) for r in recs)
            met = sum(bool(r.precision_met) for r in recs)
            medians = " ".join(f"{r.median:.4f}" for r in recs)
            print(
                f"{label:<38} {kind:<8} {spread([r.median for r in recs]) * 100:>6.1f}% "
                f"{calls:>6.1f} {met:>3}/{len(recs)}  {medians}"
            )
    for untiled, tiled in PAIRS:
        print(f"\nidentical work, {tiled} against untiled (target within {PAIR_TARGET:.0%}):")
        for kind, runs in results.items():
            gaps = [r[tiled].median / r[untiled].median - 1 for r in runs]
            verdict = "within" if all(abs(g) <= PAIR_TARGET for g in gaps) else "OUTSIDE"
            print(f"  {kind:<8} " + "  ".join(f"{g * 100:+.1f}%" for g in gaps) + f"   ({verdict})")
    for kind, runs in results.items():
        spreads = [spread([r[label].median for r in runs]) for label in labels]
        print(f"median spread across runs, {kind}: {statistics.median(spreads) * 100:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
