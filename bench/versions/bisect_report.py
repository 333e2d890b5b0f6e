"""What a bisect found, as one JSON-able answer and as text: the first bad candidate
(or the range skipped candidates leave), the regressed cases' figures at the last good
and the first bad one, and every candidate measured."""

from __future__ import annotations

from bench.analysis.compare import MIB
from bench.analysis.summary import seconds
from bench.versions import state
from bench.versions.bisect import REPO, SKIPPED, Bisect


def answer(b: Bisect, why: str | None = None) -> dict:
    """The first bad candidate (or the range skipped candidates leave), with the
    regressed cases' figures at the last good and the first bad one; `why`: why the
    bisect stopped without an answer (the same keys, empty)."""
    measured = [
        {"ref": c.ref, "verdict": c.verdict, "why": c.why, "run": _path(b, i)}
        for i, c in enumerate(b.candidates)
        if c.verdict is not None
    ]
    shape = {"folder": str(b.folder), "why": why, "first_bad": None, "last_good": None}
    shape |= {"first_bad_is_one_of": None, "cases": [], "measured": measured}
    if why is not None:
        return shape
    lo, hi = b.bounds()
    between = [b.candidates[i].ref for i in range(lo + 1, hi)]
    good_run, bad_run = b.run(lo), b.run(hi)
    for case_id in dict.fromkeys(c for c, _ in b.signature or []):
        good = next((r for r in good_run.records if r.case_id == case_id), None)
        bad = next((r for r in bad_run.records if r.case_id == case_id), None)
        if good is None or bad is None:
            continue
        shape["cases"].append(
            {
                "case": good.label,
                "aspects": [a for c, a in b.signature or [] if c == case_id],
                "good": {"status": good.status, "median_s": good.median, "peak_bytes": good.peak},
                "bad": {"status": bad.status, "median_s": bad.median, "peak_bytes": bad.peak},
            }
        )
    shape["last_good"] = b.candidates[lo].ref
    if between:
        shape["first_bad_is_one_of"] = [*between, b.candidates[hi].ref]
    else:
        shape["first_bad"] = b.candidates[hi].ref
    return shape


def _path(b: Bisect, i: int) -> str | None:
    path = state.run_of(b.folder, i, b.candidates[i].run) if b.candidates[i].run else None
    return None if path is None else str(path)


def render(b: Bisect, answer: dict) -> str:
    def figures(side: dict) -> str:
        if side["status"] != "ok":
            return side["status"]
        time = seconds(side["median_s"]) + " s" if side["median_s"] is not None else "n/a"
        mem = f"{side['peak_bytes'] / MIB:.0f} MiB" if side["peak_bytes"] is not None else "n/a"
        return f"{time}, {mem}"

    name = (lambda ref: ref) if b.mode == REPO else (lambda ref: f"{b.source} {ref}")
    lines = []
    if answer["first_bad"] is not None:
        lines.append(f"first bad: {name(answer['first_bad'])}")
    else:
        lines.append("first bad: one of " + ", ".join(name(r) for r in answer["first_bad_is_one_of"]))
        lines.append("(the candidates between were skipped, so the answer is a range)")
    lines.append(f"last good: {name(answer['last_good'])}")
    for case in answer["cases"]:
        lines.append(
            f"  {case['case']} ({', '.join(case['aspects'])}): "
            f"{figures(case['good'])} -> {figures(case['bad'])}"
        )
    for m in answer["measured"]:
        if m["verdict"] == SKIPPED:
            lines.append(f"skipped: {name(m['ref'])}: {m['why']}")
    steps = sum(1 for m in answer["measured"] if m["verdict"] != SKIPPED)
    lines.append(f"{steps} candidate(s) measured; their runs are in {b.folder / state.RUNS}")
    return "\n".join(lines)
