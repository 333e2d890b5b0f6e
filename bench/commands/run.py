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
    p.add_argument(
        "--devices",
        metavar="GPUS",
        help="every GPU of this host (all) or these (cuda:0,cuda:2), one run folder each, side by side "
        "(instead of the sweep's device)",
    )
    p.add_argument(
        "--device-label",
        metavar="NAME",
        help="name the device NAME in tables, docs and history, in place of the driver's name "
        '(e.g. "RTX 4090 (300 W)"): a row of its own for one model of card in another setup',
    )
    p.add_argument(
        "--trust-code",
        action="store_true",
        help="import the registry classes named as package.module:Class (code of your own, which runs "
        "as you); without it only diffusers' classes are used, and no file can turn it on",
    )
    p.add_argument(
        "--times-from",
        nargs="+",
        metavar="RUN_DIR",
        help="with several GPUs: deal the work out by these runs' case times (default: by case count)",
    )


def run(args) -> int:
    from bench.record import store
    from bench.sweep import config, runner, worker
    from bench.sweep.host import host_devices
    from bench.sweep.plan import make_plan, resume_plan, stored_ids
    from bench.sweep.progress import Progress

    if args.resume:
        kept = {
            "--device-label": (args.device_label is not None, "the device label it was made with"),
            "--out": (bool(args.out), "its folder"),
            "--devices": (bool(args.devices), "the GPUs it was made on"),
        }
        for option, (given, what) in kept.items():
            if given:
                raise BadInput(None, option, f"a resumed run keeps {what}")
        from bench.record.store import open_run

        host = open_run(args.resume).meta.host
        if host is not None and host.runs:
            return _run_host(args, resume=args.resume)
        plan = resume_plan(args.resume, args.config, resolve=not args.dry_run, trust_code=args.trust_code)
    elif args.config:
        sweep = _overridden(config.load_sweep(args.config), args.devices, args.device_label)
        devices = host_devices(sweep)
        if devices:
            return _run_host(args, sweep=sweep, devices=devices)
        plan = make_plan(sweep, resolve=not args.dry_run, trust_code=args.trust_code)
    else:
        raise BadInput(None, "config", "give a sweep file (e.g. configs/cpu.yaml) or --resume RUN_DIR")
    if args.dry_run:
        from bench.analysis.summary import plan_table

        for note in plan.warnings:
            say(f"warning: {note}")
        print(plan_table(plan.cases, stored_ids(plan)))
        print(
            f"\n{len(plan.cases)} cases on {plan.named}; "
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
        device = plan.named
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


def _overridden(sweep, devices: str | None, label: str | None):
    """The sweep with the command line's --devices and --device-label in force."""
    from bench.sweep.config import overridden

    try:
        return overridden(sweep, devices, label)
    except BadInput as exc:
        option = {"devices": "--devices", "device_label": "--device-label"}.get(exc.field, exc.field)
        raise BadInput(None, option, exc.why) from None


def _run_host(args, sweep=None, devices=None, resume=None) -> int:
    """Several GPUs of this host side by side: one run folder each."""
    from dataclasses import replace

    from bench.analysis.summary import plan_table
    from bench.record import store
    from bench.record.sections import HostSection
    from bench.sweep import host, worker
    from bench.sweep.plan import stored_ids
    from bench.sweep.progress import Progress

    if resume:
        plans = host.resume_plans(resume, dry_run=args.dry_run, trust_code=args.trust_code)
    else:
        previous = host.previous_times(args.times_from) if args.times_from else None
        plans = host.plans(sweep, devices, previous, resolve=not args.dry_run, trust_code=args.trust_code)
    if args.dry_run:
        for plan in plans:
            print(f"== {plan.named}")
            print(plan_table(plan.cases, stored_ids(plan)), end="\n\n")
        print(
            f"{sum(len(p.cases) for p in plans)} cases over {len(plans)} GPU(s); "
            "dry run, nothing was run or written"
        )
        return EXIT_OK
    writers = []
    try:
        devices = [p.device for p in plans]
        if resume:
            writers = [store.RunWriter.reopen(p.resume) for p in plans]
            seen = host.others_on(devices)
            for w in writers:
                w.meta.host = replace(w.meta.host or HostSection(), at_resume=seen)
                w.save_meta()
        else:
            started = worker.now()
            out = Path(args.out or sweep.output)
            for plan in plans:
                run_id = store.new_run_id(plan.run_id_slug(), plan.sweep.name)
                writers.append(store.RunWriter.create(out, run_id, plan.meta(started)))
            runs = [w.dir.name for w in writers]
            dealt_by = "the case times of " + ", ".join(args.times_from) if args.times_from else "case count"
            seen = host.others_on(devices)
            for plan, w in zip(plans, writers, strict=True):
                w.meta.host = HostSection(
                    devices=devices, runs=runs, assigned=host.assigned(plan), dealt_by=dealt_by, at_start=seen
                )
                w.save_meta()
        done = [len({c.case_id for c in p.cases} & w.done_ids()) for p, w in zip(plans, writers, strict=True)]
        total = sum(len(p.cases) for p in plans)
        for plan, w, d in zip(plans, writers, done, strict=True):
            say(f"{len(plan.cases) - d} of {len(plan.cases)} cases on {plan.named}; writing {w.dir}")
        outcomes = host.run_side_by_side(
            list(zip(plans, writers, strict=True)), Progress(total=total, done=sum(done))
        )
        # what else is on the GPUs once ours have let go: a job that came during the sweep
        # and stayed shows here
        seen = host.others_on(devices, load=False)
        for w in writers:
            w.meta.host = replace(w.meta.host or HostSection(), at_end=seen)
            w.save_meta()
    finally:
        for w in writers:
            w.close()
    code = EXIT_OK
    for plan, w, outcome in zip(plans, writers, outcomes, strict=True):
        if outcome is None or outcome.status == "interrupted":
            code = EXIT_INTERRUPTED
            continue
        print(f"\n== {plan.named}")
        code = max(code, report(w.dir))
    if code == EXIT_INTERRUPTED:
        stored = sum(o.stored for o in outcomes if o is not None)
        say(
            f"interrupted; {stored} of {total} cases are stored in {len(writers)} runs\n"
            f"resume them all with: vae-bench run --resume {writers[0].dir}",
            before="\n",
        )
    return code


def say(text: str, before: str = "") -> None:
    print(f"{before}vae-bench: {text}", file=sys.stderr)


def report(run_dir: Path) -> int:
    """The end of a sweep: its summary, its tables.md, and exit 1 if a case failed."""
    from bench.analysis.summary import summary_table
    from bench.docs.tables import write_run_tables
    from bench.record.store import CASES, open_run

    run = open_run(run_dir)
    records = run.records
    print(summary_table(records))
    if run.left_out:
        say(f"warning: {run.left_out}")
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
