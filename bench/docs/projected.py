"""The projection's rule held against the published tables: a GPU run (made on one
card) projected onto each card a diffusers page publishes, cell by cell, beside what
that card published.

The rule: a case fits another card when its allocated peak, measured on the run's
card (fitted between the measured sizes), plus the CUDA context measured there (NVML:
the card's peak use less the allocator's reserved peak) stays within that card's
memory. The context is taken as is, not rescaled per card: on the published cards
this has called every OOM cell and every fitting one right (tests/test_projection.py,
and `make bench-projection` for the figures)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.analysis.fit import Headroom, RunModel, on_card
from bench.cards import Card, page_card
from bench.docs.published import read_page
from bench.docs.spec import DocSpec


@dataclass(frozen=True)
class Projected:
    """One published cell beside its projection."""

    device: str
    label: str  # the case
    published_status: str  # ok or oom
    published_percent: float | None
    percent: float | None  # the projected reserved peak, capped at the card, of its memory
    fits: bool | None  # the projected verdict

    @property
    def right(self) -> bool:
        return (self.fits is False) == (self.published_status == "oom")


def project_pages(
    rm: RunModel, pages: list[tuple[Path, DocSpec]], cards: dict[str, Card], headroom: Headroom | None = None
) -> list[Projected]:
    """Every published cell of the pages that the run measured the series of, once
    (pages repeat cells), on the card the page names, with the headroom kept free
    (none where not given: the published cards ran alone)."""
    series = {(s.model, s.op, s.dtype, s.tiled): s for s in rm.series if s.variant is None and s.batch == 1}
    seen, out = set(), []
    for page, spec in pages:
        for p in read_page(page, spec):
            c = p.case
            s = series.get((c.model, c.op, c.dtype, c.tiled))
            card = page_card(cards, p.device)
            if s is None or card is None or (p.device, c.label) in seen:
                continue
            seen.add((p.device, c.label))
            room = headroom.of(card.bytes) if headroom is not None else 0.0
            cell = on_card(
                s, c.size_label, float(c.width * c.height * (c.frames or 1)), card.bytes, rm.context, room
            )
            pct = None if cell.reserved is None else min(cell.reserved, card.bytes) / card.bytes * 100
            out.append(Projected(p.device, c.label, p.status, p.percent, pct, cell.fits))
    return out
