"""vae-bench docs update | check | import: the tables of a documentation page."""

from __future__ import annotations

import sys

from bench.commands import EXIT_FAILURES, EXIT_OK, add_runs_dir_argument, amount, run_path

HELP = "update, check, verify or import the tables of a documentation page"
DESCRIPTION = (
    "update: replace the table inside each <details><summary>TITLE</summary> block a "
    "spec names, leaving every other byte of the page as it was.\n"
    "check: lint every table of a page.\n"
    "verify: hold runs against the page's published figures, cell by cell.\n"
    "import: read a page's published tables back into runs (one per device).\n\n"
    "exit status: 0 ok, 1 the page would change (update --check), has problems (check) or\n"
    "is not reproduced (verify: a cell outside the tolerance or made in another setup), "
    "2 bad input (the page is left untouched)."
)


def add_arguments(p) -> None:
    from bench.docs.labels import LANGS

    verbs = p.add_subparsers(dest="docs_command", required=True, metavar="ACTION")
    update = verbs.add_parser("update", help="regenerate a page's tables from runs, in place")
    update.add_argument("page", metavar="PAGE")
    update.add_argument("runs", nargs="+", metavar="RUN_DIR")
    add_runs_dir_argument(update)
    update.add_argument(
        "--spec",
        required=True,
        metavar="SPEC",
        help="table spec: a shipped one by name (hybrid-inference, vae-decode, vae-encode) or a file",
    )
    update.add_argument("--lang", choices=LANGS, help="label set (default: the spec's)")
    update.add_argument("--check", action="store_true", help="write nothing; exit 1 if the page would change")
    update.add_argument(
        "--diff",
        action="store_true",
        help="write nothing; print the change as a unified diff of the page, exit 1 if there is one",
    )
    update.add_argument("--format", choices=("text", "json"), default="text", help="default: text")
    check = verbs.add_parser("check", help="lint the tables of pages; exit 1 on any problem")
    check.add_argument("pages", nargs="+", metavar="PAGE")
    check.add_argument("--lang", choices=LANGS, help="also flag headers and OOM words not of this language")
    check.add_argument("--format", choices=("text", "json"), default="text", help="default: text")
    update.add_argument(
        "--only-listed",
        action="store_true",
        help="rows for the spec's listed devices only; other runs unused",
    )
    verify = verbs.add_parser(
        "verify", help="hold runs against a page's published figures; exit 1 where one does not reproduce"
    )
    verify.add_argument("runs", nargs="+", metavar="RUN_DIR")
    add_runs_dir_argument(verify)
    verify.add_argument("--page", required=True, metavar="PAGE", help="the published page")
    verify.add_argument(
        "--spec", required=True, metavar="SPEC", help="its table spec: a shipped name or a file"
    )
    verify.add_argument(
        "--tolerance", type=amount, default=10.0, metavar="PCT", help="memory, %% (default 10)"
    )
    verify.add_argument(
        "--time-tolerance",
        type=amount,
        default=10.0,
        metavar="PCT",
        help="time, %% (default 10; same card only)",
    )
    verify.add_argument("--format", choices=("text", "md", "json"), default="text", help="default: text")
    imp = verbs.add_parser("import", help="read a page's published tables into runs, one per device")
    imp.add_argument("page", metavar="PAGE")
    imp.add_argument("--out", required=True, metavar="DIR", help="where the run folders go")
    imp.add_argument("--spec", metavar="SPEC", help="table spec (default: the shipped one that fits)")
    imp.add_argument("--format", choices=("text", "json"), default="text", help="default: text")


def run(args) -> int:
    return {"update": _update, "check": _check, "import": _import, "verify": _verify}[args.docs_command](args)


def _update(args) -> int:
    from bench.docs.spec import load_spec
    from bench.docs.tables import Measurements
    from bench.docs.update import update_page

    update = update_page(
        args.page,
        load_spec(args.spec),
        Measurements([run_path(args, r) for r in args.runs]),
        args.lang,
        args.check or args.diff,
        args.only_listed,
    )
    titles = ", ".join(map(repr, update.changed))
    diff = ""
    if args.diff and update.changed:
        import difflib

        before, after = update.before.splitlines(keepends=True), update.text.splitlines(keepends=True)
        diff = "".join(difflib.unified_diff(before, after, str(args.page), f"{args.page} (updated)"))
    if args.format == "json":
        from bench.record.envelope import envelope

        data = {
            "page": str(args.page),
            "changed": list(update.changed),
            "written": bool(update.changed) and not (args.check or args.diff),
            "diff": diff if args.diff else None,
        }
        print(envelope("docs update", data))
        return EXIT_FAILURES if update.changed and (args.check or args.diff) else EXIT_OK
    if not update.changed:
        print(f"{args.page}: up to date")
    elif args.diff:
        sys.stdout.write(diff)
        return EXIT_FAILURES
    elif args.check:
        print(f"{args.page}: would change: {titles}")
        return EXIT_FAILURES
    else:
        print(f"{args.page}: updated {titles}")
    return EXIT_OK


def _check(args) -> int:
    from bench.docs.check import check_page

    found = 0
    listed = []
    for page in args.pages:
        problems = check_page(page, args.lang)
        listed += [{"page": str(page), "line": p.line, "problem": p.what} for p in problems]
        if args.format == "text":
            for p in problems:
                print(f"{page}:{p.line}: {p.what}")
        found += len(problems)
    if args.format == "json":
        from bench.record.envelope import envelope

        print(envelope("docs check", {"pages": [str(p) for p in args.pages], "problems": listed}))
        return EXIT_FAILURES if found else EXIT_OK
    if found:
        print(f"{found} problem(s)", file=sys.stderr)
        return EXIT_FAILURES
    print(f"{', '.join(args.pages)}: tables ok")
    return EXIT_OK


def _verify(args) -> int:
    from bench.docs.spec import load_spec
    from bench.docs.tables import Measurements
    from bench.docs.verify import render, verify

    result = verify(
        args.page,
        load_spec(args.spec),
        Measurements([run_path(args, r) for r in args.runs]),
        args.tolerance / 100,
        args.time_tolerance / 100,
    )
    print(render(result, args.format))
    return EXIT_FAILURES if result.failed else EXIT_OK


def _import(args) -> int:
    from bench.docs.published import import_page, spec_for_page
    from bench.docs.spec import load_spec

    spec = load_spec(args.spec) if args.spec else spec_for_page(args.page)
    runs = [str(r) for r in import_page(args.page, spec, args.out)]
    if args.format == "json":
        from bench.record.envelope import envelope

        print(envelope("docs import", {"runs": runs}))
    else:
        print("\n".join(runs))
    return EXIT_OK
