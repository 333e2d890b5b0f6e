"""How well one GPU run predicts other cards: the shipped H200 docs run
(configs/docs.yaml: SD v1 in float16, SDXL in float32, as the published tables were
made) projected onto the cards of the published pages (overview, vae_decode and
vae_encode, each cell once), cell by cell, against what those cards published.

For each published cell: the projected Memory (%) (the reserved peak, capped at the
card) beside the published one, and the OOM verdict (a case fits when its allocated
peak and the CUDA context fit the card; bench.docs.projected states the rule) beside
the published status. Then the same verdicts with the default headroom: what the
margin costs in published fits called OOM.

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

from bench.analysis.fit import DEFAULT_HEADROOM, model_run, parse_headroom  # noqa: E402
from bench.cards import load_cards  # noqa: E402
from bench.docs.projected import project_pages  # noqa: E402
from bench.docs.spec import load_spec  # noqa: E402
from bench.record.store import open_run  # noqa: E402
from bench.shipped import DOCS_RUN  # noqa: E402

DOCS = ROOT / "tests" / "fixtures" / "docs"
PAGES = (
    ("overview.en.md", "hybrid-inference"),
    ("vae_decode.en.md", "vae-decode"),
    ("vae_encode.en.md", "vae-encode"),
)
TOLERANCE, NEAR = 0.10, 90.0


def main() -> int:
    rm = model_run(open_run(DOCS_RUN.path))
    cards = load_cards()
    pages = [(DOCS / page, load_spec(spec)) for page, spec in PAGES]
    cells = project_pages(rm, pages, cards)
    rows, near, within = [], [], {}
    for c in cells:
        published = "OOM" if c.published_status == "oom" else f"{c.published_percent:.2f}%"
        diff = None if c.percent is None or not c.published_percent else c.percent / c.published_percent - 1
        row = [c.device, c.label, published, c.percent, diff, "fits" if c.fits else "OOM"]
        (near if c.percent is not None and c.percent >= NEAR else rows).append(row)
        if " decode " in c.label and diff is not None and (c.percent or 0) < NEAR:
            model = c.label.split()[0]
            within.setdefault(f"{model} decode", []).append(abs(diff) <= TOLERANCE)
    print(f"projected from {DOCS_RUN.run_id} ({rm.context_note})\n")
    print(f"{'card':<30} {'case':<38} {'published':>9} {'projected':>9} {'diff':>7}  verdict")
    for device, label, published, pct, diff, word in rows:
        shown = "-" if pct is None else f"{pct:.2f}%"
        d = "-" if diff is None else f"{diff * 100:+.1f}%"
        print(f"{device:<30} {label:<38} {published:>9} {shown:>9} {d:>7}  {word}")
    print(f"\nabove {NEAR:.0f}% of the card (not held to the tolerance):")
    for device, label, published, pct, _, word in near:
        print(f"  {device:<30} {label:<38} published {published:>9}, projected {pct:.2f}%  {word}")
    wrong = [c for c in cells if not c.right]
    print(f"\ntargets ({len(cells)} published cells of {len(PAGES)} pages, each once):")
    print(f"  OOM verdicts: {len(cells) - len(wrong)} right, {len(wrong)} wrong")
    for c in wrong:
        print(
            f"    wrong: {c.device} {c.label}: published {c.published_status}, "
            f"projected {'fits' if c.fits else 'OOM'}"
        )
    for what, oks in within.items():
        print(f"  {what} within {TOLERANCE:.0%}: {sum(oks)} of {len(oks)} cells")
    safe = project_pages(rm, pages, cards, parse_headroom(DEFAULT_HEADROOM))
    missed = sum(c.published_status == "oom" and c.fits is not False for c in safe)
    cautious = sum(c.published_status == "ok" and c.fits is False for c in safe)
    print(
        f"  with the default headroom ({DEFAULT_HEADROOM}): {missed} published OOM called fits, "
        f"{cautious} published fits called OOM (the margin's cost)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
