"""vae-bench bisect: the release or commit at which a sweep's cases regressed."""

from __future__ import annotations

import sys

from bench.commands import EXIT_FAILURES, EXIT_INTERRUPTED, EXIT_OK, add_layer_arguments

HELP = "find the release or commit at which a sweep's cases got slower or took more memory"
DESCRIPTION = """\
Measure SWEEP at --good and at --bad; what regressed at bad (time, memory, or a case
that stopped fitting, judged as `compare` judges two runs) is the regression looked
for. Then measure the candidates between, halving the range each step, and print the
first bad one with the figures on both sides.

With --package NAME the candidates are NAME's releases between the two versions, as
the package indexes pip is configured with list them. With --repo PATH (a git
checkout, of diffusers for instance) they are the first-parent commits between two
commits. Each candidate is installed into a cached layered environment (as `vae-bench
matrix` builds them) and the sweep runs there; one that cannot be installed, or whose
sweep fails, is skipped. Use a small sweep: every candidate runs all of it.

Every run is kept in the bisect's folder with bisect.json; Ctrl-C stops it, and
--resume DIR goes on without measuring any candidate twice. A resume builds an
environment that is not in --envs only with --trust-code (it installs what
bisect.json names).

exit status: 0 the first bad candidate is named; 1 the regression does not reproduce,
good or bad could not be measured, or skipped candidates leave a range; 2 bad input;
130 interrupted."""


def add_arguments(p) -> None:
    p.add_argument(
        "sweep", nargs="?", metavar="SWEEP", help="a shipped sweep by name or a file (keep it small)"
    )
    p.add_argument(
        "--good", metavar="REF", help="a release (--package) or a commit-ish (--repo) that is good"
    )
    p.add_argument("--bad", metavar="REF", help="a later one that is bad")
    p.add_argument("--package", metavar="NAME", help="bisect NAME's releases (e.g. diffusers)")
    p.add_argument("--repo", metavar="PATH", help="bisect the commits of the git checkout at PATH")
    p.add_argument(
        "--case",
        metavar="TEXT",
        help='only the cases whose label holds TEXT (e.g. "decode 1024x1024") decide; default: every case',
    )
    p.add_argument("--out", metavar="DIR", default="results/bisect", help="default: results/bisect")
    p.add_argument("--resume", metavar="DIR", help="go on with the bisect in DIR")
    add_layer_arguments(p)


def run(args) -> int:
    from bench.errors import BadInput
    from bench.record.envelope import envelope
    from bench.versions.bisect import Bisect, CannotBisect
    from bench.versions.bisect_report import answer, render
    from bench.versions.layers import DEFAULT_ENVS
    from bench.versions.sweeps import Interrupted

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if args.resume:
        given = [
            o
            for o, v in (
                ("SWEEP", args.sweep),
                ("--good", args.good),
                ("--bad", args.bad),
                ("--package", args.package),
                ("--repo", args.repo),
                ("--case", args.case),
            )
            if v
        ]
        if given:
            raise BadInput(
                None, given[0], "a resumed bisect keeps what it was started with; give only --resume DIR"
            )
        b = Bisect.resume(args.resume, args.envs, args.installer, args.trust_code)
        if args.factor:
            raise BadInput(None, "--factor", "a resumed bisect keeps the factor it was started with")
    else:
        missing = [o for o, v in (("SWEEP", args.sweep), ("--good", args.good), ("--bad", args.bad)) if not v]
        if missing:
            raise BadInput(None, missing[0], "is needed (or --resume DIR)")
        b = Bisect.start(
            args.sweep,
            args.good,
            args.bad,
            args.package,
            args.repo,
            args.out,
            args.envs or DEFAULT_ENVS,
            args.installer or "auto",
            args.case,
            args.factor,
            args.trust_code,
        )
    say(f"bisect: {b.folder} ({len(b.candidates)} candidates, good and bad included)")
    try:
        b.bisect(say)
    except (Interrupted, KeyboardInterrupt):
        say(f"\nbisect: interrupted; every step is kept. Go on with: vae-bench bisect --resume {b.folder}")
        if args.format == "json":
            print(envelope("bisect", {"folder": str(b.folder), "ending": "interrupted"}))
        return EXIT_INTERRUPTED
    except CannotBisect as exc:
        if args.format == "json":
            print(envelope("bisect", answer(b, why=str(exc))))
        print(f"vae-bench: bisect: {exc}", file=sys.stderr)
        return EXIT_FAILURES
    found = answer(b)
    print(envelope("bisect", found) if args.format == "json" else render(b, found))
    return EXIT_OK if found["first_bad"] is not None else EXIT_FAILURES
