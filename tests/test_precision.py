"""Figures you can publish: the interval of each median, the rules that decide how
long to warm up and how many calls to time, the first call's memory apart, where a
sweep's time goes, and how all of it shows (summary, tables.md, docs update)."""

from __future__ import annotations

import json
import random
import shutil

import pytest
from scipy.stats import binom

from bench.analysis.summary import summary_table
from bench.cli import main
from bench.docs.check import check_lines
from bench.docs.labels import label_set
from bench.docs.styles import Cell, Row, render
from bench.docs.tables import TABLES_MD, write_run_tables
from bench.measure.protocol import Protocol, judge, time_calls, warm_up
from bench.record.figures import Clocks, Timing
from bench.record.store import open_run
from bench.stats import median_interval
from tests.cli_helpers import only_run
from tests.conftest import REFERENCE
from tests.doc_helpers import record as doc_record
from tests.doc_helpers import write_run as doc_run
from tests.runs import case, noisy, write_run


class FakeClock:
    """Time that moves only when a fake call says it took so long."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def call(self, durations):
        durations = iter(durations)

        def one() -> float:
            d = next(durations)
            self.now += d
            return d

        return one


# -- the interval of the median ----------------------------------------------------------


@pytest.mark.parametrize("n", [1, 5, 6, 7, 10, 11, 30, 99, 300])
def test_the_interval_is_the_order_statistics_one_binom_gives(n):
    xs = [random.Random(n).random() for _ in range(n)]
    # independently: the largest j with P(X <= j - 1) <= 2.5%, X ~ Binomial(n, 1/2)
    js = [j for j in range(1, n // 2 + 1) if binom.cdf(j - 1, n, 0.5) <= 0.025]
    ci = median_interval(xs)
    if not js:
        assert ci is None  # below 6 samples no interval covers 95%
    else:
        j, s = max(js), sorted(xs)
        assert ci == (s[j - 1], s[n - j])
        assert 1 - 2 * binom.cdf(j - 1, n, 0.5) >= 0.95


def test_timing_of_samples_keeps_the_interval_and_the_calls():
    t = Timing.of([0.10, 0.11, 0.09, 0.10, 0.12, 0.10, 0.08])
    assert (t.ci_low, t.ci_high, t.calls) == (0.08, 0.12, 7)
    assert t.half_width == pytest.approx(0.02)


# -- when to stop ------------------------------------------------------------------------


def test_quiet_calls_stop_at_the_minimums():
    clock = FakeClock()
    p = Protocol(repeats=None, min_repeats=5, min_time=0.0, precision=0.01)
    samples = time_calls(clock.call([0.01] * 1000), p, clock).samples
    assert len(samples) == 16  # the fewest whose halves a rank test can tell apart
    assert judge(samples, p) == ((0.01, 0.01), True)


def test_the_minimum_time_holds_a_quiet_case_longer():
    clock = FakeClock()
    p = Protocol(repeats=None, min_repeats=5, min_time=1.0)
    samples = time_calls(clock.call([0.05] * 1000), p, clock).samples
    assert len(samples) == 20 and sum(samples) == pytest.approx(1.0)


def test_noisy_calls_run_to_the_cap_and_say_so():
    rng = random.Random(0)
    noise = [0.1 * (1 + rng.uniform(-0.5, 0.5)) for _ in range(1000)]
    clock = FakeClock()
    p = Protocol(repeats=None, max_repeats=40, max_time=1e9)
    samples = time_calls(clock.call(noise), p, clock).samples
    assert len(samples) == 40 and judge(samples, p)[1] is False
    clock = FakeClock()
    p = Protocol(repeats=None, max_repeats=1000, max_time=2.0)
    samples = time_calls(clock.call(noise), p, clock).samples
    assert sum(samples[:-1]) < 2.0 <= sum(samples)  # stopped by the time cap
    ci, met = judge(samples, p)
    assert ci is not None and not met


def test_a_fixed_count_is_kept_and_its_precision_still_judged():
    clock = FakeClock()
    p = Protocol(repeats=3)
    samples = time_calls(clock.call([0.01] * 10), p, clock).samples
    assert len(samples) == 3 and judge(samples, p) == (None, False)


# -- warmup ----------------------------------------------------------------------------


def test_warmup_lasts_its_calls_and_its_time():
    clock = FakeClock()
    calls, seconds, settled = warm_up(
        clock.call([0.03] * 100), Protocol(warmup=2, warmup_time=0.2), 0.03, clock=clock
    )
    assert seconds >= 0.2 and calls == 7 and settled is None
    clock = FakeClock()
    calls, seconds, _ = warm_up(
        clock.call([0.5] * 100), Protocol(warmup=3, warmup_time=0.2), 0.5, clock=clock
    )
    assert calls == 3 and seconds == pytest.approx(1.5)


def test_warmup_waits_for_the_clock_within_its_cap():
    clock = FakeClock()
    answers = iter([False, False, False, True])
    calls, _, settled = warm_up(
        clock.call([0.01] * 100), Protocol(warmup=1, warmup_time=0.0), 0.01, lambda: next(answers), clock
    )
    assert settled is True and calls == 4
    clock = FakeClock()
    calls, seconds, settled = warm_up(
        clock.call([0.01] * 1000), Protocol(warmup_time=0.0, clock_cap=0.5), 0.01, lambda: False, clock
    )
    assert settled is False and seconds == pytest.approx(0.51)


# -- the first call's memory -------------------------------------------------------------


def test_the_first_call_peak_is_kept_apart():
    import torch

    from bench.measure.cpu import CpuBackend

    mib = 1024**2
    sizes = iter([256 * mib] + [16 * mib] * 100)

    def call():
        return torch.ones(next(sizes) // 4).sum()

    backend = CpuBackend()
    backend.baseline()
    m = backend.run(call, Protocol(warmup=1, repeats=3))
    assert m.mem.first_call_process == pytest.approx(256 * mib, rel=0.15)
    assert m.mem.process_peak < 64 * mib
    assert m.warmup_calls == 1 and m.time.calls == 3


# -- how it shows -------------------------------------------------------------------------


def hot_case(**kw):
    c = case(**kw)
    c.clocks = Clocks(sm_mhz_min=1200, sm_mhz_median=1500.0, throttle=("sw_power_cap",))
    return c


def test_throttle_and_precision_show_in_the_summary_and_tables_md(tmp_path):
    loose = case(size=1024, samples=noisy(0.2, 0.2))
    loose.precision_met = False
    run = write_run(tmp_path, "r", [hot_case(), loose, case(size=2048)])
    table = summary_table(open_run(run).records)
    assert "throttled: power cap" in table and "precision not met" in table
    assert "±" in table and "calls" in table
    text = write_run_tables(run).read_text()
    assert "## Every case" in text and "throttled: power cap" in text


def test_an_error_says_why_in_brief_in_the_summary():
    died = case(status="error")
    died.error = "worker died: killed by SIGKILL"  # no phase: the worker was gone
    long = case(size=1024, status="error")
    long.error, long.error_phase = "RuntimeError: " + "x" * 200 + "\nTraceback ...", "first_call"
    table = summary_table([died, long])
    assert "worker died: killed by SIGKILL" in table
    assert "RuntimeError: xxx" in table and "...; in the first call" in table and "Traceback" not in table


def test_identical_work_within_precision_prints_no_change():
    labels = label_set("en")
    untiled = Cell("ok", 0.00849, 5.0, (0.00845, 0.00853))
    tiled = Cell("ok", 0.00851, 5.0, (0.00846, 0.00855))
    table = render("decode", [Row("GPU", "256x256", untiled, tiled)], labels)
    assert "| 0.008 | 5.00% | 0.009 (0%) | 5.00% |" in table
    assert check_lines(table.splitlines(keepends=True)) == []  # within rounding
    apart = Cell("ok", 0.00951, 5.0, (0.00945, 0.00955))
    table = render("decode", [Row("GPU", "256x256", untiled, apart)], labels)
    assert "0.010 (+25%)" in table  # a real change still shows
    loose = Cell("ok", 0.00851, 5.0, None)  # precision not met: no claim of sameness
    assert "0.009 (+13%)" in render("decode", [Row("GPU", "256x256", untiled, loose)], labels)


def test_docs_update_warns_for_each_doubtful_cell(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("dtype: float16\nblocks:\n  - {title: Enc, model: sd-v1, op: encode, style: encode}\n")
    loose = doc_record(tiled=True)
    loose.precision_met = False
    loose.time = Timing.of([0.1, 0.12, 0.08, 0.1, 0.11, 0.09, 0.1])
    hot = doc_record()
    hot.clocks = Clocks(throttle=("hw_thermal_slowdown",))
    run = doc_run(tmp_path, "r", "GPU A", [hot, loose])
    page = tmp_path / "p.md"
    page.write_text("<details><summary>Enc</summary>\n\n| a |\n|---|\n\n</details>\n")
    assert main(["docs", "update", str(page), "--spec", str(spec), str(run)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert "'Enc': GPU A 512x512 untiled: throttled (thermal (HW))" in err[0]
    assert "'Enc': GPU A 512x512 tiled: precision not met (interval ±" in err[1]


def test_runs_of_the_first_format_still_load_compare_plot_and_render(tmp_path, capsys):
    old = tmp_path / "old"
    shutil.copytree(REFERENCE, old)
    copy = tmp_path / "copy"
    shutil.copytree(REFERENCE, copy)
    meta = json.loads((copy / "meta.json").read_text())
    (copy / "meta.json").write_text(json.dumps({**meta, "run_id": "copy"}))
    run = open_run(old)
    assert run.meta.format == 1 and all(r.format == 1 and r.time.ci_low is None for r in run.records)
    assert all(r.precision_met is None and r.clocks is None for r in run.records)
    assert main(["compare", str(old), str(copy)]) == 0
    assert main(["plot", str(old)]) == 0
    assert main(["tables", str(old)]) == 0
    assert main(["show", str(old)]) == 0
    assert "precision not met" not in capsys.readouterr().out  # old runs claim nothing


@pytest.mark.slow
def test_a_sweep_says_where_its_time_went_and_each_case_its_phases(write_sweep, tmp_path, capsys):
    sweep = write_sweep(
        models=["tiny-oom"],
        resolutions=[32, 48],
        repeats="auto",
        warmup_time="auto",
        min_time=0.1,
        max_time=5,  # far above what five calls take, even on a loaded machine
    )
    assert main(["run", "--trust-code", str(sweep)]) == 0
    run = only_run(tmp_path / "runs")
    err = capsys.readouterr().err
    assert "time: " in err and "s wall: startup" in err and "calls" in err
    meta = open_run(run).meta
    (spent,) = meta.time_spent
    parts = [k for k in spent if k not in ("wall_s", "first_calls_s", "warmup_s")]  # shares of calls_s
    assert {"calls_s", "between_calls_s", "setup_s", "worker_start_s", "records_s", "other_s"} <= set(parts)
    assert all(spent[k] >= 0 for k in parts)  # other_s, the rest of the wall: no part counted twice
    assert 0 < spent["first_calls_s"] and 0 <= spent["warmup_s"] <= spent["calls_s"] - spent["first_calls_s"]
    (worker,) = meta.workers
    assert worker["model"] == "tiny-oom" and 0 < worker["build_s"] < worker["start_to_ready_s"]
    ok, oom = sorted(open_run(run).records, key=lambda r: r.case.width)
    assert ok.warmup_calls >= 1 and ok.warmup_s > 0  # the first call at least
    assert ok.time.calls == len(ok.samples) >= 5 and ok.setup_s >= 0 and ok.measure_s > 0
    assert ok.precision_met in (True, False) and ok.mem.first_call_process is not None
    assert oom.status == "oom" and oom.error_phase == "first_call"
    assert (run / TABLES_MD).exists()
