"""The one exception type that means "the user gave us something we cannot use"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# An error is one line a person reads: a value is quoted only this far.
QUOTE_LIMIT = 100
MESSAGE_LIMIT = 1000


def shown(value: Any) -> str:
    """`repr(value)`, cut to about QUOTE_LIMIT characters."""
    text = repr(value)
    return text if len(text) <= QUOTE_LIMIT else text[: QUOTE_LIMIT - 5] + "[...]"


class BadInput(Exception):
    """Bad input: the CLI prints it as one line and exits with status 2."""

    def __init__(self, where: str | Path | None, field: str | None, why: str):
        self.where = str(where) if where is not None else None
        # A field name can come from the user's file (an unknown key): cut it too.
        self.field = field if field is None or len(field) <= QUOTE_LIMIT else shown(field)
        self.why = why if len(why) <= MESSAGE_LIMIT else why[: MESSAGE_LIMIT - 5] + "[...]"
        parts = [p for p in (self.where, self.field) if p]
        super().__init__(": ".join(parts + [self.why]))

    def __reduce__(self):
        # as it was made, so that it crosses from a worker process whole
        return (type(self), (self.where, self.field, self.why))
