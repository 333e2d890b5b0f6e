"""Strict reading of JSON objects: the boundary where a run file's values become typed
values that are finite, in range and of the right type, or an `Invalid` naming the
field and why. Past it no code checks a type again.

Hand-written rather than through a validation library: the run format has a few dozen
fields in four small objects, older formats are read through the same calls (a field
absent is None), and the readers of runs must load where only the torch stack is
installed (a GPU host, a CI image), with no compiled dependency of their own.
"""

from __future__ import annotations

import math
import re
from typing import Any

from bench.errors import shown

# Bytes on any device there is (a petabyte), seconds in any case (a day), and the
# longest text a field holds (an error's one line, a note).
MAX_BYTES = 2**50
MAX_SECONDS = 86_400.0
MAX_TEXT = 4000
MAX_ITEMS = 1_000_000
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# What a text read from a file may not hold: control characters (a line break and a tab
# aside), which a terminal would act on (escape sequences) rather than show.
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class Invalid(ValueError):
    """A field that is not what the format says: `field` (dotted) and `why`."""

    def __init__(self, field: str, why: str):
        self.field = field
        self.why = why
        super().__init__(f"{field}: {why}" if field else why)


class Newer(Invalid):
    """A file of a format newer than this vae-bench reads: another version's, not ours to
    move aside or rewrite."""


def printable_tree(value: Any, path: str = "") -> None:
    """Invalid for any text in `value` (keys included, at any depth) that holds a
    control character: every text of a run file may reach a terminal."""
    stack = [(value, path)]
    while stack:
        item, at = stack.pop()
        if isinstance(item, str):
            if CONTROL_RE.search(item):
                raise Invalid(at or "(text)", "holds a control character, which a terminal would act on")
        elif isinstance(item, dict):
            for key, sub in item.items():
                name = f"{at}.{key}" if at else str(key)
                if isinstance(key, str) and CONTROL_RE.search(key):
                    raise Invalid(at or "(key)", "a key holds a control character")
                stack.append((sub, name))
        elif isinstance(item, list):
            stack.extend((sub, f"{at}[{i}]") for i, sub in enumerate(item))


class Obj:
    """One JSON object, read field by field. Each reader returns None for a field that
    is absent or null (unless `required`), else the value of the stated type."""

    def __init__(self, value: Any, path: str = ""):
        if not isinstance(value, dict):
            raise Invalid(path or "(top)", f"must be a JSON object, got {_kind(value)}")
        self.d = value
        self.path = path

    def name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def bad(self, key: str, why: str) -> Invalid:
        return Invalid(self.name(key), why)

    def _get(self, key: str, required: bool) -> Any:
        value = self.d.get(key)
        if value is None and required:
            raise self.bad(key, "missing")
        return value

    def str(
        self,
        key: str,
        required: bool = False,
        choices: tuple[str, ...] | None = None,
        pattern: re.Pattern | None = None,
        max_len: int = MAX_TEXT,
    ) -> str | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.bad(key, f"must be text, got {_kind(value)}")
        if choices is not None and value not in choices:
            raise self.bad(key, f"{shown(value)} is not one of {', '.join(choices)}")
        if len(value) > max_len:
            raise self.bad(key, f"longer than {max_len} characters")
        if pattern is not None and not pattern.fullmatch(value):
            raise self.bad(key, f"{shown(value)} is not of the form {pattern.pattern}")
        return value

    def int(self, key: str, required: bool = False, lo: int = 0, hi: int = MAX_BYTES) -> int | None:
        value = self._get(key, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.bad(key, f"must be an integer, got {_kind(value)}")
        if not lo <= value <= hi:
            raise self.bad(key, f"must be in [{lo}, {hi}], got {shown(value)}")
        return value

    def num(self, key: str, required: bool = False, lo: float = 0.0, hi: float = math.inf) -> float | None:
        value = self._get(key, required)
        if value is None:
            return None
        return number(value, self.name(key), lo, hi)

    def bool(self, key: str, required: bool = False) -> bool | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self.bad(key, f"must be true or false, got {_kind(value)}")
        return value

    def obj(self, key: str, required: bool = False) -> Obj | None:
        value = self._get(key, required)
        return None if value is None else Obj(value, self.name(key))

    def list(self, key: str) -> list:
        value = self.d.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.bad(key, f"must be a list, got {_kind(value)}")
        if len(value) > MAX_ITEMS:
            raise self.bad(key, f"holds more than {MAX_ITEMS} items")
        return value

    def nums(self, key: str, lo: float = 0.0, hi: float = math.inf) -> tuple[float, ...]:
        return tuple(number(v, f"{self.name(key)}[{i}]", lo, hi) for i, v in enumerate(self.list(key)))

    def strs(self, key: str, max_len: int = MAX_TEXT) -> tuple[str, ...]:
        items = self.list(key)
        for i, v in enumerate(items):
            if not isinstance(v, str) or len(v) > max_len:
                raise self.bad(f"{key}[{i}]", f"must be text of at most {max_len} characters, got {_kind(v)}")
        return tuple(items)

    def objs(self, key: str) -> list[Obj]:
        return [Obj(v, f"{self.name(key)}[{i}]") for i, v in enumerate(self.list(key))]

    def scalars(self, key: str) -> dict[str, Any] | None:
        """A mapping of names to JSON scalars (text, a finite number, a flag or null)."""
        o = self.obj(key)
        if o is None:
            return None
        for k, v in o.d.items():
            scalar(v, o.name(k))
        return dict(o.d)


def number(value: Any, field: str, lo: float = 0.0, hi: float = math.inf) -> float:
    """A finite number in [lo, hi] (an integer is a number too)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Invalid(field, f"must be a number, got {_kind(value)}")
    try:
        f = float(value)
    except OverflowError:
        raise Invalid(field, "is too large a number") from None
    if not math.isfinite(f):
        raise Invalid(field, f"must be a finite number, got {shown(value)}")
    if not lo <= f <= hi:
        raise Invalid(field, f"must be in [{lo:g}, {hi:g}], got {f:g}")
    return f


def scalar(value: Any, field: str) -> Any:
    """Text of at most MAX_TEXT characters, a finite number, a flag or null."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        number(value, field, -math.inf, math.inf)
        return value
    if isinstance(value, str) and len(value) <= MAX_TEXT:
        return value
    raise Invalid(field, f"must be text, a number, true/false or null, got {_kind(value)}")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return f"the number {shown(value)}"
    if isinstance(value, str):
        return f"the text {shown(value)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
