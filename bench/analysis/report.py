"""A comparison of two runs as text: a terminal table, markdown for a pull request,
or JSON for a machine. Presents `bench.analysis.compare` results and computes nothing new."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

from tabulate import tabulate

from bench.analysis.compare import (
    IMPROVEMENT,
    MIB,
    REGRESSION,
    TRADE_OFF,
    UNCHANGED,
    UNTESTED,
    VERDICTS,
    CaseDiff,
    Comparison,
)
from bench.analysis.summary import SECONDS, drift_words
from bench.record.envelope import envelope
from bench.record.run import CaseRecord
from bench.record.store import Run

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("text", "md", "json")
_ORDER = {REGRESSION: 0, TRADE_OFF: 1, IMPROVEMENT: 2, UNTESTED: 3, UNCHANGED: 4}
# The terminal table fits this many columns: long case labels and verdicts wrap.
TEXT_WIDTH = 120
VERDICT_WIDTH, MIN_CASE_WIDTH = 30, 24
TEXT_HEADERS = ["case", "time (s)", "ratio", "memory (MiB)", "verdict"]
HEADERS = [
    "case",
    "status",
    "base (s)",
    "new (s)",
    "ratio",
    "test",
    "base (MiB)",
    "new (MiB)",
    "change (MiB)",
    "change (%)",
    "verdict",
]


def render(comparison: Comparison, fmt: str = "text", only_changed: bool = False) -> str:
    """The comparison in `fmt`; with `only_changed`, the table leaves out the unchanged
    cases (the counts still cover every case)."""
    if fmt == "json":
        return envelope("compare", as_dict(comparison))
    if fmt == "md":
        return _markdown(comparison, only_changed)
    return _text(comparison, only_changed)


def _value(v: Any) -> str:
    return "-" if v is None or v == "" else str(v)


def _what(d: CaseDiff) -> str:
    """What happened to one case, in a few words."""
    if d.base_status != d.new_status:
        return d.status
    parts = []
    if d.time_verdict in ("slower", "faster"):
        parts.append(d.time_verdict)
    if d.memory_verdict in ("more", "less"):
        parts.append(f"{d.memory_verdict} memory")
    for run, why in (("base", d.base_throttled), ("new", d.new_throttled)):
        if why:
            parts.append(f"{run} throttled: {why}")
    for run, drift in (("base", d.base_drift), ("new", d.new_drift)):
        if drift is not None:
            parts.append(f"{run} {drift_words(drift)}")
    return ", ".join(parts) or "-"


def _test(d: CaseDiff) -> str | None:
    if d.test is None:
        return None
    return d.test.note if d.test.testable else f"few samples ({d.test.n_base}/{d.test.n_new})"


def _mib(n: int | None) -> float | None:
    return None if n is None else n / MIB


def _ordered(comparison: Comparison, only_changed: bool = False) -> list[CaseDiff]:
    """Regressions first, then trade-offs, improvements, untested, unchanged."""
    cases = sorted(enumerate(comparison.cases), key=lambda ic: (_ORDER.get(ic[1].verdict, 9), ic[0]))
    return [d for _, d in cases if not (only_changed and d.verdict == UNCHANGED)]


def _verdict(d: CaseDiff) -> str:
    what = _what(d)
    return d.verdict if what == "-" else f"{d.verdict}: {what}"


def rows(comparison: Comparison, only_changed: bool = False) -> list[list[Any]]:
    """One row per case in both runs, in _ordered's order."""
    out = []
    for d in _ordered(comparison, only_changed):
        out.append(
            [
                d.label,
                d.status,
                d.base_time,
                d.new_time,
                None if d.ratio is None else f"x{d.ratio:.3f}",
                _test(d),
                _mib(d.base_mem),
                _mib(d.new_mem),
                _mib(d.mem_delta),
                d.mem_pct,
                _verdict(d),
            ]
        )
    return out


def _pair(base: str | None, new: str | None) -> str | None:
    if base is None and new is None:
        return None
    return f"{base or '-'} -> {new or '-'}"


def _text_rows(comparison: Comparison, only_changed: bool) -> list[list[Any]]:
    """The terminal's narrower table, as text: base -> new in one column each for time
    and memory; the status shows in the verdict where it changed; the significance
    test and the change in percent are in markdown and JSON."""
    out = []
    for d in _ordered(comparison, only_changed):
        time = _pair(*(None if t is None else format(t, SECONDS) for t in (d.base_time, d.new_time)))
        mem = _pair(*(None if m is None else f"{m / MIB:.0f}" for m in (d.base_mem, d.new_mem)))
        if mem is not None and d.mem_delta is not None:
            mem += f" ({d.mem_delta / MIB:+.0f})"
        ratio = None if d.ratio is None else f"x{d.ratio:.2f}"
        out.append([d.label, time, ratio, mem, _verdict(d)])
    return out


def as_frame(comparison: Comparison) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(rows(comparison), columns=HEADERS)


def _text_table(comparison: Comparison, only_changed: bool) -> str:
    """Within TEXT_WIDTH: the figures' columns as wide as they need, the verdict up to
    VERDICT_WIDTH, and the case label the rest (wrapped where longer)."""
    body = _text_rows(comparison, only_changed)
    if not body:
        return "(every case unchanged)"
    # tabulate pads a column to its header plus two, and puts two spaces between columns
    widths = [max(len(h) + 2, *(len(r[i] or "-") for r in body)) for i, h in enumerate(TEXT_HEADERS)]
    verdict = min(widths[-1], VERDICT_WIDTH)
    case = max(MIN_CASE_WIDTH, TEXT_WIDTH - sum(widths[1:-1]) - verdict - 2 * (len(widths) - 1))
    return tabulate(
        body,
        headers=TEXT_HEADERS,
        tablefmt="simple",
        missingval="-",
        disable_numparse=True,
        colalign=("left", "right", "right", "right", "left"),
        maxcolwidths=[case, None, None, None, verdict],
    )


def _table(comparison: Comparison, tablefmt: str, only_changed: bool = False) -> str:
    return tabulate(
        rows(comparison, only_changed),
        headers=HEADERS,
        tablefmt=tablefmt,
        floatfmt=("", "", SECONDS, SECONDS, "", "", ".1f", ".1f", "+.1f", "+.1f", ""),
        missingval="-",
    )


def _header_lines(c: Comparison) -> list[str]:
    lines = [
        f"base: {_run_line(c.base)}",
        f"new:  {_run_line(c.new)}",
    ]
    if c.environment:
        lines.append(
            "environment differs: "
            + "; ".join(f"{w} {_value(a)} -> {_value(b)}" for w, a, b in c.environment)
        )
    else:
        lines.append("environment: same device, driver, torch, diffusers and cuDNN")
    for which, run in (("base", c.base), ("new", c.new)):
        if run.meta.busy:
            lines.append(f"warning: the {which} run was {run.meta.busy}")
    test = (
        f"a Mann-Whitney U test gives q < {c.alpha:g} (its p-value adjusted over the {c.tested} "
        "case(s) tested, Benjamini-Hochberg)"
        if c.tested
        else "a Mann-Whitney U test agrees, where a case has samples enough for one (none here)"
    )
    lines.append(
        f"time: flagged when the ratio of medians is beyond x{c.factor:.2f} ({c.factor_source}) and {test}"
    )
    lines.append(
        f"memory: flagged beyond the larger of {c.mem_floor / MIB:.0f} MiB and "
        f"{c.mem_fraction * 100:g}% of the base peak ({c.mem_source})"
    )
    return lines


def _footer_lines(c: Comparison) -> list[str]:
    lines = []
    for where, only in (("base", c.only_base), ("new", c.only_new)):
        if only:
            lines.append(f"only in {where} ({len(only)}, not compared):")
            lines.extend(f"  {o.label} [{o.status}]" for o in only)
    if c.few_samples:
        lines.append(
            f"too few samples for a significance test in {len(c.few_samples)} case(s): "
            f"judged by the factor x{c.factor:.2f} alone"
        )
    lines.append(summary(c))
    return lines


def summary(c: Comparison) -> str:
    """`REGRESSION: 2 regression, 1 trade-off, ...` over every case in both runs."""
    counts = ", ".join(f"{c.count(v)} {v}" for v in VERDICTS)
    head = "REGRESSION" if c.regressions else ("TRADE-OFF" if c.trade_offs else "no regression")
    return f"{head}: {counts} of {len(c.cases)} cases in both runs"


def _text(c: Comparison, only_changed: bool = False) -> str:
    # the whole report fits a 120-column terminal: long header lines wrap, indented
    head = [
        wrapped
        for line in _header_lines(c)
        for wrapped in textwrap.wrap(line, TEXT_WIDTH, subsequent_indent="  ", break_on_hyphens=False)
    ]
    return "\n".join([*head, "", _text_table(c, only_changed), "", *_footer_lines(c)])


def _markdown(c: Comparison, only_changed: bool = False) -> str:
    out = [f"### vae-bench compare: {summary(c)}", ""]
    out += [f"- {line.replace(':  ', ': ')}" for line in _header_lines(c)]
    out += ["", _table(c, "pipe", only_changed), ""]
    for line in _footer_lines(c)[:-1]:
        out.append(f"- {line.strip()}" if not line.startswith("  ") else f"  - {line.strip()}")
    return "\n".join(out).rstrip() + "\n"


def _case_dict(d: CaseDiff) -> dict:
    return {
        "case_id": d.case_id,
        "case": d.label,
        "verdict": d.verdict,
        "base_status": d.base_status,
        "new_status": d.new_status,
        "time": {
            "base_median_s": d.base_time,
            "new_median_s": d.new_time,
            "ratio": d.ratio,
            "tested": None if d.test is None else d.test.testable,
            "p_value": None if d.test is None else d.test.p_value,
            "q_value": None if d.test is None else d.test.q_value,
            "change": d.time_verdict,
        },
        "memory": {
            "metric": d.metric,
            "base_bytes": d.base_mem,
            "new_bytes": d.new_mem,
            "change_bytes": d.mem_delta,
            "change_percent": d.mem_pct,
            "change": d.memory_verdict,
        },
        "reasons": d.reasons,
        "throttled": {"base": d.base_throttled, "new": d.new_throttled},
        "drift": {"base": d.base_drift, "new": d.new_drift},
    }


def as_dict(c: Comparison) -> dict:
    return {
        "base": _run_dict(c.base),
        "new": _run_dict(c.new),
        "environment_differences": [{"what": w, "base": a, "new": b} for w, a, b in c.environment],
        "factor": c.factor,
        "factor_source": c.factor_source,
        "alpha": c.alpha,
        "memory_threshold": {"floor_bytes": c.mem_floor, "fraction": c.mem_fraction, "source": c.mem_source},
        "regressed": c.regressed,
        "counts": {
            **{verdict: c.count(verdict) for verdict in VERDICTS},
            "cases": len(c.cases),
            "few_samples": len(c.few_samples),
            "only_in_base": len(c.only_base),
            "only_in_new": len(c.only_new),
        },
        "cases": [_case_dict(d) for d in c.cases],
        "only_in_base": [_brief(r) for r in c.only_base],
        "only_in_new": [_brief(r) for r in c.only_new],
    }


def _run_line(run: Run) -> str:
    named = (
        run.device_name if run.device_label == run.device_name else f"{run.device_label}: {run.device_name}"
    )
    return f"{run.run_id} ({named}, {run.device_kind}, started {_value(run.meta.started_at)})"


def _run_dict(run: Run) -> dict:
    return {
        "path": str(run.path),
        "run_id": run.run_id,
        "device": run.device_kind,
        "device_name": run.device_name,
        "device_label": run.device_label,
        "started_at": run.meta.started_at,
    }


def _brief(record: CaseRecord) -> dict:
    return {"case_id": record.case_id, "label": record.label, "status": record.status}
