"""vae-bench show: the summary table of a stored run."""

from __future__ import annotations

from bench.commands import EXIT_OK

HELP = "print the summary table of a stored run"


def add_arguments(p) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR")


def run(args) -> int:
    from bench.analysis.summary import summary_table
    from bench.store import open_run

    print(summary_table(open_run(args.run_dir).records))
    return EXIT_OK
