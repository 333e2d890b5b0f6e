"""The table printed at the end of a sweep: one row per case, from stored records."""

from __future__ import annotations

import pandas as pd
from tabulate import tabulate

from bench.cases import Case


def summary_table(frame: pd.DataFrame, tablefmt: str = "simple") -> str:
    if frame.empty:
        return "(no cases stored)"
    rows = []
    for rec in frame.to_dict("records"):
        case = Case.from_params(rec)
        ok = rec["status"] == "ok"
        rows.append(
            [
                case.label,
                rec["status"],
                rec.get("time_s.median") if ok else None,
                rec.get("mem.percent") if ok else None,
            ]
        )
    return tabulate(
        rows,
        headers=["case", "status", "median time (s)", "memory (%)"],
        tablefmt=tablefmt,
        floatfmt=(".3f", "", ".4f", ".2f"),
        missingval="-",
    )
