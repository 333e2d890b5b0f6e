"""The tables a sweep prints: its plan (a dry run) and, at the end, one row per stored
case with its median, how precise that median is, and anything that makes it less
trustworthy (an interval wider than asked for, a GPU held back by its clocks); and
where a sweep's time went."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tabulate import tabulate

from bench.record.case import Case
from bench.record.run import CaseRecord

# Every terminal report prints a median time so: summary, compare and history.
SECONDS = ".4f"


def seconds(value: float) -> str:
    return format(value, SECONDS)


def spread(record: CaseRecord) -> str | None:
    """`±0.6%`: the 95% interval's larger half-width, as a share of the median."""
    half, median = record.half_width, record.median
    return None if half is None or not median else f"±{half / median * 100:.1f}%"


def drift_words(drift: float) -> str:
    """`drifting: second half x0.82`: the timed calls' halves, as a note says it."""
    return f"drifting: second half x{drift:.2f}"


ERROR_NOTE = 60  # characters of an error's first line in the notes column


def notes(record: CaseRecord) -> str:
    said = []
    if record.ok and record.precision_met is False:
        said.append("precision not met")
    if record.drifting:
        said.append(drift_words(record.time.drift))
    if record.throttled:
        said.append(f"throttled: {record.throttled}")
    if record.status == "error":
        # why, in brief: the whole message stays in cases.jsonl
        why = (record.error or "").strip().splitlines()
        if why:
            said.append(why[0] if len(why[0]) <= ERROR_NOTE else why[0][: ERROR_NOTE - 3] + "...")
    if not record.ok and record.error_phase:
        said.append(f"in the {record.error_phase.replace('_', ' ')}")
    return "; ".join(said)


def psnr(record: CaseRecord) -> str | None:
    """`38.2 dB`, `same` (identical to its reference), or why there is no figure."""
    q = record.quality
    if q is None or not record.ok:
        return None
    if q.psnr_db is not None:
        return f"{q.psnr_db:.1f} dB"
    if q.max_abs == 0:
        return "same"
    return q.note


def quality_caveat(records: Sequence[CaseRecord]) -> str | None:
    """What the PSNR column means, and, where the weights were random, what it does not."""
    measured = [r for r in records if r.quality is not None]
    if not measured:
        return None
    # each model's references, in the order the cases ran
    refs = list(
        dict.fromkeys(
            f"{r.case.model}: {r.quality.reference}" for r in measured if r.quality.reference != "itself"
        )
    )
    text = (
        f"PSNR: each output against its reference ({'; '.join(refs) or 'the case itself'}): decoded "
        "pixels over [-1, 1], encoded latents over the reference latent's range; `same` is identical."
    )
    random = sorted({r.case.model for r in measured if r.weights == "random"})
    if random:
        text += (
            f" {', '.join(random)} ran with random weights: the figures show tiling seams and numeric "
            "drift, not what a person would see in an image."
        )
    return text


def summary_table(records: Sequence[CaseRecord], tablefmt: str = "simple") -> str:
    """One row per case; a PSNR column, and what it means, where the sweep measured quality."""
    if not records:
        return "(no cases stored)"
    with_quality = any(r.quality is not None for r in records)
    rows = [
        [
            r.label,
            r.status,
            r.median,
            spread(r),
            r.time.calls if r.ok and r.time else None,
            r.percent,
            *([psnr(r)] if with_quality else []),
            notes(r),
        ]
        for r in records
    ]
    headers = ["case", "status", "median time (s)", "95% interval", "calls", "memory (%)"]
    floatfmt = ["", "", SECONDS, "", "", ".2f"]
    if with_quality:
        headers.append("PSNR")
        floatfmt.append("")
    table = tabulate(
        rows,
        headers=[*headers, "notes"],
        tablefmt=tablefmt,
        floatfmt=(*floatfmt, ""),
        missingval="-",
    )
    caveat = quality_caveat(records)
    return f"{table}\n\n{caveat}" if caveat else table


def plan_table(cases: Sequence[Case], stored: Iterable[str] = ()) -> str:
    """The cases a sweep would run, each marked stored (in the run it resumes) or not."""
    stored = set(stored)
    rows = [
        [i, c.case_id, c.label, "stored" if c.case_id in stored else "to run"] for i, c in enumerate(cases, 1)
    ]
    return tabulate(rows, headers=["#", "case_id", "case", "state"])


# The parts of a time line, in the order a sweep goes through them; a part a run
# did not record (older runs, a sweep without `quality`) is left out.
TIME_PARTS = [
    ("startup", "startup_s"),
    ("plan", "plan_s"),
    ("worker start", "worker_start_s"),
    ("model builds", "model_build_s"),
    ("calls", "calls_s"),
    ("between calls", "between_calls_s"),
    ("case setup", "setup_s"),
    ("quality", "quality_s"),
    ("to and from workers", "transfer_s"),
    ("records", "records_s"),
    ("worker stops", "worker_stop_s"),
    ("meta.json and load", "bookkeeping_s"),
    ("reports", "reports_s"),
    ("other", "other_s"),
]


def time_line(spent: dict, around: dict | None = None) -> str:
    """`time: 92.7 s wall: calls 52.8 s (57%; first calls 1.2 s, warmup 3.1 s), ...`: where a sweep's wall
    time went; with `around` (bench.sweep.timeline.around), the whole command's."""
    spent = dict(spent)
    wall = spent["wall_s"]
    if around is not None:
        wall = around["command_wall_s"]
        spent.update((k, v) for k, v in around.items() if k != "command_wall_s")
        named = [k for _, k in TIME_PARTS if k in spent and k != "other_s"]
        spent["other_s"] = wall - sum(spent[k] for k in named)

    def share(name: str, key: str) -> str:
        text = f"{name} {spent[key]:.1f} s"
        extra = [f"{spent[key] / wall * 100:.0f}%"] if wall else []
        if key == "calls_s" and "warmup_s" in spent and "first_calls_s" in spent:
            extra.append(f"first calls {spent['first_calls_s']:.1f} s, warmup {spent['warmup_s']:.1f} s")
        return f"{text} ({'; '.join(extra)})" if extra else text

    shares = ", ".join(share(name, key) for name, key in TIME_PARTS if key in spent)
    return f"time: {wall:.1f} s wall: {shares}"
