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
    "show",
    "compare",
    "history",
    "plot",
    "fit",
    "project",
    "advise",
    "tables",
    "docs",
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
    card.add_argument("--card", help=f'a card of configs/cards.yaml, e.g. "{example}"')
    card.add_argument("--vram", metavar="SIZE", help="the card's memory: 10GiB, 12 GB, 10240MiB")


def card_budget(args) -> tuple[str, float]:
    """The card the arguments name, and its memory in bytes."""
    from bench.analysis.fit import parse_vram
    from bench.cards import find_card, load_cards

    if args.card is not None:
        card = find_card(load_cards(), args.card)
        return card.name + (" (nominal size)" if card.approximate else ""), card.bytes
    return f"a {args.vram} card", parse_vram(args.vram)
