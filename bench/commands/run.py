"""vae-bench run: a sweep into a new run folder, or the rest of a stored run."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.commands import EXIT_FAILURES, EXIT_INTERRUPTED, EXIT_OK, add_runs_dir_argument, run_path
from bench.errors import BadInput

HELP = "run a sweep (a shipped one by name, or a file) and store the run"
DESCRIPTION = (
    "Run every case of a sweep (a shipped one by name, or a YAML file) and store the results "
    "in a new run folder, or, with --resume, the cases an earlier run is missing. Needs Linux "
    "(worker processes from a fork server; CPU memory from /proc)."
)


def add_arguments(p) -> None:
    p.add_argument(
        "config",
        nargs="?",
        help="a shipped sweep by name (cpu, docs, default, variants, ...) or a sweep file; optional with "
        "--resume (the run's stored sweep is used)",
    )
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="change the sweep's fields for this run, checked as the file is and kept in meta.json: "
        "ops=decode resolutions=512,1024 models=sdxl repeats=5 tiling.sd-v1.tile_sample_min_size=256",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="list the cases the sweep would run, and run nothing"
    )
    p.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: the run folder on the last line of stdout; json: stdout is one JSON document, the "
        "run folders and how the run ended, and the report goes to stderr (default: text)",
    )
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR (a folder, its id or the start of it, latest): run only the "
        "cases it has not stored",
    )
    add_runs_dir_argument(p)
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
    from bench.record.store import open_run
    from bench.sweep import config
    from bench.sweep.host import Host, host_devices
    from bench.sweep.launch import Part
    from bench.sweep.local import Local
    from bench.sweep.plan import make_plan, resume_plan

    if not args.dry_run and not sys.platform.startswith("linux"):
        # workers fork from a server process, CPU memory comes from /proc, locks are flock
        raise BadInput(
            None,
            None,
            f"vae-bench run measures on Linux only (this is {sys.platform}); --dry-run and the "
            "commands that read runs (show, compare, fit, tables, docs, plot) work here",
        )
    if args.dry_run and args.format == "json":
        raise BadInput(None, "--format", "a dry run lists the cases as text; leave out --format json")
    planning = {"resolve": not args.dry_run, "trust_code": args.trust_code}
    if args.config and "=" in args.config and args.resume:  # `run --resume X ops=decode`
        args.overrides.insert(0, args.config)
        args.config = None
    if args.resume and args.overrides:
        raise BadInput(None, "override", "a resumed run keeps its sweep; overrides are for a new run")
    if args.resume:
        kept = {
            "--device-label": (args.device_label is not None, "the device label it was made with"),
            "--out": (bool(args.out), "its folder"),
            "--devices": (bool(args.devices), "the GPUs it was made on"),
        }
        for option, (given, what) in kept.items():
            if given:
                raise BadInput(None, option, f"a resumed run keeps {what}")
        # the one read of the run: planning, the sweep and the report use it
        stored = open_run(run_path(args, args.resume, "--resume"))
        _start_server(args.dry_run, stored.meta.device_kind == "cpu")
        if stored.meta.host is not None and stored.meta.host.runs:
            launcher = Host.resuming(stored, dry_run=args.dry_run, trust_code=args.trust_code)
        else:
            plan = resume_plan(stored, args.config, **planning)
            launcher = Local([Part(plan.named, plan, stored)])
    elif args.config:
        sweep = _overridden(
            config.load_sweep(args.config, tuple(args.overrides)), args.devices, args.device_label
        )
        out = Path(args.out or sweep.output)
        _start_server(args.dry_run, _on_cpu(sweep.device))
        devices = host_devices(sweep)
        if devices:
            launcher = Host.starting(sweep, devices, args.times_from, out, **planning)
        else:
            plan = make_plan(sweep, **planning)
            launcher = Local([Part(plan.named, plan)], out)
    else:
        raise BadInput(
            None, "config", "give a sweep (a shipped name such as cpu, or a file) or --resume RUN_DIR"
        )
    if args.dry_run:
        return exit_status(launcher.dry_run())
    return launch(launcher, args.format, "run")


def _start_server(dry_run: bool, cpu: bool) -> None:
    """The workers' fork server, started once the sweep has been read (bad input costs
    nothing more), so that its imports run beside the planning's on another core; for
    a run on the CPU or a GPU, which the plan confirms (the runner starts it anew when
    the guess was wrong)."""
    if not dry_run:
        from bench.sweep.runner import start_server

        start_server("cpu" if cpu else "cuda")


def _on_cpu(device: str) -> bool:
    """Whether a sweep's device is the CPU, before torch is loaded: for `auto`, whether
    NVML sees no GPU (torch's own answer asks the same driver)."""
    if device != "auto":
        return device == "cpu"
    from bench.measure.nvml import Nvml

    return Nvml().count() == 0


def launch(launcher, format: str, command: str) -> int:
    """Run a launcher to its end and report: in text, the run folders last on stdout; in
    JSON, stdout is the one document (the folders and the ending), the report on stderr."""
    if format == "text":
        launcher.launch()
        return exit_status(launcher.report())
    import contextlib

    launcher.print_paths = False
    with contextlib.redirect_stdout(sys.stderr):
        launcher.launch()
        ending = launcher.report()
    from bench.record.envelope import envelope

    print(envelope(command, {"runs": launcher.run_paths(), "ending": ending.name.lower()}))
    return exit_status(ending)


def exit_status(ending) -> int:
    """A launch's ending (bench.sweep.launch.Ending) as the command's exit status."""
    return (EXIT_OK, EXIT_FAILURES, EXIT_INTERRUPTED)[ending]


def _overridden(sweep, devices: str | None, label: str | None):
    """The sweep with the command line's --devices and --device-label in force."""
    from bench.sweep.config import overridden

    try:
        return overridden(sweep, devices, label)
    except BadInput as exc:
        option = {"devices": "--devices", "device_label": "--device-label"}.get(exc.field, exc.field)
        raise BadInput(None, option, exc.why) from None
