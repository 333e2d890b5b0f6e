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
