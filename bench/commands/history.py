"""vae-bench history: medians of each case across the runs of one device."""

from __future__ import annotations

from pathlib import Path

from bench.commands import EXIT_OK, factor, positive

HELP = "medians of each case across the runs of one device, with step changes"
DESCRIPTION = (
    "Every run of one device found below RESULTS_DIR, oldest first; one line per case "
    "with its median in each run; the run where a step change begins is marked."
)


def add_arguments(p) -> None:
    p.add_argument("results", metavar="RESULTS_DIR")
    p.add_argument("--model", help="only this model")
    p.add_argument("--op", choices=("encode", "decode"), help="only this op")
    p.add_argument("--size", help="only this image size: 1024 (a square) or 1024x768")
    p.add_argument("--device", help="device name (or part of it); default: the device of the newest run")
    p.add_argument("--metric", choices=("time", "memory"), default="time", help="default: time")
    p.add_argument("--factor", type=factor, help="step to mark (default 1.10 for GPU runs, 1.25 for CPU)")
    p.add_argument(
        "--by",
        metavar="PACKAGE",
        help="order the runs by the version of PACKAGE they ran with (diffusers, torch, or one a "
        "`vae-bench matrix` or `bisect` environment held), not by their start",
    )
    p.add_argument("--last", type=positive, metavar="N", help="only the newest N runs")
    p.add_argument("--format", choices=("text", "json"), default="text", help="default: text")
    p.add_argument(
        "--plot",
        nargs="?",
        const="",
        metavar="PNG",
        help="also draw it, one panel per model and op (default file: "
        "RESULTS_DIR/history-<device>-<metric>.png)",
    )


def run(args) -> int:
    from bench.analysis.history import history, render
    from bench.files import slug

    h = history(
        args.results,
        model=args.model,
        op=args.op,
        device=args.device,
        metric=args.metric,
        factor=args.factor,
        last=args.last,
        size=args.size,
        by=args.by,
    )
    if args.format == "json":
        from bench.analysis.history import as_data
        from bench.record.envelope import envelope

        print(envelope("history", as_data(h)))
    else:
        print(render(h))
    if args.plot is not None:
        from bench.analysis.plot import plot_history

        path = args.plot or Path(args.results) / f"history-{slug(h.device_label)}-{h.metric}.png"
        drawn = plot_history(h, path)
        if args.format == "json":  # stdout stays one JSON document
            import sys

            print(f"plot: {drawn}", file=sys.stderr)
        else:
            print(f"\nplot: {drawn}")
    return EXIT_OK
