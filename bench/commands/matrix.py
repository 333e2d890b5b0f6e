"""vae-bench matrix: one sweep under several versions of its dependencies."""

from __future__ import annotations

import sys

from bench.commands import EXIT_FAILURES, EXIT_INTERRUPTED, EXIT_OK, add_layer_arguments

HELP = "run one sweep under several diffusers / torch versions and compare them"
DESCRIPTION = """\
Run SWEEP once in each environment given by --with, and print each case's median
time and peak memory in each, every environment judged against the first as
`compare` judges two runs.

Each --with is a pip requirement (diffusers==0.41.0, torch==2.9.1), a path to a
local checkout or wheel, or several joined by + (diffusers==0.41.0+huggingface_hub==0.36.0).
It gets a virtualenv layered on this one: only what it names (and what that needs
that this environment lacks) is installed into it, from the package indexes pip is
configured with; torch and the rest come from here unless named, so a CUDA torch is
never replaced. Environments are built with uv where it is on PATH, else venv + pip,
and kept in --envs by what they hold: a second matrix over the same versions builds
nothing. Each run records the versions it ran with (meta.json's environment).

The matrix's folder holds matrix.json and the runs; Ctrl-C stops it with what was
measured kept, and --resume DIR goes on from there (building an environment that is
not in --envs only with --trust-code: it installs what matrix.json names).

exit status: 0 no environment regressed against the first; 1 one did, or one's
sweep could not run; 2 bad input (an environment that cannot be installed too);
130 interrupted."""


def add_arguments(p) -> None:
    p.add_argument(
        "sweep", nargs="?", metavar="SWEEP", help="a shipped sweep by name (cpu, docs, ...) or a file"
    )
    p.add_argument(
        "--with",
        dest="withs",
        action="append",
        default=[],
        metavar="REQ",
        help="an environment: a requirement, a path, or several joined by + (give it twice or more; "
        "the first is the baseline)",
    )
    p.add_argument("--out", metavar="DIR", default="results/matrix", help="default: results/matrix")
    p.add_argument(
        "--resume", metavar="DIR", help="go on with the matrix in DIR (its sweep and environments)"
    )
    add_layer_arguments(p)


def run(args) -> int:
    from bench.errors import BadInput
    from bench.versions.layers import DEFAULT_ENVS
    from bench.versions.matrix import Matrix
    from bench.versions.matrix_report import as_data, render, report
    from bench.versions.sweeps import Interrupted

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if args.resume:
        if args.sweep or args.withs:
            raise BadInput(
                None, "--resume", "a resumed matrix keeps its sweep and environments; give only DIR"
            )
        m = Matrix.resume(args.resume, args.envs, args.installer, args.trust_code)
    else:
        if not args.sweep:
            raise BadInput(
                None, "SWEEP", "give a sweep (a shipped name such as cpu, or a file) or --resume DIR"
            )
        m = Matrix.start(
            args.sweep,
            args.withs,
            args.out,
            args.envs or DEFAULT_ENVS,
            args.installer or "auto",
            args.trust_code,
        )
    if m.folder is not None:
        say(f"matrix: {m.folder}")
    try:
        m.measure(say)
    except (Interrupted, KeyboardInterrupt):
        if m.folder is None:
            say("\nmatrix: interrupted while building environments; nothing was measured")
            return EXIT_INTERRUPTED
        say(
            "\nmatrix: interrupted; what was measured is kept. "
            f"Go on with: vae-bench matrix --resume {m.folder}"
        )
        if args.format == "json":
            from bench.record.envelope import envelope

            print(envelope("matrix", {"folder": str(m.folder), "ending": "interrupted"}))
        return EXIT_INTERRUPTED
    r = report(m, factor=args.factor)
    if args.format == "json":
        from bench.record.envelope import envelope

        print(envelope("matrix", as_data(r)))
    else:
        print(render(r))
    return EXIT_FAILURES if r.regressed else EXIT_OK
