"""vae-bench compare: two stored runs, case by case."""

from __future__ import annotations

from bench.commands import EXIT_FAILURES, EXIT_OK, add_runs_dir_argument, amount, factor

HELP = "compare two stored runs case by case; exit 1 on a regression"
DESCRIPTION = (
    "Match the cases of two runs by their parameters and report which got slower "
    "(ratio of medians beyond --factor and a Mann-Whitney U test on the samples), which need "
    "more memory (beyond the larger of 16 MiB and 2% on GPUs, 64 MiB and 25% on CPUs), and which "
    "stopped fitting (ok -> oom). Each case is a regression (worse, nothing better), an "
    "improvement (better, nothing worse), a trade-off (faster but more memory, or the reverse), "
    "unchanged, or untested (it did not run in both), and each verdict is counted.\n\n"
    "exit status: 0 no regression, 1 regression found (or a trade-off, with --fail-on "
    "trade-off), 2 bad input."
)


def add_arguments(p) -> None:
    from bench.analysis.report import FORMATS

    p.add_argument("base", metavar="BASE_RUN", help="a run folder, its id or the start of it, or previous")
    p.add_argument("new", metavar="NEW_RUN", help="the same, or latest")
    add_runs_dir_argument(p)
    p.add_argument("--format", choices=FORMATS, default="text", help="default: text")
    p.add_argument(
        "--only-changed",
        action="store_true",
        help="leave the unchanged cases out of the table (not the counts)",
    )
    p.add_argument(
        "--fail-on",
        choices=("regression", "trade-off"),
        default="regression",
        help="exit 1 on a regression (default), or on a regression or a trade-off",
    )
    p.add_argument(
        "--factor",
        type=factor,
        help="time ratio beyond which a case is slower or faster (default 1.10 for GPU runs, 1.25 for CPU)",
    )
    p.add_argument(
        "--mem-floor", type=amount, metavar="MIB", help="memory change always tolerated (default 16; CPU 64)"
    )
    p.add_argument(
        "--mem-percent", type=amount, metavar="PCT", help="memory change, %% of the base (default 2; CPU 25)"
    )


def run(args) -> int:
    from bench.analysis.compare import compare_runs
    from bench.analysis.report import render
    from bench.commands import run_path

    comparison = compare_runs(
        run_path(args, args.base, "BASE_RUN"),
        run_path(args, args.new, "NEW_RUN"),
        factor=args.factor,
        mem_floor=None if args.mem_floor is None else int(args.mem_floor * 1024**2),
        mem_fraction=None if args.mem_percent is None else args.mem_percent / 100,
    )
    print(render(comparison, args.format, args.only_changed))
    return EXIT_FAILURES if comparison.failed(args.fail_on) else EXIT_OK
