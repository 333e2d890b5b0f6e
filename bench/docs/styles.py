"""The two table styles of the diffusers docs: how each figure is written, and read
back. A change to a style touches this module only.

- "encode": tabulate's pipe format; times rounded to milliseconds, then every float
  as tabulate prints it by default (`g`); a missing value is the OOM word, aligned as
  tabulate aligns a missing value.
- "decode": plain `| a | b |` rows under `| --- |`; the untiled time rounded to
  milliseconds and printed short (`0.05`), memory with two decimals and `%`, the tiled
  time with three decimals and its change against the untiled time (`0.301 (+103%)`).

The change is computed from the two times as printed, so a reader can check it: the
percentage rounded half away from zero to one decimal; below 1% in size it is shown
with that decimal (`+0.4%`, `-0.8%`), from 1% on as a whole number (`+59%`, `+103%`),
and a change that rounds to zero is `0%`. Where both medians met their precision and
their 95% intervals overlap, the change is `0%`: identical work (a tile as large as
the image) measured at 8.49 and 8.51 ms prints as 0.008 and 0.009 s, and no change
should be read into the rounding.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import tabulate as tabulate_module

from bench.docs.labels import LabelSet
from bench.stats import overlap

STYLES = ("encode", "decode")
# A case that was not measured (error, skipped, or absent from the runs).
NOT_MEASURED = "-"


@dataclass(frozen=True)
class Cell:
    """One measurement as a table shows it: status, median time (s), memory (%)."""

    status: str  # "ok", "oom", or anything else: not measured
    time: float | None = None
    percent: float | None = None
    # the 95% interval of the median, where it met the run's precision
    interval: tuple[float, float] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.time is not None


@dataclass(frozen=True)
class Row:
    device: str
    resolution: str
    untiled: Cell
    tiled: Cell | None = None  # None in tables without tiled columns


def render(style: str, rows: Sequence[Row], labels: LabelSet, tiled: bool = True) -> str:
    """The table as markdown lines joined by "\\n", without a final newline."""
    if style == "encode":
        return _encode(rows, labels, tiled)
    if style == "decode":
        return _decode(rows, labels, tiled)
    raise ValueError(f"unknown table style {style!r}")


# -- the "encode" style --------------------------------------------------------------


def _encode(rows: Sequence[Row], labels: LabelSet, tiled: bool) -> str:
    def pair(cell: Cell | None) -> list:
        # written as tabulate writes figures (`g`), also where a word beside them makes
        # the column text, which tabulate would print in full (0.5937581177867666)
        if cell is not None and cell.ok:
            memory = NOT_MEASURED if cell.percent is None else format(cell.percent, "g")
            return [format(round(cell.time, 3), "g"), memory]
        if cell is not None and cell.status == "oom":
            return [None, None]  # printed as the OOM word
        return [NOT_MEASURED, NOT_MEASURED]

    ncols = 6 if tiled else 4
    body = [[r.device, r.resolution, *pair(r.untiled), *(pair(r.tiled) if tiled else [])] for r in rows]
    with _one_column_per_character():
        return tabulate_module.tabulate(
            body, headers=list(labels.headers[:ncols]), tablefmt="pipe", missingval=labels.oom
        )


@contextmanager
def _one_column_per_character() -> Iterator[None]:
    """Pad by characters, as when wcwidth is not installed, so that the same data gives
    the same bytes on every machine (CJK headers included)."""
    saved = tabulate_module.WIDE_CHARS_MODE
    tabulate_module.WIDE_CHARS_MODE = False
    try:
        yield
    finally:
        tabulate_module.WIDE_CHARS_MODE = saved


# -- the "decode" style --------------------------------------------------------------


def _decode(rows: Sequence[Row], labels: LabelSet, tiled: bool) -> str:
    ncols = 6 if tiled else 4
    lines = [_line(labels.headers[:ncols]), _line(["---"] * ncols)]
    for r in rows:
        cells = [r.device, r.resolution, short_time(r.untiled, labels), percent(r.untiled, labels)]
        if tiled:
            cells += [tiled_time(r.untiled, r.tiled, labels), percent(r.tiled, labels)]
        lines.append(_line(cells))
    return "\n".join(lines)


def _line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _word(cell: Cell | None, labels: LabelSet) -> str:
    return labels.oom if cell is not None and cell.status == "oom" else NOT_MEASURED


def short_time(cell: Cell | None, labels: LabelSet) -> str:
    """Seconds rounded to milliseconds, printed without trailing zeros: `0.05`."""
    if cell is None or not cell.ok:
        return _word(cell, labels)
    return str(round(cell.time, 3))


def percent(cell: Cell | None, labels: LabelSet) -> str:
    if cell is None or not cell.ok:
        return _word(cell, labels)
    if cell.percent is None:  # a backend that cannot measure memory
        return NOT_MEASURED
    return f"{cell.percent:.2f}%"


def tiled_time(untiled: Cell | None, tiled: Cell | None, labels: LabelSet) -> str:
    """`0.301 (+103%)`; without the change when the untiled case has no time."""
    if tiled is None or not tiled.ok:
        return _word(tiled, labels)
    text = f"{tiled.time:.3f}"
    if untiled is not None and untiled.ok:
        delta = "0%" if same_within_precision(untiled, tiled) else change(untiled.time, tiled.time)
        if delta is not None:
            text += f" ({delta})"
    return text


def same_within_precision(a: Cell, b: Cell) -> bool:
    """Both medians met their precision and their intervals overlap: no change can be
    told apart from the noise, whatever rounding to milliseconds makes of them."""
    return overlap(a.interval, b.interval)


def change(untiled: float, tiled: float) -> str | None:
    """The tiled time against the untiled one, both as printed (milliseconds)."""
    u = Decimal(f"{untiled:.3f}")
    t = Decimal(f"{tiled:.3f}")
    if u == 0:
        return None
    pct = (t - u) / u * 100
    tenths = pct.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    if tenths == 0:
        return "0%"
    if abs(tenths) < 1:
        return f"{tenths:+}%"
    return f"{pct.quantize(Decimal('1'), rounding=ROUND_HALF_UP):+}%"


# -- reading figures back ------------------------------------------------------------

_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_NUMBER = re.compile(rf"^{_NUM}$")
_PERCENT = re.compile(rf"^({_NUM})\s*%$")
_TIME_CHANGE = re.compile(rf"^({_NUM})\s*\(\s*({_NUM}%)\s*\)$")


# No figure of a page comes near these: a call of a day, a thousand times the card.
MAX_TIME_S = 86_400.0
MAX_PERCENT = 100_000.0


def parse_time(text: str) -> tuple[float, str | None] | None:
    """`0.05` -> (0.05, None); `0.301 (+103%)` -> (0.301, "+103%"); None if neither, or
    if the time is not one a call can take (not above 0, not finite, over a day)."""
    text = text.strip()
    m = _TIME_CHANGE.match(text)
    value, change = (text, None) if _NUMBER.match(text) else (m.group(1), m.group(2)) if m else (None, None)
    if value is None or not 0 < float(value) <= MAX_TIME_S:
        return None
    return float(value), change


def parse_percent(text: str) -> float | None:
    """`3.51901` or `5.60%` -> the number; None if neither, or if it is no share of a
    card's memory (negative, not finite, past MAX_PERCENT)."""
    text = text.strip()
    m = _PERCENT.match(text)
    value = text if _NUMBER.match(text) else m.group(1) if m else None
    if value is None or not 0 <= float(value) <= MAX_PERCENT:
        return None
    return float(value)
