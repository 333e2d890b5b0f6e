"""One module per command of `vae-bench`: `add_arguments(parser)` declares what it
takes, `run(args)` does it through the subsystems and returns the exit status. The
CLI (`bench.cli`) only assembles them and turns errors into one line.

The shared argument types are here."""

from __future__ import annotations

import argparse
import math

from bench.errors import shown

EXIT_OK, EXIT_FAILURES, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

# In the order `vae-bench --help` lists them.
NAMES = (
    "run",
    "fleet",
    "models",
    "schema",
    "show",
    "compare",
    "matrix",
    "bisect",
    "history",
    "plot",
    "report",
    "fit",
    "project",
    "advise",
    "tables",
    "docs",
    "export",
)


def factor(text: str) -> float:
    """A ratio beyond which a change counts: finite and above 1 (nan or inf would turn
    every check off without a word)."""
    value = _number(text)
    if not math.isfinite(value) or value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number above 1, like 1.10, got {shown(text)}")
    return value


def amount(text: str) -> float:
    value = _number(text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {shown(text)}")
    return value


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {shown(text)}")
    return int(text)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def add_card_arguments(p, example: str) -> None:
    """--card NAME or --vram SIZE, one of them required: the memory to judge fits by."""
    card = p.add_mutually_exclusive_group(required=True)
    card.add_argument(
        "--card",
        help=f'a card of configs/cards.yaml, e.g. "{example}"; a name sold in several sizes needs '
        'its size ("RTX 4060 Ti 8GB")',
    )
    card.add_argument(
        "--vram", metavar="SIZE", help="the card's memory, with its unit: 10GiB, 12 GB, 10240MiB"
    )


def add_min_psnr_argument(p, what: str) -> None:
    """The quality floor, the same default in fit and advise."""
    p.add_argument(
        "--min-psnr",
        type=amount,
        default=40.0,
        metavar="DB",
        help=f"{what}, in dB against the untiled plain output (default: 40)",
    )


def add_headroom_argument(p) -> None:
    from bench.analysis.fit import DEFAULT_HEADROOM

    p.add_argument(
        "--headroom",
        metavar="SIZE",
        default=DEFAULT_HEADROOM,
        help=f"memory kept free on the card, a share of it (10%%) or a size (1GiB, 0): what the "
        f"measurement does not see, such as other processes, the display, another driver's CUDA "
        f"context (default: {DEFAULT_HEADROOM.replace('%', '%%')}; the same in fit, advise, project, plot)",
    )


def add_card_question_arguments(p, example: str) -> None:
    """What fit and advise both ask: where runs are named, the card, the headroom."""
    add_runs_dir_argument(p)
    add_card_arguments(p, example)
    add_headroom_argument(p)


def card_budget(args) -> tuple[str, float, bool]:
    """The card the arguments name, its memory in bytes, and whether that memory is only
    the size the card is sold with."""
    from bench.analysis.fit import MIB, parse_vram
    from bench.cards import find_card, load_cards

    if args.card is not None:
        card = find_card(load_cards(), args.card)
        return card.name, card.bytes, card.approximate
    total = parse_vram(args.vram)
    return f"your {total / MIB:.0f} MiB card", total, False


DEFAULT_RUNS = "results/runs"


def add_layer_arguments(p) -> None:
    """What `matrix` and `bisect` share: the environments' cache and installer, the
    trust in registry code each run is given, and the time factor of their verdicts."""
    p.add_argument("--envs", metavar="DIR", help="the cache of environments (default: results/envs)")
    from bench.versions.layers import INSTALLERS

    p.add_argument("--installer", choices=INSTALLERS, help="default: auto (uv where it is on PATH, else pip)")
    p.add_argument(
        "--trust-code",
        action="store_true",
        help="import the registry classes named as package.module:Class (passed on to each run; "
        "needed again with --resume)",
    )
    p.add_argument(
        "--factor", type=factor, help="time ratio that counts (default 1.10 for GPU runs, 1.25 for CPU)"
    )
    p.add_argument("--format", choices=("text", "json"), default="text", help="default: text")


def add_runs_dir_argument(p) -> None:
    """--runs DIR: where a RUN given by id, by the start of one, or as latest or previous
    is looked up."""
    p.add_argument(
        "--runs",
        dest="runs_dir",
        metavar="DIR",
        default=DEFAULT_RUNS,
        help=f"where a run named by its id, the start of it, `latest` or `previous` is found "
        f"(default: {DEFAULT_RUNS}, then the shipped reference runs)",
    )


def run_path(args, text: str, field: str = "RUN_DIR") -> str:
    """A RUN as the command line gives it (a path, an id or its start, latest, previous)
    as the path of its folder."""
    from pathlib import Path

    from bench.record.lookup import resolve_run
    from bench.shipped import REFERENCE_DIR

    folders = [Path(getattr(args, "runs_dir", DEFAULT_RUNS)), REFERENCE_DIR]
    return str(resolve_run(text, folders, field))


def runs_or_shipped(given: list[str] | str | None, *refs, args=None) -> list[str]:
    """The runs the command line names (each through run_path), or the shipped reference
    runs `refs`, saying on stderr which it used (stdout stays the answer)."""
    import sys

    from bench.shipped import used

    if given:
        named = [given] if isinstance(given, str) else list(given)
        return [run_path(args, text) for text in named]
    for n, ref in enumerate(refs):
        role = "for the other settings" if n else ""
        print(used(ref, role), file=sys.stderr)
    return [str(ref.path) for ref in refs]
