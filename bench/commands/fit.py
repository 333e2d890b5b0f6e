"""vae-bench fit: will a case fit a card? One line for one case, or a table for a run."""

from __future__ import annotations

from bench.commands import (
    EXIT_OK,
    add_card_question_arguments,
    add_min_psnr_argument,
    card_budget,
    positive,
    runs_or_shipped,
)
from bench.errors import BadInput

HELP = "will it fit on a card? one line for one case (exit 0 fits, 1 not), or a run's table"
DESCRIPTION = """\
Will a VAE at a size fit a card, and what to turn on if not.

With --model, --op and --size: one line for that case, exit 0 when it fits and 1
when it does not, and then the cheapest setting the runs measured that does fit
(tiling and its tile size, channels_last, another attention, a lower dtype), with
its time cost and its PSNR against the untiled output.

Without them: per model, op and dtype of the first run, the largest square side
that fits untiled, each size's need and whether it fits untiled and tiled, and
what tiling cost in time where both ran.

The figure compared is the allocated peak plus the CUDA context (from NVML), as
measured on the run's card (fitted or extrapolated between and beyond its sizes),
and it fits when it stays within the card's memory less the headroom. Without
RUN_DIR the shipped H200 reference runs are used (the docs sweep, and the
variants sweep for the other settings).

  vae-bench fit --card "RTX 3070" --model sdxl --op decode --size 1024
  vae-bench fit --card "RTX 4060 Ti 8GB" --model sd-v1 --op decode --size 2048 --headroom 1GiB"""


def add_arguments(p) -> None:
    p.add_argument(
        "runs",
        nargs="*",
        metavar="RUN_DIR",
        help="GPU runs (default: the shipped H200 reference runs); the table reads the first",
    )
    add_card_question_arguments(p, "GeForce RTX 3070")
    case = p.add_argument_group("one case (all three, for a one-line verdict)")
    case.add_argument("--model", help="a model of the run, e.g. sdxl, sd-v1")
    case.add_argument("--op", choices=("encode", "decode"))
    case.add_argument("--size", help="1024 (a square) or 1024x768; for an audio model a length, 30s")
    case.add_argument("--dtype", help="float16, bfloat16, float32 (default: the one the run measured)")
    case.add_argument("--frames", type=positive, metavar="N", help="frames, for a video VAE")
    add_min_psnr_argument(case, "prefer other settings whose PSNR reaches this")
    p.add_argument(
        "--format", choices=("text", "md", "json"), default="text", help="the table's (default: text)"
    )


def run(args) -> int:
    from bench.analysis.fit import model_run, parse_headroom
    from bench.record.store import open_run
    from bench.shipped import DOCS_RUN, VARIANTS_RUN

    case = {"--model": args.model, "--op": args.op, "--size": args.size}
    given = [k for k, v in case.items() if v is not None]
    if given and len(given) < len(case):
        missing = ", ".join(k for k in case if k not in given)
        raise BadInput(
            None, missing.split(",")[0], f"one case needs --model, --op and --size; {missing} missing"
        )
    extra = [k for k, v in (("--dtype", args.dtype), ("--frames", args.frames)) if v is not None]
    if extra and not given:
        raise BadInput(None, extra[0], "narrows one case: give --model, --op and --size with it")
    if given and args.format != "text":
        raise BadInput(None, "--format", "is for the table; one case answers in one line and its exit status")
    if args.size and args.size.strip().lower().endswith("s") and args.frames is not None:
        raise BadInput(None, "--frames", "an audio length (--size 30s) has no frames")
    headroom = parse_headroom(args.headroom)
    name, total, nominal = card_budget(args)
    runs = (
        runs_or_shipped(args.runs, DOCS_RUN, VARIANTS_RUN, args=args)
        if given
        else runs_or_shipped(args.runs[:1], DOCS_RUN, args=args)
    )
    models = [model_run(open_run(r, strict=True, need_cases=True)) for r in runs]
    if not given:
        from bench.analysis.capacity import fit_card, render_fit

        label = name + (" (nominal size)" if nominal else "")
        print(
            render_fit(fit_card(models[0], label, total, headroom), args.format),
            end="",
        )
        return EXIT_OK
    from bench.analysis.verdict import Ask, judge, render
    from bench.record.case import parse_seconds, parse_size

    if args.size.strip().lower().endswith("s"):  # audio: a length in seconds
        ask = Ask(args.model, args.op, 0, 0, args.dtype, seconds=parse_seconds(args.size))
    else:
        width, height = parse_size(args.size)
        ask = Ask(args.model, args.op, width, height, args.dtype, args.frames)
    verdict = judge(models, ask, name, total, headroom, nominal, args.min_psnr)
    print(render(verdict), end="")
    return EXIT_OK if verdict.fits else 1
