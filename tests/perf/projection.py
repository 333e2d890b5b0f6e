"""How well one GPU run predicts other cards: the H200 docs run in results/reference/
(configs/docs.yaml: SD v1 in float16, SDXL in float32, as the published tables were
made) projected onto the cards of the published overview tables, cell by cell, against
what those cards published.

For each published cell: the projected Memory (%) (the reserved peak, capped at the
card) beside the published one, and the OOM verdict (a case fits when its allocated
peak and the CUDA context fit the card) beside the published status.

Targets: every published OOM projected as not fitting and no published fit projected
OOM; decode within 10% of the published percentage on every card where the
projection stays under 90% of the card (cells above 90% are listed apart: near its
limit the allocator frees its cache and retries).

    python tests/perf/projection.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.analysis.fit import model_run, on_card  # noqa: E402
from bench.cards import find_card, load_cards  # noqa: E402
from bench.docs.published import read_page  # noqa: E402
from bench.docs.spec import load_spec  # noqa: E402
from bench.record.case import Case  # noqa: E402
from bench.record.store import open_run  # noqa: E402

RUN = ROOT / "bench" / "reference" / "20261126-054619-nvidia-h200-docs"
PAGE = ROOT / "tests" / "fixtures" / "docs" / "overview.en.md"
SPEC = ROOT / "bench" / "configs" / "docs" / "hybrid-inference.yaml"
TOLERANCE, NEAR = 0.10, 90.0


def main() -> int:
    rm = model_run(open_run(RUN))
    cards = load_cards()
    series = {(s.model, s.op, s.tiled): s for s in rm.series}
    rows, near, right_verdicts, wrong_verdicts, within = [], [], 0, [], {}
    for p in read_page(PAGE, load_spec(SPEC)):
        c = p.case
        s = series.get((c.model, c.op, c.tiled))
        if s is None:
            continue
        total = find_card(cards, p.device).bytes
        cell = on_card(s, c.size_label, pixels_of(c), total, rm.context, 0.0)
        pct = None if cell.reserved is None else min(cell.reserved, total) / total * 100
        published = "OOM" if p.status == "oom" else f"{p.percent:.2f}%"
        if (cell.fits is False) == (p.status == "oom"):
            right_verdicts += 1
        else:
            projected = "fits" if cell.fits else "OOM"
            wrong_verdicts.append(f"{p.device} {c.label}: published {p.status}, projected {projected}")
        diff = None if pct is None or p.percent is None else pct / p.percent - 1
        row = [p.device, c.label, published, pct, diff, "fits" if cell.fits else "OOM"]
        (near if pct is not None and pct >= NEAR else rows).append(row)
        if c.op == "decode" and diff is not None and (pct or 0) < NEAR:
            within.setdefault(f"{c.model} decode", []).append(abs(diff) <= TOLERANCE)
    print(f"projected from {RUN.name} ({rm.context_note})\n")
    print(f"{'card':<30} {'case':<38} {'published':>9} {'projected':>9} {'diff':>7}  verdict")
    for device, label, published, pct, diff, word in rows:
        shown = "-" if pct is None else f"{pct:.2f}%"
        d = "-" if diff is None else f"{diff * 100:+.1f}%"
        print(f"{device:<30} {label:<38} {published:>9} {shown:>9} {d:>7}  {word}")
    print(f"\nabove {NEAR:.0f}% of the card (not held to the tolerance):")
    for device, label, published, pct, _, word in near:
        print(f"  {device:<30} {label:<38} published {published:>9}, projected {pct:.2f}%  {word}")
    print("\ntargets:")
    print(f"  OOM verdicts: {right_verdicts} right, {len(wrong_verdicts)} wrong")
    for w in wrong_verdicts:
        print(f"    wrong: {w}")
    for what, oks in within.items():
        print(f"  {what} within {TOLERANCE:.0%}: {sum(oks)} of {len(oks)} cells")
    return 0


def pixels_of(c: Case) -> float:
    return float(c.width * c.height * (c.frames or 1))


if __name__ == "__main__":
    sys.exit(main())
