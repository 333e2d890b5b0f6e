"""vae-bench fit: on one card, what fits untiled, what needs tiling, what tiling costs."""

from __future__ import annotations

from bench.commands import EXIT_OK

HELP = "on one card (yours, or any): what fits untiled, what needs tiling, what tiling costs"
DESCRIPTION = (
    "From one GPU run, on any card: per model, op and dtype, the largest square side that fits "
    "untiled, each size's peak and whether it fits untiled and tiled, and what tiling cost in "
    "time where both ran. Peaks are measured where the run holds a size and fitted (or "
    "extrapolated) elsewhere; a case fits when its allocated peak, the CUDA context and the "
    "headroom fit the card."
)


def add_arguments(p) -> None:
    p.add_argument("run", metavar="RUN_DIR", help="a GPU run")
    card = p.add_mutually_exclusive_group(required=True)
    card.add_argument("--card", help='a card of configs/cards.yaml, e.g. "GeForce RTX 3080"')
    card.add_argument("--vram", metavar="SIZE", help="the card's memory: 10GiB, 12 GB, 10240MiB")
    p.add_argument("--headroom", metavar="SIZE", default="0GiB", help="what the rest of a pipeline holds (0)")
    p.add_argument("--format", choices=("text", "md", "json"), default="text", help="default: text")


def run(args) -> int:
    from bench.analysis.capacity import fit_card, render_fit
    from bench.analysis.fit import model_run, parse_vram
    from bench.cards import find_card, load_cards
    from bench.store import open_run

    rm = model_run(open_run(args.run, strict=True, need_cases=True))
    if args.card:
        card = find_card(load_cards(), args.card)
        name, total = card.name + (" (nominal size)" if card.approximate else ""), card.mib * 2**20
    else:
        name, total = f"a {args.vram} card", parse_vram(args.vram)
    headroom = parse_vram(args.headroom) if args.headroom.strip("0GgMmIiBb. ") else 0
    print(render_fit(fit_card(rm, name, total, headroom), args.format), end="")
    return EXIT_OK
