"""vae-bench advise: the fastest measured setting that fits a card, per input."""

from __future__ import annotations

from bench.commands import (
    EXIT_OK,
    add_card_question_arguments,
    add_min_psnr_argument,
    card_budget,
    runs_or_shipped,
)

HELP = "the fastest measured setting (dtype, tiling, variant) that fits a card and a quality floor"
DESCRIPTION = (
    "From one run, per model, op and input size: the fastest setting the run measured "
    "(dtype, tiled or not, tile size, channels_last, compile, attention, ...) whose peak fits "
    "the card and whose output stays within the quality floor, with its time, memory and "
    "PSNR, and the time and memory it saves against the plain default (untiled, no "
    "variant). A GPU run fits by `vae-bench fit`'s rule (allocated peak plus CUDA context, "
    "and the headroom); "
    "a CPU run by its process's RSS. PSNR comes from a sweep with `quality: true`; with "
    "random weights it shows seams and numeric drift, not what a person would see."
)


def add_arguments(p) -> None:
    p.add_argument(
        "run",
        nargs="?",
        metavar="RUN_DIR",
        help="a run, ideally one with variant axes and quality (default: the shipped H200 variants run)",
    )
    add_card_question_arguments(p, "GeForce RTX 4070")
    add_min_psnr_argument(p, "the quality floor")
    p.add_argument("--format", choices=("text", "md", "json"), default="text", help="default: text")


def run(args) -> int:
    from bench.analysis.advise import advise, render
    from bench.analysis.fit import parse_headroom
    from bench.record.store import open_run
    from bench.shipped import VARIANTS_RUN

    headroom = parse_headroom(args.headroom)
    name, total, nominal = card_budget(args)
    (path,) = runs_or_shipped(args.run, VARIANTS_RUN, args=args)
    run = open_run(path, strict=True, need_cases=True)
    label = name + (" (nominal size)" if nominal else "")
    print(render(advise(run, label, total, args.min_psnr, headroom), args.format), end="")
    return EXIT_OK
