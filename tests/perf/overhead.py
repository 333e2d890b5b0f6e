"""What the harness costs: a sweep run through `vae-bench run` against a bare loop
that makes the same diffusers calls the same number of times in one process.

The two are alternated (A B A B ...) because this kind of machine drifts by up to
15% between runs; the figure that counts is the median of the pairwise ratios.

    python tests/perf/overhead.py [--config configs/cpu.yaml] [--pairs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET = 1.10


REPEATS = 5  # fixed: a bare loop cannot follow the harness's stop rules


def fixed_copy(config: str, into: str) -> str:
    """The sweep with a fixed number of timed calls and a warmup of calls only, so that
    the harness makes exactly the calls the bare loop makes."""
    import yaml

    sweep = yaml.safe_load(Path(config).read_text())
    sweep.update(repeats=REPEATS, warmup_time=0)
    path = Path(into) / "fixed.yaml"
    path.write_text(yaml.safe_dump(sweep))
    return str(path)


def bare_loop(config: str) -> None:
    """The same calls as the harness makes, with nothing around them."""
    import torch

    from bench.sweep.cases import expand
    from bench.sweep.config import load_sweep

    sweep = load_sweep(config)
    specs = sweep.specs()
    cases = expand(sweep, specs)
    models = {}
    with torch.inference_mode():
        for case in cases:
            spec = specs[case.model]
            key = (case.model, case.dtype)
            if key not in models:
                import diffusers

                torch.manual_seed(0)
                models.clear()
                models[key] = (
                    getattr(diffusers, spec.cls)
                    .from_config(spec.config)
                    .to(dtype=getattr(torch, case.dtype))
                    .eval()
                )
            vae = models[key]
            if case.tiled:
                vae.enable_tiling()
                for knob, value in case.tiling_dict.items():
                    setattr(vae, knob, value)
            else:
                vae.disable_tiling()
            f = spec.spatial_compression
            if case.op == "encode":
                x = torch.randn(case.batch, spec.in_channels, case.height, case.width)
                op = vae.encode
            else:
                x = torch.randn(case.batch, spec.latent_channels, case.height // f, case.width // f)
                op = vae.decode
            for _ in range(sweep.warmup + sweep.repeats):
                op(x)


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="cpu")
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.bare:
        bare_loop(args.config)
        return 0

    ratios = []
    with tempfile.TemporaryDirectory() as out:
        config = fixed_copy(args.config, out)
        harness = [sys.executable, "-m", "bench", "run", config, "--out", out]
        bare = [sys.executable, __file__, "--bare", "--config", config]
        print(f"{'pair':>4}  {'harness (s)':>11}  {'bare loop (s)':>13}  {'ratio':>6}", flush=True)
        for i in range(1, args.pairs + 1):
            a = timed(harness)
            b = timed(bare)
            ratios.append(a / b)
            print(f"{i:>4}  {a:>11.1f}  {b:>13.1f}  {a / b:>6.3f}", flush=True)
    median = statistics.median(ratios)
    verdict = "within" if median <= TARGET else "OVER"
    print(f"median ratio {median:.3f} ({verdict} the {TARGET:.2f} target) over {len(ratios)} pairs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
