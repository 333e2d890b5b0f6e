"""vae-bench plot: figures of stored runs, as PNGs."""

from __future__ import annotations

from bench.commands import EXIT_OK

HELP = "draw memory, time and tiling plots of stored runs as PNGs"
DESCRIPTION = (
    "Peak memory and time against megapixels per model and op, and the cost of tiling "
    "per size; several runs are drawn together."
)


def add_arguments(p) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", metavar="DIR", help="where the PNGs go (default: the first run's plots/)")


def run(args) -> int:
    from bench.analysis.plot import plot_runs

    for path in plot_runs(args.runs, out=args.out):
        print(path)
    return EXIT_OK
