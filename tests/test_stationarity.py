"""Samples that do not come from one distribution: a case that is still warming up, or
one that something slowed down as it ran. The halves of the timed calls are compared;
where they differ, the early half is warmup and timing goes on, and a case that never
settles says so in every place its figure shows."""

from __future__ import annotations

import json
import random

import pytest

from bench.analysis.summary import summary_table
from bench.cli import main
from bench.measure.driver import Backend
from bench.measure.protocol import Protocol, judge, time_calls
from bench.record.figures import Timing
from bench.record.store import open_run
from bench.stats import drift, stationary
from tests.conftest import REFERENCE_H200_DOCS
from tests.doc_helpers import record as doc_record
from tests.doc_helpers import write_run as doc_run
from tests.runs import case, write_run
from tests.test_precision import FakeClock


def jitter(base: float, n: int, seed: int, spread: float = 0.002) -> list[float]:
    rng = random.Random(seed)
    return [base * (1 + rng.uniform(-spread, spread)) for _ in range(n)]


def steps(*parts: tuple[float, int]) -> list[float]:
    """A series of levels: (seconds per call, calls), the last level without end."""
    out: list[float] = []
    for i, (level, n) in enumerate(parts):
        out += jitter(level, n if i < len(parts) - 1 else 100_000, seed=i)
    return out


AUTO = Protocol(repeats=None, precision=0.01, min_repeats=5, min_time=0.5, max_time=60.0, max_repeats=10_000)


# -- the check itself ----------------------------------------------------------------


def test_halves_that_agree_are_stationary_and_halves_that_differ_are_not():
    same = jitter(0.01, 40, seed=1)
    assert stationary(same, 0.01) is True and drift(same) == pytest.approx(1, abs=0.003)
    slower = jitter(0.01, 20, seed=1) + jitter(0.012, 20, seed=2)
    assert stationary(slower, 0.01) is False and drift(slower) == pytest.approx(1.2, rel=0.01)
    # a difference within the precision is not drift, however sure it is
    assert stationary(jitter(0.01, 20, seed=1) + jitter(0.01005, 20, seed=2), 0.01) is True
    # noise that makes the halves' medians differ by chance is not drift either
    rng = random.Random(3)
    noisy = [0.1 * (1 + rng.uniform(-0.3, 0.3)) for _ in range(40)]
    assert stationary(noisy, 0.01) is True
    assert stationary(same[:11], 0.01) is None  # a half of five has no interval


# -- what the stop rule does with them ------------------------------------------------


@pytest.mark.parametrize(
    "levels, settled",
    [(((0.012, 20), (0.010, 0)), 0.010), (((0.010, 20), (0.012, 0)), 0.012)],
    ids=["slow then fast", "fast then slow"],
)
def test_a_step_is_dropped_as_warmup_and_the_later_state_measured(levels, settled):
    clock = FakeClock()
    t = time_calls(clock.call(steps(*levels)), AUTO, clock)
    assert t.discarded, "the first level should have been dropped"
    assert stationary(t.samples, AUTO.precision) is True
    assert sorted(t.samples)[len(t.samples) // 2] == pytest.approx(settled, rel=0.005)
    assert judge(t.samples, AUTO)[1] is True
    # most of the first level went (what stayed is too little to move the median)
    assert len(t.discarded) >= levels[0][1] // 2
    assert sum(abs(s / settled - 1) < 0.01 for s in t.samples) > 0.7 * len(t.samples)


@pytest.mark.parametrize("step", [1.003, 1.002, 0.998])
def test_a_case_that_never_settles_runs_to_its_cap_and_is_flagged(step):
    """Even a slow slide, whose few first calls look precise, is caught."""
    clock = FakeClock()
    ramp = [0.01 * step**i for i in range(100_000)]
    p = Protocol(repeats=None, precision=0.01, min_time=0.0, max_time=3.0, max_repeats=10_000)
    t = time_calls(clock.call(ramp), p, clock)
    assert clock.now >= 3.0  # it ran to max_time
    ci, met = judge(t.samples, p)
    assert met is False and stationary(t.samples, p.precision) is False
    timing = Timing.of(t.samples, p.precision, discarded=len(t.discarded))
    assert timing.drifting and abs(timing.drift - 1) > 0.01 and timing.discarded == len(t.discarded) > 0


def test_a_stationary_case_stops_as_soon_as_it_is_precise():
    clock = FakeClock()
    t = time_calls(clock.call(jitter(0.01, 100_000, seed=4)), AUTO, clock)
    assert t.discarded == [] and 0.5 <= clock.now < 0.52  # min_time, and not a call more


def test_a_fixed_count_is_not_extended_but_its_drift_is_judged():
    clock = FakeClock()
    p = Protocol(repeats=20, precision=0.01)
    t = time_calls(clock.call(steps((0.010, 10), (0.012, 0))), p, clock)
    assert len(t.samples) == 20 and t.discarded == []
    assert judge(t.samples, p)[1] is False  # each half is tight: only the drift fails it


class FakeBackend(Backend):
    """The driver's script with an injected timer: each call returns the next duration."""

    device, metric, warnings = "cpu", "process", []

    def __init__(self, durations, clock):
        self.durations, self.clock = durations, clock

    def timer(self, call):
        return self.clock.call(self.durations)

    def reset(self):
        pass

    def peaks(self):
        return {"process": 1}

    def total(self):
        return 100


def test_the_driver_counts_dropped_calls_as_warmup_and_records_the_drift():
    clock = FakeClock()
    durations = iter([0.5, 0.02, *steps((0.012, 30), (0.010, 0))])
    backend = FakeBackend(durations, clock)
    m = backend.run(lambda: None, Protocol(warmup=2, repeats=None, precision=0.01, min_time=0.5))
    assert m.precision_met is True and m.time.stationary is True
    assert m.time.discarded >= 15 and m.warmup_calls == 2 + m.time.discarded
    slow = min(m.time.discarded, 30)
    assert m.warmup_s == pytest.approx(0.52 + 0.012 * slow + 0.010 * (m.time.discarded - slow), rel=0.01)


# -- how a drifting figure shows ------------------------------------------------------


def drifting(**kw):
    c = case(**kw, samples=jitter(0.10, 20, seed=5) + jitter(0.082, 20, seed=6))
    c.precision_met = False
    return c


def test_a_drifting_case_shows_in_the_summary_tables_and_compare(tmp_path, capsys):
    steady = case(size=1024, samples=jitter(0.09, 40, seed=7))
    base = write_run(tmp_path, "base", [case(samples=jitter(0.09, 40, seed=8)), steady])
    new = write_run(tmp_path, "new", [drifting(), steady], started_at="2026-01-02T00:00:00Z")
    records = open_run(new).records
    assert records[0].drifting and records[0].time.drift == pytest.approx(0.82, rel=0.01)
    assert records[0].interval is None  # a drifting median claims no interval
    assert "drifting: second half x0.82" in summary_table(records)
    assert main(["compare", str(base), str(new)]) in (0, 1)
    assert "new drifting: second half x0.82" in " ".join(capsys.readouterr().out.split())
    assert main(["compare", str(base), str(new), "--format", "json"]) in (0, 1)
    out = json.loads(capsys.readouterr().out)
    drifts = [c["drift"] for c in out["data"]["cases"]]
    assert drifts[0]["new"] == pytest.approx(0.82, rel=0.01) and drifts[1] == {"base": None, "new": None}


def test_docs_update_warns_of_a_drifting_cell(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("dtype: float16\nblocks:\n  - {title: Enc, model: sd-v1, op: encode, style: encode}\n")
    moving = doc_record(tiled=True)
    moving.time = Timing.of(jitter(0.10, 20, seed=5) + jitter(0.082, 20, seed=6))
    run = doc_run(tmp_path, "r", "GPU A", [doc_record(), moving])
    page = tmp_path / "p.md"
    page.write_text("<details><summary>Enc</summary>\n\n| a |\n|---|\n\n</details>\n")
    assert main(["docs", "update", str(page), "--spec", str(spec), str(run)]) == 0
    (line,) = capsys.readouterr().err.splitlines()
    assert "'Enc': GPU A 512x512 tiled: not stationary (drifting: second half x0.82)" in line


def test_records_made_before_the_check_are_judged_from_their_samples():
    """The H200 docs run drifted in places before the check existed: read now, it says so."""
    run = open_run(REFERENCE_H200_DOCS)
    moved = {r.label: r for r in run.records if r.drifting}
    label = "sd-v1 encode 256x256 float16 untiled"
    assert label in moved and moved[label].time.drift == pytest.approx(0.82, abs=0.02)
    assert moved[label].precision_met is True and not moved[label].precise
    assert len(moved) < len(run.records) // 2  # most of that run was steady


def test_a_file_that_says_drifting_without_the_ratio_is_refused(tmp_path):
    with pytest.raises(Exception, match="drift"):
        Timing.from_json({"median": 0.1, "samples": [0.1], "stationary": False})


@pytest.mark.parametrize("seed", range(5))
def test_the_rank_test_agrees_with_scipy(seed):
    from scipy.stats import mannwhitneyu

    from bench.stats import rank_test

    rng = random.Random(seed)
    a = [round(rng.gauss(1, 0.1), 2) for _ in range(rng.randint(6, 40))]  # rounded: ties
    b = [round(rng.gauss(1.05, 0.1), 2) for _ in range(rng.randint(6, 40))]
    want = mannwhitneyu(a, b, alternative="two-sided", method="asymptotic").pvalue
    assert rank_test(a, b) == pytest.approx(want, rel=1e-9)
