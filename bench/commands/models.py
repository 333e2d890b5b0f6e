"""vae-bench models: the registry, one line per model."""

from __future__ import annotations

from bench.commands import EXIT_OK

HELP = "list the models of the registry"


def add_arguments(p) -> None:
    p.add_argument("--registry", metavar="FILE", help="a models.yaml (default: configs/models.yaml)")


def run(args) -> int:
    from tabulate import tabulate

    from bench.models.registry import load_registry

    rows = [
        [s.name, s.cls, s.family, s.repo or "-", s.subfolder or "-", s.params or "-"]
        for s in load_registry(args.registry).values()
    ]
    print(tabulate(rows, headers=["model", "class", "family", "repo", "subfolder", "params"]))
    return EXIT_OK
