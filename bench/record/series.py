"""The questions every reader of runs asks of a series of cases, each answered once:
which series a case is of (`series_key`) and which input (`input_key`); the untiled
series a tiled one is measured against (`untiled_partner`); which tables the cases
fill (`table_groups`); what a case needs of a card (`card_need`, `card_budget`,
`fits`); what the interval of a median is (`interval`); and the labels of a device,
of a series and of a table.

A series is one line of a plot, one column of a table, one fitted curve: the cases of
one model, op, dtype, batch, variant and tiling, over their sizes. Where readers mean
something different on purpose (a fit tells tiling knobs apart, a plot draws an
interval that missed its precision), a parameter says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple

from bench.errors import shown as _shown

if TYPE_CHECKING:
    from bench.record.case import Case
    from bench.record.run import CaseRecord

Knobs = tuple[tuple[str, Any], ...]

# -- labels of a device -------------------------------------------------------------

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


# -- which series, which input, which table -------------------------------------------


class SeriesKey(NamedTuple):
    """The series a case is of."""

    model: str
    op: str
    dtype: str
    batch: int
    axes: Knobs | None  # Case.axes: the variant axes set
    swept: Knobs | None  # Case.swept_tiling: the tiling knobs a sweep swept as lists
    tiled: bool
    tiling: Knobs | None = None  # the knobs in force, where asked for (series_key(knobs=True))

    @property
    def variant(self) -> Knobs | None:
        """The Case.variant of the series' cases: its axes and its swept tiling."""
        return tuple(sorted((self.axes or ()) + (self.swept or ()))) or None

    @property
    def table(self) -> tuple:
        """(model, op, dtype, batch, axes, swept): the table the series stands in
        (table_groups); its tiled and untiled columns differ only in `tiled`."""
        return tuple(self[:6])


def series_key(case: Case, knobs: bool = False) -> SeriesKey:
    """The series of `case`. With `knobs`, tiled cases of other tiling knobs in force are
    other series though no sweep swept them (a fit of memory against pixels): elsewhere
    a tiling is named by the knobs swept, the others being the model's own."""
    c = case
    return SeriesKey(
        c.model, c.op, c.dtype, c.batch, c.axes, c.swept_tiling, c.tiled, c.tiling if knobs else None
    )


def untiled_partner(key: SeriesKey) -> SeriesKey:
    """The untiled series a tiled one is measured against: the same model, op, dtype,
    batch and variant axes, no tiling swept. One untiled series stands beside every
    tiling its variant was swept with."""
    return key._replace(swept=None, tiled=False, tiling=None)


def input_key(case: Case) -> tuple[str, str, str, int]:
    """(model, op, size, batch): what a setting is chosen for. A series is one setting
    over sizes; an input is one size over the settings (dtype, tiling, variant) that
    compete for it."""
    return case.model, case.op, case.size_label, case.batch


def table_groups(cases: Iterable[Case]) -> list[tuple]:
    """SeriesKey.table of each table the cases fill, in their order: one per variant,
    and one per tiling swept as a list. An untiled series stands beside each tiling its
    variant was swept with (untiled_partner), so it makes no table of its own there."""
    keys = [series_key(c) for c in cases]
    beside = {untiled_partner(k).table for k in keys if k.swept is not None}
    return [t for t in dict.fromkeys(k.table for k in keys) if t[5] is not None or t not in beside]


# -- what a case needs of a card -------------------------------------------------------


def card_need(peak: float | None, context: int | None, headroom: float = 0) -> float | None:
    """The bytes a case needs of a card: its peak, the CUDA context (None: not known or
    none, as on a CPU) and the headroom asked for; None where the peak is not known.
    The allocated peak, not the reserved one: near the card's limit the allocator
    frees its cache and retries, so a reserved peak can exceed a card that runs it."""
    return None if peak is None else peak + (context or 0) + headroom


def card_budget(total: float, context: int | None, headroom: float = 0) -> float:
    """What a card of `total` bytes leaves for the peak: card_need read backwards."""
    return total - (context or 0) - headroom


def fits(need: float | None, total: float) -> bool | None:
    """Whether a need (card_need) fits a card; None where it is not known."""
    return None if need is None else need <= total


# -- the interval of a median --------------------------------------------------------


def interval(record: CaseRecord, unmet: bool = False, or_range: bool = False) -> tuple[float, float] | None:
    """The 95% interval of a record's median; None where the case did not run or was
    not timed, or where its run stored none (format 1, imported tables).

    An interval of a median that missed its run's precision (or whose samples
    drifted) is left out unless
    `unmet`: tables and a tiling's cost claim only what met it, while advise tells two
    settings apart by any interval and a plot draws it. With `or_range`, a median
    without one gets the samples' min to max (format 1), else the median itself
    (imported), as a plot's error bar."""
    t = record.time
    if not record.ok or t is None:
        return None
    if t.ci_low is not None and t.ci_high is not None and (unmet or record.precise):
        return t.ci_low, t.ci_high
    if not or_range:
        return None
    return (t.median if t.min is None else t.min), (t.median if t.max is None else t.max)


# -- labels of a series and of a table -------------------------------------------------


def variant_words(variant: Knobs | None) -> str:
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


def setting_label(case: Case) -> str:
    """What to turn on for an input (input_key names the rest): `float16, tiled
    [channels_last, tile_sample_min_size 256]`."""
    words = [case.dtype]
    if case.batch != 1:
        words.append(f"batch {case.batch}")
    words.append("tiled" if case.tiled else "untiled")
    return f"{', '.join(words)} [{variant_words(case.variant)}]" if case.variant else ", ".join(words)


def table_title(head: str, batch: int, variant: Knobs | None) -> str:
    """A table's title (docs tables, fit's groups): `head`, its batch where not 1, and
    its variant in words (that of its tiled column)."""
    words = variant_words(variant)
    return head + (f", batch {batch}" if batch != 1 else "") + (f" [{words}]" if words else "")


def legend_label(
    key: tuple[str, SeriesKey], keys: list[tuple[str, SeriesKey]], with_tiling: bool = True
) -> str:
    """A series among others drawn together, (source, series) each: only what tells it
    apart from them (the source, the dtype, the batch, the variant axes), and its
    tiling; without `with_tiling`, the tiling swept alone."""
    source, k = key
    parts = []
    if len({s for s, _ in keys}) > 1:
        parts.append(source)
    if len({o.dtype for _, o in keys}) > 1:
        parts.append(k.dtype)
    if len({o.batch for _, o in keys}) > 1:
        parts.append(f"batch {k.batch}")
    if len({variant_words(o.axes) for _, o in keys}) > 1:
        parts.append(variant_words(k.axes) or "no variant")
    swept = variant_words(k.swept)
    if with_tiling:
        parts.append(f"tiled {swept}" if k.tiled and swept else ("tiled" if k.tiled else "untiled"))
    elif swept:
        parts.append(swept)
    return ", ".join(parts)


# -- the quality reference of a case ------------------------------------------------


def reference_case(case: Case, dtype: str | None = None) -> Case:
    """The case whose output `case`'s is measured against: untiled, no variant, in
    `dtype` (its own by default)."""
    return replace(case, tiled=False, tiling=None, variant=None, dtype=dtype or case.dtype)


def reference_words(case: Case, dtype: str | None) -> str:
    return f"untiled {dtype or case.dtype}, no variant"


def is_reference(case: Case, dtype: str | None) -> bool:
    return case == reference_case(case, dtype)
