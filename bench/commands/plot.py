"""vae-bench plot: figures of stored runs, as PNGs."""

from __future__ import annotations

from bench.commands import EXIT_OK, add_headroom_argument, add_runs_dir_argument, runs_or_shipped

HELP = "draw memory, time and tiling plots of stored runs as PNGs"
DESCRIPTION = (
    "Peak memory and time against megapixels per model and op, and the cost of tiling "
    "per size; several runs are drawn together. The memory plot of a GPU run draws the "
    "reserved peak (what Memory (%) shows) and, dotted, the allocated peak plus the CUDA "
    "context: the figure `vae-bench fit` compares with a card. The fit plot draws that "
    "figure with its fitted lines, a line per card at its memory less the headroom, and "
    "the largest untiled square on each. Without RUN_DIR: the shipped H200 docs run, "
    "drawn into ./plots."
)
# Where the plots of the shipped run go: never into the installed package.
SHIPPED_OUT = "plots"


def add_arguments(p) -> None:
    p.add_argument("runs", nargs="*", metavar="RUN_DIR", help="default: the shipped H200 docs run")
    add_runs_dir_argument(p)
    p.add_argument(
        "--out",
        metavar="DIR",
        help=f"where the PNGs go (default: the first run's plots/, or ./{SHIPPED_OUT})",
    )
    p.add_argument(
        "--cards",
        help='cards to draw on the fit figures of GPU runs, e.g. "RTX 3080 10GB,RTX 4090" (default: 8-24 GB)',
    )
    add_headroom_argument(p)
    p.add_argument(
        "--format", choices=("text", "json"), default="text", help="the files written (default: text)"
    )


def run(args) -> int:
    from bench.analysis.fit import parse_headroom
    from bench.analysis.plot import plot_runs
    from bench.shipped import DOCS_RUN

    headroom = parse_headroom(args.headroom)
    cards = None
    if args.cards:
        from bench.cards import find_card, load_cards

        table = load_cards()
        found = [find_card(table, name.strip()) for name in args.cards.split(",") if name.strip()]
        cards = [(c.name, c.bytes) for c in found]
    out = args.out or (None if args.runs else SHIPPED_OUT)
    runs = runs_or_shipped(args.runs, DOCS_RUN, args=args)
    written = plot_runs(runs, out=out, cards=cards, headroom=headroom)
    if args.format == "json":
        from bench.record.envelope import envelope

        print(envelope("plot", {"files": [str(p) for p in written]}))
    else:
        for path in written:
            print(path)
    return EXIT_OK
