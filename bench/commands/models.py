"""vae-bench models: the registry, one line per model."""

from __future__ import annotations

from bench.commands import EXIT_FAILURES, EXIT_OK

HELP = "list the models of the registry, or (--coverage) which diffusers VAE classes it measures"
DESCRIPTION = """\
One line per model of the registry. With --coverage: every autoencoder class of the
installed diffusers (found by walking diffusers.models.autoencoders), as registered
(by which models), excluded (with the registry's reason) or new; exit 1 when a class
is new, so that a diffusers release adding a VAE fails a CI job by the class's name."""


def add_arguments(p) -> None:
    p.add_argument("--registry", metavar="FILE", help="a models.yaml (default: configs/models.yaml)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="default: text")
    p.add_argument(
        "--coverage",
        action="store_true",
        help="every diffusers autoencoder class: registered, excluded or new",
    )


def run(args) -> int:
    if args.coverage:
        return _coverage(args)
    from tabulate import tabulate

    from bench.models.registry import load_registry

    specs = list(load_registry(args.registry).values())
    if args.format == "json":
        from bench.record.envelope import envelope

        fields = ("name", "cls", "family", "repo", "subfolder", "params")
        print(envelope("models", [{f: getattr(s, f) for f in fields} for s in specs]))
        return EXIT_OK
    rows = [[s.name, s.cls, s.family, s.repo or "-", s.subfolder or "-", s.params or "-"] for s in specs]
    print(tabulate(rows, headers=["model", "class", "family", "repo", "subfolder", "params"]))
    return EXIT_OK


def _coverage(args) -> int:
    from tabulate import tabulate

    from bench.models.coverage import STATUSES, coverage

    rows = coverage(args.registry)
    new = [r.cls for r in rows if r.status == "new"]
    counts = {s: sum(r.status == s for r in rows) for s in STATUSES}
    if args.format == "json":
        from bench.record.envelope import envelope

        found = [
            {
                "class": r.cls,
                "module": r.module,
                "status": r.status,
                "models": list(r.entries),
                "detail": r.detail,
            }
            for r in rows
        ]
        print(envelope("models coverage", {"classes": found, "counts": counts}))
    else:
        table = [[r.cls, r.status, r.detail] for r in rows]
        print(
            tabulate(table, headers=["class", "status", "models, or why not"], maxcolwidths=[None, None, 80])
        )
        import diffusers

        found = sum(r.module is not None for r in rows)
        print(
            f"\n{found} autoencoder classes in diffusers {diffusers.__version__}: "
            + ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])
        )
        if new:
            print(f"new: {', '.join(new)}: register each in models.yaml, or say why not under `excluded`")
    return EXIT_FAILURES if new else EXIT_OK
