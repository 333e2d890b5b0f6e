"""vae-bench fleet: a sweep once per kind of GPU a Ray cluster offers, streamed back
into local run folders."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bench.commands import EXIT_FAILURES, EXIT_INTERRUPTED, EXIT_OK
from bench.errors import BadInput

HELP = "run a sweep on every kind of GPU of a Ray cluster (needs the fleet extra)"
DESCRIPTION = (
    "Run a sweep once per kind of GPU that the nodes of a Ray cluster offer (their "
    "accelerator_type resource or label), on one GPU of each kind, as a Ray task that runs "
    "vae-bench itself. Each finished case streams back into a local run folder as it "
    "comes, one folder per kind. A node that dies costs only its case in flight; "
    "`--resume` continues each run where it stopped. Needs `pip install -e '.[fleet]'`, "
    "and vae-bench installed on every node. A cluster with token authentication needs "
    "its token: export RAY_AUTH_TOKEN=<`ray get-auth-token` on the head>."
)


def add_arguments(p) -> None:
    p.add_argument("config", nargs="?", help="sweep file, e.g. configs/docs.yaml (not with --resume)")
    p.add_argument(
        "--address",
        help="the cluster: ray://HOST:10001 (Ray Client) or HOST:6379 on a node of it "
        "(default: RAY_ADDRESS, else a cluster started on this machine)",
    )
    p.add_argument(
        "--kinds", help='the kinds to run on, comma-separated, e.g. "RTX 4090,RTX 3080" (default: every kind)'
    )
    p.add_argument(
        "--resume",
        nargs="+",
        metavar="RUN_DIR",
        help="continue these fleet runs, each on a node of the kind it was made on",
    )
    p.add_argument(
        "--label-by-kind",
        action="store_true",
        help="name each run's device by its kind in tables, docs and history (the sweep's device_label), "
        "for kinds whose GPUs the driver names alike: one model of card in two kinds of host",
    )
    p.add_argument("--out", metavar="DIR", help="folder for the run folders (default: the sweep's `output`)")
    p.add_argument(
        "--trust-code",
        action="store_true",
        help="let each node import registry classes named as package.module:Class (as run --trust-code)",
    )


def _token_mode_if_given() -> None:
    """A token given in the environment is meant for the cluster: use it. Ray itself
    sends one only to a cluster it finds on this machine, never to an address it is
    given, so that the token in ~/.ray goes nowhere else; a token set for this command
    is another matter. Before Ray's import: Ray reads the mode once, then."""
    if "RAY_AUTH_MODE" not in os.environ and (
        os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")
    ):
        os.environ["RAY_AUTH_MODE"] = "token"


def run(args) -> int:
    _token_mode_if_given()
    try:
        from bench.sweep.fleet import driver
    except ImportError as exc:
        if "ray" not in str(exc):
            raise
        raise BadInput(None, None, "vae-bench fleet needs Ray: pip install -e '.[fleet]'") from None
    from bench.record.store import RunWriter, open_run
    from bench.sweep import config
    from bench.sweep.fleet.receive import LocalRun

    if bool(args.config) == bool(args.resume):
        raise BadInput(None, "config", "give a sweep file, or --resume RUN_DIR ... (not both)")
    if args.resume and args.label_by_kind:
        raise BadInput(None, "--label-by-kind", "a resumed run keeps the device label it was made with")
    if args.resume:
        metas = {}
        for run_dir in args.resume:
            meta = open_run(run_dir).meta
            kind = meta.fleet.kind if meta.fleet is not None else None
            if not kind:
                raise BadInput(Path(run_dir) / "meta.json", "fleet.kind", "missing: not a fleet run")
            metas[run_dir] = (meta, kind)
    else:
        sweep = config.load_sweep(args.config)
    try:
        driver.connect(args.address)
    except Exception as exc:  # ConnectionError, a bad address, no cluster running
        raise BadInput(None, "--address", f"cannot reach the Ray cluster: {exc}") from None
    fleet = driver.Fleet()
    fleet_info = {"address": args.address}
    try:
        if args.resume:
            for run_dir, (meta, kind_name) in metas.items():
                (kind,) = _or_bad(lambda k=kind_name: driver.pick([k]), "--resume")
                writer = RunWriter.reopen(run_dir)
                local = LocalRun(kind.name, {**meta.fleet.to_json(), **fleet_info}, writer=writer)
                fleet.say(f"resuming {run_dir} on {kind.name}")
                fleet.start(
                    kind, local, stored=driver.stored_files(Path(run_dir)), trust_code=args.trust_code
                )
        else:
            wanted = [k.strip() for k in args.kinds.split(",") if k.strip()] if args.kinds else None
            kinds = _or_bad(lambda: driver.pick(wanted), "--kinds")
            if sweep.device_label and len(kinds) > 1 and not args.label_by_kind:
                raise BadInput(
                    sweep.source,
                    "device_label",
                    f"names one device, and the fleet runs {len(kinds)} kinds: leave it out, or give "
                    "--label-by-kind",
                )
            out = Path(args.out or sweep.output)
            command = " ".join(["vae-bench", *sys.argv[1:]])
            fleet.say(f"{len(kinds)} kind(s): {', '.join(k.name for k in kinds)}; runs into {out}")
            sweeps = [_labelled(sweep, k.name) if args.label_by_kind else sweep.to_dict() for k in kinds]
            for kind, raw in zip(kinds, sweeps, strict=True):
                local = LocalRun(kind.name, fleet_info, out=out, sweep_file=sweep.source, command=command)
                fleet.start(kind, local, sweep=raw, trust_code=args.trust_code)
        finished = fleet.wait()
    finally:
        fleet.close()
    return _report(fleet.runs, finished)


def _labelled(sweep, kind: str) -> dict:
    """The sweep with the kind as its device_label; a kind's name that cannot name a
    table row stops here, before any node runs."""
    from bench.sweep.config import overridden

    try:
        return overridden(sweep, label=kind).to_dict()
    except BadInput as exc:
        raise BadInput(None, "--label-by-kind", f"kind {kind!r}: {exc.why}") from None


def _or_bad(get, field: str):
    from bench.sweep.fleet.driver import FleetError

    try:
        return get()
    except FleetError as exc:
        raise BadInput(None, field, str(exc)) from None


def _shown_path(path) -> str:
    """A path as short as the user would type it: relative to here when below here."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _report(runs, finished: bool) -> int:
    from bench.analysis.summary import summary_table
    from bench.commands.run import report
    from bench.docs.spec import specs_of_sweep
    from bench.record.store import open_run

    sources, labels, dirs = [], [], []
    code = EXIT_OK
    for local in runs:
        print(f"\n== {local.kind}")
        if local.dir is None:
            tail = (local.ended or {}).get("tail", "")
            print(f"no run came back{': ' + tail.strip().splitlines()[-1] if tail.strip() else ''}")
            code = max(code, EXIT_FAILURES)
            continue
        run = open_run(local.dir)
        sources.append(run.meta.config_file)
        labels.append(run.device_label)
        dirs.append(str(local.dir))
        if run.meta.status == "complete":
            code = max(code, report(local.dir))  # the summary, tables.md, and errors said
        else:
            print(summary_table(run.records))
            print(f"\n{run.meta.status}: resume with vae-bench fleet --resume {local.dir}")
            code = EXIT_INTERRUPTED
        print(f"{local.added} case(s) of it arrived now")
    alike = sorted({x for x in labels if labels.count(x) > 1})
    if alike:
        print(
            f"\nnote: several kinds' runs name their device alike ({', '.join(alike)}): their rows "
            "collide in one table; new fleet runs made with --label-by-kind name each by its kind"
        )
    if dirs:
        runs_text = " ".join(dirs)
        print("\nthe tables of every kind, from these runs:")
        print(f"  vae-bench tables {runs_text}")
        specs = list(dict.fromkeys(s for src in sources for s in specs_of_sweep(src)))
        for spec in specs or ["SPEC"]:
            print(f"  vae-bench docs update PAGE --spec {_shown_path(spec)} {runs_text}")
    if not finished:
        print("\nstopped: resume with vae-bench fleet --resume " + " ".join(dirs), file=sys.stderr)
        code = EXIT_INTERRUPTED
    return code
