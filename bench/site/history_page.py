"""A (model, op)'s history page: for each device whose runs hold it, each case's median
over the runs with its interval as a band, its memory with the card sizes as lines,
the runs with the versions they were made with, and the figures as a table with the
run where a step change begins (bench.analysis.history)."""

from __future__ import annotations

from collections.abc import Callable

from bench.analysis.history import History, history
from bench.analysis.summary import seconds
from bench.cards import CardSize
from bench.record.store import Run
from bench.site.charts import svg
from bench.site.figures import history_chart
from bench.site.html import Cell, esc, link, page, table
from bench.site.run_page import when


def histories(runs: list[Run], model: str, op: str) -> list[tuple[History, History]]:
    """(time, memory) per device, in the order of the devices' first runs; `runs`
    are those that hold the model and op."""
    out = []
    for device in dict.fromkeys(r.device_label for r in runs):
        mine = [r for r in runs if r.device_label == device]
        root = mine[0].path.parent  # the runs are given: `root` only names where they came from
        out.append(tuple(history(root, model=model, op=op, metric=m, runs=mine) for m in ("time", "memory")))
    return out


def _runs_table(h: History, run_href: Callable[[str], str]) -> str:
    rows = []
    for i, run in enumerate(h.runs):
        env, dev = run.meta.environment, run.meta.device
        rows.append(
            [
                Cell(f"#{i + 1}", i),
                link(run_href(run.run_id), run.run_id),
                when(run.meta.started_at),
                env.get("torch"),
                env.get("diffusers"),
                dev.get("nvml_driver"),
            ]
        )
    headers = ["#", "run", "started (UTC)", "torch", "diffusers", "driver"]
    return table(headers, rows)


def _values_table(time: History, memory: History) -> str:
    rows = []
    peaks = {s.case_id: s for s in memory.series}
    for s in time.series:
        cells: list = [s.setting or s.label]
        for i, (v, st) in enumerate(zip(s.values, s.statuses, strict=True)):
            if st is None:
                cells.append("-")
            elif st != "ok":
                cells.append(Cell(st.upper() if st == "oom" else st, "", "num"))
            else:
                peak = peaks[s.case_id].values[i] if s.case_id in peaks else None
                text = ("n/a" if v is None else seconds(v)) + ("" if peak is None else f" · {peak:.0f} MiB")
                mark = "*" if s.step and s.step.index == i else ""
                cells.append(Cell(mark + text, "" if v is None else v, "num"))
        cells.append(f"at #{s.step.index + 1}: {s.step.change}" if s.step else "-")
        rows.append(cells)
    headers = ["case", *[f"#{i}" for i in range(1, len(time.runs) + 1)], "step (time)"]
    return table(headers, rows)


def history_page(
    runs: list[Run],  # those that hold the model and op
    model: str,
    op: str,
    sizes: list[CardSize],
    run_href: Callable[[str], str],
    generated: str,
) -> str:
    body = [
        '<p class="muted">Each case over the runs of one device, oldest first: the median time per call '
        "with its 95% interval as a band, and the peak of the run's memory metric with a dotted line "
        "per card size of configs/cards.yaml on a GPU's (the card's total, for scale: what fits is the "
        "fit chart's, on each run's page, which adds the CUDA context). In the table, * marks the run "
        "where a step change begins "
        "(beyond the factor against the runs before, and the runs after stay beyond).</p>"
    ]
    for time, memory in histories(runs, model, op):
        device = time.device_label
        records = [{r.case_id: r for r in run.records} for run in time.runs]
        name = f"{device}-{model}-{op}"
        charts = [
            svg(
                history_chart(time, records, sizes),
                f"time-{name}",
                f"{device}: median time per call over runs",
            ),
            svg(history_chart(memory, records, sizes), f"memory-{name}", f"{device}: peak memory over runs"),
        ]
        body += [
            f"<h2>{esc(device)}: {len(time.runs)} run(s)</h2>",
            f'<div class="charts">{"".join(charts)}</div>',
            "<h3>Runs</h3>",
            _runs_table(time, run_href),
            f"<h3>Median time (s) · peak memory (MiB), factor x{time.factor:.2f}</h3>",
            _values_table(time, memory),
        ]
    return page(f"History: {model} {op}", "\n".join(body), depth=1, generated=generated)
