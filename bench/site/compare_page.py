"""A comparison's page: each case's verdict in colour with its ratio of medians, the
Mann-Whitney p and its false-discovery q, the memory change, what differs between the
two environments, and the timed calls of both runs for every case that changed.
Presents `bench.analysis.compare` and computes nothing of its own."""

from __future__ import annotations

from collections.abc import Callable

from bench.analysis.compare import IMPROVEMENT, MIB, REGRESSION, TRADE_OFF, VERDICTS, Comparison
from bench.analysis.summary import drift_words
from bench.site.charts import svg
from bench.site.figures import MAX_DISTRIBUTIONS, distributions_chart
from bench.site.html import Cell, esc, items, num, page, table

CHANGED = (REGRESSION, TRADE_OFF, IMPROVEMENT)
COLUMNS = [
    "case",
    "verdict",
    "status",
    "base median (s)",
    "new median (s)",
    "ratio new/base",
    "p",
    "q",
    "time",
    "memory metric",
    "base (MiB)",
    "new (MiB)",
    "change (MiB)",
    "change (%)",
    "why",
]


def _why(d) -> str:
    said = list(d.reasons)
    if d.few_samples:
        said.append("too few calls for the test: the factor alone decided")
    for run, drift in (("base", d.base_drift), ("new", d.new_drift)):
        if drift is not None:
            said.append(f"{run} {drift_words(drift)}")
    for run, why in (("base", d.base_throttled), ("new", d.new_throttled)):
        if why:
            said.append(f"{run} throttled: {why}")
    return "; ".join(said)


def _row(d) -> list:
    test = d.test
    return [
        d.label,
        Cell(d.verdict, VERDICTS.index(d.verdict), d.verdict),
        d.status,
        num(d.base_time, ".4f"),
        num(d.new_time, ".4f"),
        num(d.ratio, ".3f"),
        num(None if test is None else test.p_value, ".2g"),
        num(None if test is None else test.q_value, ".2g"),
        d.time_verdict,
        d.metric,
        num(None if d.base_mem is None else d.base_mem / MIB, ".0f"),
        num(None if d.new_mem is None else d.new_mem / MIB, ".0f"),
        num(None if d.mem_delta is None else d.mem_delta / MIB, "+.0f"),
        num(d.mem_pct, "+.1f"),
        _why(d),
    ]


def _run_link(run, run_href: Callable[[str], str]) -> str:
    return f'<a href="{esc(run_href(run.run_id))}">{esc(run.run_id)}</a> ({esc(run.device_label)})'


def compare_page(c: Comparison, run_href: Callable[[str], str], generated: str) -> str:
    base, new = c.base, c.new
    tally = " ".join(
        f'<span class="{v}" style="padding:2px 6px">{c.count(v)} {esc(v)}</span>' for v in VERDICTS
    )
    body = [
        f"<p>base {_run_link(base, run_href)} against new {_run_link(new, run_href)}</p>",
        f"<p>{tally}</p>",
        f'<p class="muted">A case is slower or faster when its ratio of medians is beyond x{c.factor:.2f} '
        f"({esc(c.factor_source)}) and a Mann-Whitney U test of the timed calls gives q &lt; {c.alpha:g} "
        "(p adjusted over the cases tested together, Benjamini-Hochberg); memory counts beyond the "
        f"larger of {c.mem_floor / MIB:.0f} MiB and {c.mem_fraction * 100:g}% ({esc(c.mem_source)}).</p>",
    ]
    if c.environment:
        rows = [
            [what, "-" if a is None else str(a), "-" if b is None else str(b)] for what, a, b in c.environment
        ]
        body += [
            "<h2>What differs between the environments</h2>",
            table(["what", "base", "new"], rows, False),
        ]
    body += [
        f"<h2>Cases ({len(c.cases)})</h2>",
        table(COLUMNS, [_row(d) for d in c.cases], row_classes=[d.verdict for d in c.cases], id="cases"),
    ]
    base_by = {r.case_id: r for r in base.records}
    new_by = {r.case_id: r for r in new.records}
    changed = [
        (d, base_by[d.case_id], new_by[d.case_id])
        for d in c.cases
        if d.verdict in CHANGED and base_by[d.case_id].samples and new_by[d.case_id].samples
    ]
    changed.sort(key=lambda t: CHANGED.index(t[0].verdict))
    body.append("<h2>Timed calls of the cases that changed</h2>")
    if changed:
        more = len(changed) - MAX_DISTRIBUTIONS
        caption = "each run's timed calls: box from quartile to quartile, median line, a tick per call"
        if more > 0:
            caption += f"; the first {MAX_DISTRIBUTIONS} changed cases (the table lists {more} more)"
        body.append(svg(distributions_chart(changed, base.run_id, new.run_id), "distributions", caption))
    else:
        body.append('<p class="muted">No case with timed calls in both runs changed.</p>')
    for what, records in (("only in the base run", c.only_base), ("only in the new run", c.only_new)):
        if records:
            body += [f"<h3>{len(records)} case(s) {what}</h3>", items(r.label for r in records)]
    return page(f"{new.run_id} against {base.run_id}", "\n".join(body), depth=1, generated=generated)
