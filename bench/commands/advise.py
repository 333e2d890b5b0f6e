"""vae-bench advise: the fastest measured setting that fits a card, per input."""

from __future__ import annotations

from bench.commands import EXIT_OK, amount

HELP = "the fastest measured setting (dtype, tiling, variant) that fits a card and a quality floor"
DESCRIPTION = (
    "From one run, per model, op and input size: the fastest setting the run measured "
    "(dtype, tiled or not, tile size, channels_last, compile, attention, ...) whose peak fits "
    "the card and whose output stays within the quality floor, with its time, memory and "
    "PSNR, and the time and memory it saves against the plain default (untiled, no "
    "variant). A GPU run fits by `vae-bench fit`'s rule (allocated peak plus CUDA context); "
    "a CPU run by its process's RSS. PSNR comes from a sweep with `quality: true`; with "
    "random weights it shows seams and numeric drift, not what a person would see."
)


def add_arguments(p) -> None:
    p.add_argument("run", metavar="RUN_DIR", help="a run, ideally one with variant axes and quality")
    card = p.add_mutually_exclusive_group(required=True)
    card.add_argument("--card", help='a card of configs/cards.yaml, e.g. "GeForce RTX 4070"')
    card.add_argument("--vram", metavar="SIZE", help="the memory to fit in: 12GiB, 8 GB, 10240MiB")
    p.add_argument(
        "--min-psnr",
        type=amount,
        default=40.0,
        metavar="DB",
        help="the quality floor in dB, against the untiled plain output (default: 40)",
    )
    p.add_argument("--format", choices=("text", "md", "json"), default="text", help="default: text")


def run(args) -> int:
    from bench.analysis.advise import advise, render
    from bench.analysis.fit import parse_vram
    from bench.cards import find_card, load_cards
    from bench.store import open_run

    run = open_run(args.run, strict=True, need_cases=True)
    if args.card:
        card = find_card(load_cards(), args.card)
        name, total = card.name + (" (nominal size)" if card.approximate else ""), card.mib * 2**20
    else:
        name, total = f"a {args.vram} card", parse_vram(args.vram)
    print(render(advise(run, name, total, args.min_psnr), args.format), end="")
    return EXIT_OK
