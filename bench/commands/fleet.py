"""vae-bench fleet: a sweep once per kind of GPU a Ray cluster offers, streamed back
into local run folders."""

from __future__ import annotations

import os
import sys
from pathlib import Path

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
    p.add_argument(
        "config", nargs="?", help="a shipped sweep by name (docs) or a sweep file (not with --resume)"
    )
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
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: the run folders on the last lines of stdout; json: stdout is one JSON document, the "
        "run folders and how the fleet run ended, and the report goes to stderr (default: text)",
    )
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
    from bench.commands.run import launch
    from bench.record.store import open_run
    from bench.sweep import config
    from bench.sweep.fleet.receive import LocalRun

    if bool(args.config) == bool(args.resume):
        raise BadInput(None, "config", "give a sweep file, or --resume RUN_DIR ... (not both)")
    if args.resume and args.label_by_kind:
        raise BadInput(None, "--label-by-kind", "a resumed run keeps the device label it was made with")
    if args.resume:
        stored = []
        for run_dir in args.resume:
            run = open_run(run_dir)  # the one read of each run: the resume, the node and the report use it
            kind = run.meta.fleet.kind if run.meta.fleet is not None else None
            if not kind:
                raise BadInput(Path(run_dir) / "meta.json", "fleet.kind", "missing: not a fleet run")
            stored.append((run, kind))
    else:
        sweep = config.load_sweep(args.config)
    try:
        driver.connect(args.address)
    except Exception as exc:  # ConnectionError, a bad address, no cluster running
        raise BadInput(None, "--address", f"cannot reach the Ray cluster: {exc}") from None
    info = {"address": args.address}
    out = None
    if args.resume:
        parts, kinds = [], {}
        for run, kind_name in stored:
            (kind,) = _or_bad(lambda k=kind_name: driver.pick([k]), "--resume")
            kinds[kind.name] = kind
            parts.append(LocalRun(kind.name, {**run.meta.fleet.to_json(), **info}, stored=run))
    else:
        wanted = [k.strip() for k in args.kinds.split(",") if k.strip()] if args.kinds else None
        chosen = _or_bad(lambda: driver.pick(wanted), "--kinds")
        if sweep.device_label and len(chosen) > 1 and not args.label_by_kind:
            raise BadInput(
                sweep.source,
                "device_label",
                f"names one device, and the fleet runs {len(chosen)} kinds: leave it out, or give "
                "--label-by-kind",
            )
        out = Path(args.out or sweep.output)
        command = " ".join(["vae-bench", *sys.argv[1:]])
        kinds = {k.name: k for k in chosen}
        parts = [
            LocalRun(
                k.name,
                info,
                out=out,
                sweep_file=sweep.source,
                command=command,
                task={"sweep": _labelled(sweep, k.name) if args.label_by_kind else sweep.to_dict()},
            )
            for k in chosen
        ]
    launcher = driver.Fleet(parts, kinds, trust_code=args.trust_code, out=out)
    return launch(launcher, args.format, "fleet")


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
