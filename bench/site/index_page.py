"""The site's index: every run, newest first, with what it is and what to doubt about
it, each linking to its page; the comparisons; and the history of each device at a
glance, with a page per model and op."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from bench.analysis.compare import VERDICTS, Comparison
from bench.analysis.history import history
from bench.record.store import Run, oldest_first
from bench.site.charts import svg
from bench.site.figures import overview_chart
from bench.site.html import Cell, esc, link, num, page, table
from bench.site.run_page import doubts, when

RUN_COLUMNS = [
    "run",
    "label",
    "device",
    "started (UTC)",
    "torch",
    "diffusers",
    "status",
    "ok",
    "error",
    "OOM",
    "skipped",
    "warnings",
]


@dataclass(frozen=True)
class Links:
    """Where the pages of the site are, relative to its root."""

    run: Callable[[str], str]  # by run id
    compare: list[tuple[Comparison, str]]
    history: list[tuple[str, str, str]]  # model, op, page


def _run_row(run: Run, href: str) -> list:
    by = Counter(r.status for r in run.records)
    env = run.meta.environment
    warned = doubts(run, brief=True)
    return [
        link(href, run.run_id),
        run.device_label,
        run.device_name,
        when(run.meta.started_at),
        env.get("torch"),
        env.get("diffusers"),
        run.meta.status,
        num(by["ok"], "d"),
        num(by["error"], "d"),
        num(by["oom"], "d"),
        num(by["skipped"], "d"),
        Cell("; ".join(warned) or "-", len(warned), "warn" if warned else ""),
    ]


def _compare_row(c: Comparison, href: str) -> list:
    return [
        link(href, f"{c.new.run_id} against {c.base.run_id}"),
        c.new.device_label,
        *[Cell(str(c.count(v)), c.count(v), f"num {v}" if c.count(v) else "num") for v in VERDICTS],
    ]


def index_page(runs: list[Run], links: Links, generated: str) -> str:
    newest = oldest_first(runs)[::-1]
    devices = list(dict.fromkeys(r.device_label for r in newest))
    body = [
        f"<p>{len(runs)} run(s) of {len(devices)} device(s).</p>",
        "<h2>Runs, newest first</h2>",
        table(RUN_COLUMNS, [_run_row(r, links.run(r.run_id)) for r in newest], id="runs"),
    ]
    if links.compare:
        body += [
            "<h2>Comparisons</h2>",
            table(["comparison", "device", *VERDICTS], [_compare_row(c, href) for c, href in links.compare]),
        ]
    body.append("<h2>History</h2>")
    charts = []
    for device in devices:
        mine = [r for r in runs if r.device_label == device]
        if len(mine) > 1:
            h = history(mine[0].path.parent, metric="time", runs=mine)  # `root` only names them
            caption = f"{device}: each case's median time over its first run's, run by run"
            charts.append(svg(overview_chart(h), f"overview-{device}", caption))
    if charts:
        body.append(f'<div class="charts">{"".join(charts)}</div>')
    else:
        body.append('<p class="muted">Every device here has one run: no history yet.</p>')
    if links.history:
        pages = "".join(
            f'<li><a href="{esc(href)}">{esc(model)} {esc(op)}</a></li>' for model, op, href in links.history
        )
        body.append(f"<h3>By model and op</h3><ul>{pages}</ul>")
    return page("vae-bench report", "\n".join(body), depth=0, generated=generated)
