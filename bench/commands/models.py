"""vae-bench models: the registry, one line per model."""

from __future__ import annotations

from bench.commands import EXIT_OK

HELP = "list the models of the registry"


def add_arguments(p) -> None:
    p.add_argument("--registry", metavar="FILE", help="a models.yaml (default: configs/models.yaml)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="default: text")


def run(args) -> int:
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
