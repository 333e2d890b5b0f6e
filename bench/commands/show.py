"""vae-bench show: the summary table of a stored run."""

from __future__ import annotations

import warnings

from bench.commands import EXIT_OK

HELP = "print the summary table of a stored run"


def add_arguments(p) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR")


def run(args) -> int:
    from bench.analysis.summary import summary_table
    from bench.record.store import open_run

    run = open_run(args.run_dir)
    print(summary_table(run.records))
    for note in (run.left_out, run.unfinished):
        if note:
            warnings.warn(note, stacklevel=1)
    return EXIT_OK
