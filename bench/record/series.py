"""The rules every reader of runs shares for a series of cases, each answered once:
the labels of a device and of a series, and which cases form one table.

A series is one line of a plot, one row group of a table, one fitted curve: the cases
of one model, op, dtype, batch, variant and tiling, over their sizes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from bench.errors import shown as _shown

if TYPE_CHECKING:
    from bench.record.case import Case

# What a device's name or label may not hold: it stands in a docs table cell (a pipe
# would end the cell, a line break the row) and on a page rendered as HTML (a tag, an
# entity, a link or emphasis would be markup, not a name).
LABEL_FORBIDDEN = "|<>&`[]*~\\"
# and what markdown makes a link or emphasis of, though each character alone is plain
LABEL_FORBIDDEN_PARTS = ("__", "://", "www.")
MAX_LABEL = 80


def label_problem(text: Any) -> str | None:
    """Why `text` cannot name a device in tables and docs, or None when it can."""
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_LABEL:
        return f"must be a name of 1 to {MAX_LABEL} characters, got {_shown(text)}"
    bad = sorted({ch for ch in text if ch in LABEL_FORBIDDEN or not ch.isprintable()})
    bad += [part for part in LABEL_FORBIDDEN_PARTS if part in text.lower()]
    if bad:
        listed = " ".join(repr(ch) for ch in bad)
        return (
            f"{_shown(text)} holds {listed}, which a docs table cell cannot show as it is "
            "(no | < > & ` [ ] * ~ \\, line break, __, :// or www.)"
        )
    return None


def as_label(text: str) -> str:
    """A driver's name of a device, made a name label_problem takes: what a cell cannot
    show becomes a space, and it is cut to MAX_LABEL (a run is never refused for the
    name its own processor or GPU reports)."""
    clean = "".join(" " if ch in LABEL_FORBIDDEN or not ch.isprintable() else ch for ch in str(text))
    for part in LABEL_FORBIDDEN_PARTS:
        clean = re.sub(re.escape(part), " ", clean, flags=re.IGNORECASE)
    return " ".join(clean.split())[:MAX_LABEL].strip() or "device"


def variant_words(variant: tuple[tuple[str, Any], ...] | None) -> str:
    """A variant in words: a true flag by its name, any other axis by name and value."""
    return ", ".join(key if value is True else f"{key} {value}" for key, value in variant or ())


def series_label(model, op, size, dtype, batch, tiled, variant) -> str:
    """`sd-v1 decode 1024x1024 float16 tiled [channels_last]`; without a size (None), the
    label of a series of sizes."""
    parts = [model, op, *([size] if size else []), dtype]
    if batch != 1:
        parts.append(f"batch {batch}")
    parts.append("tiled" if tiled else "untiled")
    label = " ".join(parts)
    return f"{label} [{variant_words(variant)}]" if variant else label


def table_groups(cases: Iterable[Case]) -> list[tuple]:
    """(model, op, dtype, batch, variant axes, swept tiling) of each table the cases
    fill, in their order: one per variant, and one per tiling swept as a list. An
    untiled case stands beside each tiling its variant was swept with, so it makes no
    table of its own there."""
    found = dict.fromkeys((c.model, c.op, c.dtype, c.batch, c.axes, c.swept_tiling) for c in cases)
    swept = {g[:5] for g in found if g[5] is not None}
    return [g for g in found if g[5] is not None or g[:5] not in swept]
