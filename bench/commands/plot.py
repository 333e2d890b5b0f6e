"""vae-bench plot: figures of stored runs, as PNGs."""

from __future__ import annotations

from bench.commands import EXIT_OK

HELP = "draw memory, time and tiling plots of stored runs as PNGs"
DESCRIPTION = (
    "Peak memory and time against megapixels per model and op, and the cost of tiling "
    "per size; several runs are drawn together. For a GPU run also the fitted memory model "
    "(bench.analysis.fit) with a line per card and the largest untiled square on each."
)


def add_arguments(p) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", metavar="DIR", help="where the PNGs go (default: the first run's plots/)")
    p.add_argument(
        "--cards",
        help='cards to draw on the fit figures of GPU runs, e.g. "RTX 3080,RTX 4090" (default: 8-24 GB)',
    )


def run(args) -> int:
    from bench.analysis.plot import plot_runs

    cards = None
    if args.cards:
        from bench.cards import find_card, load_cards

        table = load_cards()
        found = [find_card(table, name.strip()) for name in args.cards.split(",") if name.strip()]
        cards = [(c.name, c.bytes) for c in found]
    for path in plot_runs(args.runs, out=args.out, cards=cards):
        print(path)
    return EXIT_OK
