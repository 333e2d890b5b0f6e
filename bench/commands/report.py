"""vae-bench report: a static HTML site of stored runs."""

from __future__ import annotations

from bench.commands import EXIT_OK, positive

HELP = "write a static HTML report of stored runs: runs, comparisons, fit and history"
DESCRIPTION = (
    "Reads every run the arguments name (a run folder, or a folder of runs searched below) "
    "and writes a site that opens from file:// with no address outside it: index.html (every "
    "run, newest first, and the history of each device at a glance), a page per run (its cases "
    "in a sortable table, the memory, time, tiling and fit charts, the documentation tables as "
    "`vae-bench tables` prints them, the environment), a compare page per pair of runs (each "
    "run against --baseline, else against the previous run of the same device and sweep) and "
    "a history page per model and op. Charts are SVG drawn into the pages. A folder given as "
    "--out must be new, empty or a site this command wrote; its pages are rewritten and the "
    "pages it no longer has are removed."
)
DEFAULT_OUT = "site"


def add_arguments(p) -> None:
    p.add_argument("inputs", nargs="+", metavar="RUN_OR_DIR", help="a run folder, or a folder of runs")
    p.add_argument(
        "--out", metavar="DIR", default=DEFAULT_OUT, help=f"where the site goes (default: ./{DEFAULT_OUT})"
    )
    p.add_argument(
        "--baseline",
        metavar="RUN",
        help="compare every run with this one (a run folder, or the id or the start of the id of a run "
        "read); default: each run against the previous run of its device and sweep",
    )
    p.add_argument(
        "--jobs",
        type=positive,
        metavar="N",
        help="pages drawn side by side, each in a process of its own (default: one per CPU, at most 8)",
    )
    p.add_argument("--format", choices=("text", "json"), default="text", help="default: text")
    p.add_argument("--quiet", action="store_true", help="no line per page while it is built")


def run(args) -> int:
    import sys

    from bench.site.build import build_site
    from bench.site.render import default_workers

    def progress(what: str) -> None:
        if not args.quiet and args.format == "text":
            print(f"  {what}", file=sys.stderr, flush=True)

    workers = args.jobs or default_workers()
    site = build_site(args.inputs, args.out, args.baseline, progress=progress, workers=workers)
    index = site.out / "index.html"
    if args.format == "json":
        from bench.record.envelope import envelope

        data = {
            "index": str(index),
            "runs": [r.run_id for r in site.runs],
            "pages": [str(p) for p in site.pages if p.suffix == ".html"],
            "comparisons": site.comparisons,
            "bytes": site.bytes,
            "seconds": site.seconds,
        }
        print(envelope("report", data))
        return EXIT_OK
    pages = sum(1 for p in site.pages if p.suffix == ".html")
    print(
        f"{index}: {pages} pages ({len(site.runs)} runs, {site.comparisons} comparisons), "
        f"{site.bytes / 2**20:.1f} MiB, built in {site.seconds:.1f} s"
        + (f"; {site.removed} page(s) of an earlier build removed" if site.removed else "")
    )
    return EXIT_OK
