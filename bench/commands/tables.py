"""vae-bench tables: the documentation tables of stored runs, as markdown."""

from __future__ import annotations

from bench.commands import EXIT_OK, add_runs_dir_argument

HELP = "print the documentation tables of stored runs (markdown)"
DESCRIPTION = (
    "One table per model and op, rows device x resolution, untiled and tiled side by "
    "side, in the styles of the diffusers docs; several runs (one per GPU) merge into one table."
)


def add_arguments(p) -> None:
    from bench.docs.labels import LANGS
    from bench.docs.styles import STYLES

    p.add_argument(
        "runs", nargs="*", metavar="RUN_DIR", help="one per GPU (default: the shipped H200 docs run)"
    )
    add_runs_dir_argument(p)
    p.add_argument(
        "--spec",
        metavar="SPEC",
        help="render the blocks of a spec (a shipped name such as hybrid-inference, or a file)",
    )
    p.add_argument("--lang", choices=LANGS, help="label set (default: the spec's, or en)")
    p.add_argument("--style", choices=STYLES, help="one style for every table (default: by op)")
    p.add_argument(
        "--format",
        choices=("md", "json"),
        default="md",
        help="md: the tables as the docs publish them; json: their cells as numbers (default: md)",
    )


def run(args) -> int:
    from bench.docs.spec import load_spec
    from bench.docs.tables import tables_markdown

    spec = load_spec(args.spec) if args.spec else None
    from bench.commands import runs_or_shipped
    from bench.shipped import DOCS_RUN

    runs = runs_or_shipped(args.runs, DOCS_RUN, args=args)
    if args.format == "json":
        from bench.docs.tables import tables_data
        from bench.record.envelope import envelope

        print(envelope("tables", tables_data(runs, spec=spec, lang=args.lang)))
        return EXIT_OK
    print(tables_markdown(runs, spec=spec, lang=args.lang, style=args.style), end="")
    return EXIT_OK
