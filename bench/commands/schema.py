"""vae-bench schema: the JSON Schema of a sweep file, for an editor."""

from __future__ import annotations

from bench.commands import EXIT_OK

HELP = "print the JSON Schema of a sweep file, for an editor to complete and check fields"
DESCRIPTION = """\
The JSON Schema (draft 2020-12) of a sweep file, made from the fields `run` reads.
The shipped sweeps name it in their first line; for a sweep of your own:

  vae-bench schema > sweep.schema.json
  # and as the first line of the sweep file:
  # yaml-language-server: $schema=sweep.schema.json

The schema checks each field alone (names, types, allowed values); what depends on
the registry or on other fields is checked by `vae-bench run SWEEP --dry-run`.
It is a JSON document already, so --format json does not apply."""


def add_arguments(p) -> None:
    p.add_argument(
        "--registry", metavar="FILE", help="offer this models.yaml's model names (default: the bundled ones)"
    )


def run(args) -> int:
    from bench.models.registry import load_registry
    from bench.sweep.schema import render, sweep_schema

    print(render(sweep_schema(list(load_registry(args.registry)))), end="")
    return EXIT_OK
