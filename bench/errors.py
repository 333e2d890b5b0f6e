"""The one exception type that means "the user gave us something we cannot use"."""

from __future__ import annotations

from pathlib import Path


class BadInput(Exception):
    """Bad input: the CLI prints it as one line and exits with status 2."""

    def __init__(self, where: str | Path | None, field: str | None, why: str):
        self.where = str(where) if where is not None else None
        self.field = field
        self.why = why
        parts = [p for p in (self.where, self.field) if p]
        super().__init__(": ".join(parts + [why]))
