"""How far each median can be trusted: configs/cpu.yaml (or any sweep) run with
`repeats: auto` (calls until the 95% interval of the median is within `precision` and
the calls are stationary) and, alternating, with a fixed `repeats: 5`, so that drift
of the machine hits both alike.

Per case and run: the interval of the median (as ± of it), the drift (the second
half's median over the first's), whether the calls were stationary, the calls timed
and those dropped as warmup, and whether the precision was met. Then the
identical-work pairs (sd-v1 encode and decode at 128x128 untiled against tiled with a
128 px tile: the image fits one tile, so the work is the same; target: within 2%),
with two runs or more the spread of each median across runs, and a summary line.

    python tests/perf/precision.py [--config cpu] [--runs 1] [--kinds auto,fixed]
    python tests/perf/precision.py --run results/runs/<id> [...]   (stored runs only)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.record.store import Run, open_run  # noqa: E402

PAIR_TARGET = 0.02
PAIRS = [
    (f"sd-v1 {op} 128x128 float32 untiled", f"sd-v1 {op} 128x128 float32 tiled")
    for op in ("encode", "decode")
]
KINDS = {"auto": ["repeats=auto"], "fixed": ["repeats=5"]}


def sweep(config: str, overrides: list[str], out: Path) -> Path:
    cmd = [sys.executable, "-m", "bench", "run", config, *overrides, "--out", str(out)]
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (run_dir,) = out.iterdir()
    return run_dir


def spread(values: list[float]) -> float:
    return (max(values) - min(values)) / statistics.median(values)


def case_rows(kind: str, i: int, run: Run) -> list[str]:
    rows = []
    for r in run.records:
        if not r.ok or r.time is None:
            rows.append(f"{r.label:<38} {kind:<6} {i:>3}  {r.status}")
            continue
        t = r.time
        half = f"±{r.half_width / r.median * 100:.1f}%" if r.half_width is not None else "-"
        drift = f"x{t.drift:.3f}" if t.drift is not None else "-"
        steady = {True: "yes", False: "NO", None: "-"}[t.stationary]
        rows.append(
            f"{r.label:<38} {kind:<6} {i:>3}  {r.median:>8.4f} {half:>7} {drift:>7} {steady:>10} "
            f"{t.calls or len(t.samples):>5} {t.discarded or 0:>9}  {'yes' if r.precision_met else 'no'}"
        )
    return rows


def summary(kind: str, runs: list[Run]) -> str:
    records = [r for run in runs for r in run.records if r.ok and r.time is not None]
    precise = sum(bool(r.precision_met) and r.time.stationary is True for r in records)
    drifting = sum(r.time.stationary is False for r in records)
    unknown = sum(r.time.stationary is None for r in records)
    wide = sum(not r.precision_met and r.time.stationary is not False for r in records)
    first = sum((r.first_call_s or 0) for r in records)
    warm = sum((r.warmup_s or 0) for r in records) - first  # with the calls dropped as not stationary
    calls = first + warm + sum(sum(r.samples) for r in records)
    return (
        f"{kind}: {len(records)} cases in {len(runs)} run(s): {precise} precise and stationary, "
        f"{drifting} drifting, {wide} with an interval wider than the precision"
        f"{f' ({unknown} too few calls to judge stationarity)' if unknown else ''}; "
        f"of the calls' time, first calls {first / calls * 100 if calls else 0:.0f}% "
        f"and warmup {warm / calls * 100 if calls else 0:.0f}%"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="cpu", help="a shipped sweep's name or a sweep file (default cpu)")
    p.add_argument("--runs", type=int, default=1, help="runs of each kind (default 1)")
    p.add_argument("--kinds", default="auto,fixed", help="auto, fixed or both (default auto,fixed)")
    p.add_argument("--run", action="append", default=[], help="report on stored runs instead (repeatable)")
    args = p.parse_args()
    results: dict[str, list[Run]] = {}
    if args.run:
        results["stored"] = [open_run(r) for r in args.run]
    else:
        kinds = [k for k in args.kinds.split(",") if k]
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.runs):
                for kind in kinds:
                    out = Path(tmp) / f"{kind}-{i}"
                    results.setdefault(kind, []).append(open_run(sweep(args.config, KINDS[kind], out)))
                    print(f"run {i + 1}/{args.runs} ({kind}) done", file=sys.stderr, flush=True)

    print(
        f"{'case':<38} {'kind':<6} {'run':>3}  {'median':>8} {'95% CI':>7} {'drift':>7} "
        f"{'stationary':>10} {'calls':>5} {'discarded':>9}  precise"
    )
    for kind, runs in results.items():
        for i, run in enumerate(runs, 1):
            print("\n".join(case_rows(kind, i, run)))
    for untiled, tiled in PAIRS:
        lines = []
        for kind, runs in results.items():
            gaps = [
                run_cases[tiled].median / run_cases[untiled].median - 1
                for run_cases in ({r.label: r for r in run.records} for run in runs)
                if tiled in run_cases and untiled in run_cases and run_cases[untiled].median
            ]
            if gaps:
                verdict = "within" if all(abs(g) <= PAIR_TARGET for g in gaps) else "OUTSIDE"
                lines.append(
                    f"  {kind:<6} " + "  ".join(f"{g * 100:+.1f}%" for g in gaps) + f"   ({verdict})"
                )
        if lines:
            print(f"\nidentical work, {tiled} against untiled (target within {PAIR_TARGET:.0%}):")
            print("\n".join(lines))
    for kind, runs in results.items():
        if len(runs) > 1:
            labels = [r.label for r in runs[0].records if r.ok]
            spreads = [
                spread([{x.label: x for x in run.records}[label].median for run in runs]) for label in labels
            ]
            print(f"median spread across runs, {kind}: {statistics.median(spreads) * 100:.1f}%")
    print()
    for kind, runs in results.items():
        print(summary(kind, runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
