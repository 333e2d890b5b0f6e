"""vae-bench project: the Memory (%) and fits/OOM of a run's cases on other cards."""

from __future__ import annotations

from bench.commands import EXIT_OK
from bench.errors import BadInput

HELP = "project a GPU run's memory onto cards you do not have: Memory (%) and fits/OOM"
DESCRIPTION = (
    "Every case of one GPU run on each card named: the reserved peak as a share of the "
    "card's memory (capped at the card) and whether it fits (the allocated peak and the "
    "CUDA context). Every figure is projected, not measured, and says so."
)


def add_arguments(p) -> None:
    p.add_argument("run", metavar="RUN_DIR", help="a GPU run")
    p.add_argument("--cards", required=True, help='cards of configs/cards.yaml: "RTX 4090,GeForce RTX 3080"')
    p.add_argument("--format", choices=("text", "md", "json"), default="text", help="default: text")


def run(args) -> int:
    from bench.analysis.capacity import render_project
    from bench.analysis.fit import model_run
    from bench.cards import find_card, load_cards
    from bench.record.store import open_run

    table = load_cards()
    cards = [find_card(table, name.strip()) for name in args.cards.split(",") if name.strip()]
    if not cards:
        raise BadInput(None, "--cards", 'name at least one card, e.g. "RTX 4090,GeForce RTX 3080"')
    rm = model_run(open_run(args.run, strict=True, need_cases=True))
    print(render_project(rm, [(c.name, c.bytes) for c in cards], args.format), end="")
    return EXIT_OK
