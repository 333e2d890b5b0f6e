"""Live progress of a sweep on stderr: a bar with case i/N, the case and an ETA on a
terminal; one line per finished case when stderr is a log file or a pipe."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

from bench.record.case import Case
from bench.record.run import CaseRecord


def outcome_text(record: CaseRecord) -> str:
    if not record.ok:
        return f"{record.status}: {record.error}" if record.error else record.status
    pct = record.percent
    mem = f", memory {pct:.2f}%" if pct is not None else ""
    return f"ok, median {record.median:.3f} s{mem}"


class Progress:
    def __init__(self, total: int, done: int, stream=None):
        self.stream = stream or sys.stderr
        self.total = total
        self.count = done
        self.t0 = time.monotonic()
        self.finished_here = 0
        self.bar = None
        if self.stream.isatty():
            self.bar = tqdm(
                total=total,
                initial=done,
                unit="case",
                file=self.stream,
                dynamic_ncols=True,
                bar_format="{n_fmt}/{total_fmt} {desc} |{bar}| [{elapsed}<{remaining}]",
            )

    def __call__(self, event: str, case: Case, record: CaseRecord | None, tag: str | None = None) -> None:
        label = f"{tag} {case.label}" if tag else case.label  # tag: the GPU, when several run at once
        if event == "start":
            if self.bar is not None:
                self.bar.set_description_str(label)
            return
        self.count += 1
        self.finished_here += 1
        if self.bar is not None:
            if not record.ok:
                self.bar.write(f"{label}: {outcome_text(record)}", file=self.stream)
            self.bar.update(1)
            return
        per_case = (time.monotonic() - self.t0) / self.finished_here
        eta = per_case * (self.total - self.count)
        print(
            f"[{self.count}/{self.total}] {label}: {outcome_text(record)} (ETA {_clock(eta)})",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
