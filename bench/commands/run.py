"""vae-bench run: a sweep into a new run folder, or the rest of a stored run."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.commands import EXIT_FAILURES, EXIT_INTERRUPTED, EXIT_OK
from bench.errors import BadInput

HELP = "run a sweep file and store the run"
DESCRIPTION = (
    "Run every case of a sweep file (YAML) and store the results in a new run "
    "folder, or, with --resume, the cases an earlier run is missing."
)


def add_arguments(p) -> None:
    p.add_argument(
        "config",
        nargs="?",
        help="sweep file, e.g. configs/cpu.yaml (optional with --resume: the run's stored sweep is used)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="list the cases the sweep would run, and run nothing"
    )
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR: run only the cases it has not stored",
    )
    p.add_argument(
        "--out", metavar="DIR", help="folder in which the run folder is made (default: the sweep's `output`)"
    )


def run(args) -> int:
    from bench import config, runner, store, worker
    from bench.plan import make_plan, resume_plan, stored_ids
    from bench.progress import Progress

    if args.resume:
        plan = resume_plan(args.resume, args.config, resolve=not args.dry_run)
    elif args.config:
        plan = make_plan(config.load_sweep(args.config), resolve=not args.dry_run)
    else:
        raise BadInput(None, "config", "give a sweep file (e.g. configs/cpu.yaml) or --resume RUN_DIR")
    if args.dry_run:
        from bench.analysis.summary import plan_table

        print(plan_table(plan.cases, stored_ids(plan)))
        print(
            f"\n{len(plan.cases)} cases on {plan.device} ({plan.device_name}); "
            f"weights: {plan.sweep.weights}; dry run, nothing was run or written"
        )
        return EXIT_OK

    if plan.resume:
        writer = store.RunWriter.reopen(plan.resume)
    else:
        run_id = store.new_run_id(plan.run_id_slug(), plan.sweep.name)
        writer = store.RunWriter.create(Path(args.out or plan.sweep.output), run_id, plan.meta(worker.now()))
    try:
        todo = len({c.case_id for c in plan.cases} - writer.done_ids())
        device = f"{plan.device} ({plan.device_name})"
        say(f"{todo} of {len(plan.cases)} cases to run on {device}; writing {writer.dir}")
        for note in plan.warnings:
            say(f"warning: {note}")
        outcome = runner.sweep(plan, writer, lambda total, done: Progress(total=total, done=done))
    finally:
        writer.close()
    if outcome.time_spent:
        from bench.analysis.summary import time_line

        say(time_line(outcome.time_spent))
    if outcome.status == "interrupted":
        say(
            f"interrupted; {outcome.stored} of {outcome.planned} cases are stored in {writer.dir}\n"
            f"resume with: vae-bench run --resume {writer.dir}",
            before="\n",
        )
        return EXIT_INTERRUPTED
    return report(writer.dir)


def say(text: str, before: str = "") -> None:
    print(f"{before}vae-bench: {text}", file=sys.stderr)


def report(run_dir: Path) -> int:
    """The end of a sweep: its summary, its tables.md, and exit 1 if a case failed."""
    from bench.analysis.summary import summary_table
    from bench.docs.tables import write_run_tables
    from bench.store import CASES, open_run

    records = open_run(run_dir).records
    print(summary_table(records))
    print(f"\nrun stored in {run_dir}")
    try:
        print(f"tables written to {write_run_tables(run_dir)}")
    except Exception as exc:  # the cases are stored; the tables can be rendered later
        say(f"warning: tables.md not written: {exc}")
    errors = sum(r.status == "error" for r in records)
    if errors:
        say(f"{errors} case(s) ended in error; see the `error` field in {run_dir / CASES}")
        return EXIT_FAILURES
    return EXIT_OK
