"""vae-bench project: the Memory (%) and fits/OOM of a run's cases on other cards."""

from __future__ import annotations

from bench.commands import EXIT_OK, add_headroom_argument, add_runs_dir_argument, runs_or_shipped
from bench.errors import BadInput

HELP = "project a GPU run's memory onto cards you do not have: Memory (%) and fits/OOM"
DESCRIPTION = (
    "Every case of one GPU run on each card named: the reserved peak as a share of the "
    "card's memory (capped at the card) and whether it fits (the allocated peak, the "
    "CUDA context measured on the run's card, and the headroom). Every figure is "
    "projected, not measured, and says so."
)


def add_arguments(p) -> None:
    p.add_argument("run", nargs="?", metavar="RUN_DIR", help="a GPU run (default: the shipped H200 docs run)")
    add_runs_dir_argument(p)
    p.add_argument("--cards", required=True, help='cards of configs/cards.yaml: "RTX 4090,GeForce RTX 3080"')
    add_headroom_argument(p)
    p.add_argument("--format", choices=("text", "md", "json"), default="text", help="default: text")


def run(args) -> int:
    from bench.analysis.capacity import render_project
    from bench.analysis.fit import model_run, parse_headroom
    from bench.cards import find_card, load_cards
    from bench.record.store import open_run
    from bench.shipped import DOCS_RUN

    headroom = parse_headroom(args.headroom)
    table = load_cards()
    cards = [find_card(table, name.strip()) for name in args.cards.split(",") if name.strip()]
    if not cards:
        raise BadInput(None, "--cards", 'name at least one card, e.g. "RTX 4090,GeForce RTX 3080"')
    (path,) = runs_or_shipped(args.run, DOCS_RUN, args=args)
    rm = model_run(open_run(path, strict=True, need_cases=True))
    print(render_project(rm, [(c.name, c.bytes) for c in cards], args.format, headroom), end="")
    return EXIT_OK
