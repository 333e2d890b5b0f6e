"""vae-bench fit: on one card, what fits untiled, what needs tiling, what tiling costs."""

from __future__ import annotations

from bench.commands import EXIT_OK, add_card_arguments, card_budget

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
    add_card_arguments(p, "GeForce RTX 3080")
    p.add_argument("--headroom", metavar="SIZE", default="0GiB", help="what the rest of a pipeline holds (0)")
    p.add_argument("--format", choices=("text", "md", "json"), default="text", help="default: text")


def run(args) -> int:
    from bench.analysis.capacity import fit_card, render_fit
    from bench.analysis.fit import model_run, parse_vram
    from bench.record.store import open_run

    rm = model_run(open_run(args.run, strict=True, need_cases=True))
    name, total = card_budget(args)
    headroom = parse_vram(args.headroom, "--headroom", zero=True)
    print(render_fit(fit_card(rm, name, total, headroom), args.format), end="")
    return EXIT_OK
