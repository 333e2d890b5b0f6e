"""vae-bench show: the summary table of a stored run."""

from __future__ import annotations

import warnings

from bench.commands import EXIT_OK, add_runs_dir_argument

HELP = "print the summary table of a stored run"


def add_arguments(p) -> None:
    p.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="default: the shipped H200 docs run")
    add_runs_dir_argument(p)
    p.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="json: the run's meta.json and its case records, as stored (default: text)",
    )


def run(args) -> int:
    from bench.analysis.summary import summary_table
    from bench.commands import runs_or_shipped
    from bench.record.store import open_run
    from bench.shipped import DOCS_RUN

    (path,) = runs_or_shipped(args.run_dir, DOCS_RUN, args=args)
    run = open_run(path)
    if args.format == "json":
        from bench.record.envelope import envelope

        data = {
            "path": str(run.path),
            "meta": run.meta.to_json(),
            "cases": [r.to_json() for r in run.records],
        }
        print(envelope("show", data))
    else:
        print(summary_table(run.records))
    for note in (run.left_out, run.unfinished, run.meta.busy and f"{run.run_id}: {run.meta.busy}"):
        if note:
            warnings.warn(note, stacklevel=1)
    return EXIT_OK
