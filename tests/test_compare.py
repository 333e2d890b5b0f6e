"""compare: synthetic runs with known differences, and every bad input."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from bench.analysis import significance
from bench.analysis.compare import compare_runs
from bench.cli import main
from bench.record.figures import Timing
from tests.runs import GIB, MIB, case, noisy, write_run


def run_pair(tmp_path, base_cases, new_cases, **new_kwargs):
    base = write_run(tmp_path, "base", base_cases, **{k: v for k, v in new_kwargs.items() if k == "device"})
    new = write_run(tmp_path, "new", new_cases, **new_kwargs)
    return base, new


def cli(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


def only(comparison):
    assert len(comparison.cases) == 1
    return comparison.cases[0]


def test_twenty_percent_slower_with_ten_samples_is_a_regression(tmp_path, capsys):
    base, new = run_pair(tmp_path, [case(samples=noisy(0.100))], [case(samples=noisy(0.120))])
    d = only(compare_runs(base, new))
    assert d.verdict == "regression" and d.time_verdict == "slower"
    assert d.ratio == pytest.approx(1.2, rel=0.01)
    assert d.test.testable and d.test.p_value < 0.001
    code, out, _ = cli(capsys, "compare", base, new)
    assert code == 1
    assert "regression: slower" in out
    assert "x1.10 (default for GPU runs)" in out


def test_two_percent_noise_is_not_flagged(tmp_path, capsys):
    base, new = run_pair(tmp_path, [case(samples=noisy(0.100, 0.02))], [case(samples=noisy(0.102, 0.02))])
    assert only(compare_runs(base, new)).verdict == "unchanged"
    code, out, _ = cli(capsys, "compare", base, new)
    assert code == 0
    assert "no regression: 0 regression, 0 improvement, 0 trade-off, 1 unchanged" in out


def test_a_ratio_beyond_the_factor_but_within_the_noise_is_not_flagged(tmp_path):
    # Medians 20% apart, but samples spread +-60%: the test says it may be chance.
    base, new = run_pair(tmp_path, [case(samples=noisy(0.10, 0.6))], [case(samples=noisy(0.12, 0.6))])
    d = only(compare_runs(base, new))
    assert d.ratio == pytest.approx(1.2, rel=0.01)
    assert d.test.testable and not d.test.significant
    assert d.verdict == "unchanged"


def test_a_significant_change_within_the_factor_is_not_flagged(tmp_path):
    base, new = run_pair(tmp_path, [case(samples=noisy(0.100, 0.001))], [case(samples=noisy(0.105, 0.001))])
    d = only(compare_runs(base, new))
    assert d.test.significant
    assert d.verdict == "unchanged"


def test_faster_is_an_improvement(tmp_path, capsys):
    base, new = run_pair(tmp_path, [case(samples=noisy(0.100))], [case(samples=noisy(0.070))])
    assert only(compare_runs(base, new)).verdict == "improvement"
    assert cli(capsys, "compare", base, new)[0] == 0


@pytest.mark.parametrize("extra, flagged", [(100 * MIB, True), (1 * MIB, False), (-100 * MIB, False)])
def test_memory_threshold(tmp_path, capsys, extra, flagged):
    base, new = run_pair(tmp_path, [case(peak=2 * GIB)], [case(peak=2 * GIB + extra)])
    d = only(compare_runs(base, new))
    assert d.mem_delta == extra
    assert d.mem_pct == pytest.approx(extra / (2 * GIB) * 100)
    assert (d.verdict == "regression") is flagged
    assert d.memory_verdict == ("more" if flagged else "less" if extra < 0 else "same")
    assert cli(capsys, "compare", base, new)[0] == (1 if flagged else 0)


def test_memory_threshold_is_two_percent_above_800_mib(tmp_path):
    # 20 GiB base: 2% is 410 MiB, so +300 MiB is within it and +500 MiB is not.
    base = write_run(tmp_path, "base", [case(peak=20 * GIB), case(size=1024, peak=20 * GIB)])
    new = write_run(
        tmp_path, "new", [case(peak=20 * GIB + 300 * MIB), case(size=1024, peak=20 * GIB + 500 * MIB)]
    )
    verdicts = [d.verdict for d in compare_runs(base, new).cases]
    assert verdicts == ["unchanged", "regression"]


def test_nvml_metric_is_peak_minus_baseline(tmp_path):
    def nvml_case(peak):
        c = case()
        c.mem = replace(c.mem, metric="nvml", nvml_peak_used=peak, nvml_baseline_used=1 * GIB)
        return c

    base, new = run_pair(tmp_path, [nvml_case(3 * GIB)], [nvml_case(3 * GIB + 200 * MIB)])
    d = only(compare_runs(base, new))
    assert (d.base_mem, d.new_mem) == (2 * GIB, 2 * GIB + 200 * MIB)
    assert d.verdict == "regression"


@pytest.mark.parametrize("after", ["oom", "error"])
def test_ok_to_oom_or_error_is_a_regression(tmp_path, capsys, after):
    base, new = run_pair(tmp_path, [case(size=2048)], [case(size=2048, status=after)])
    d = only(compare_runs(base, new))
    assert d.verdict == "regression" and d.status == f"ok -> {after}"
    code, out, _ = cli(capsys, "compare", base, new)
    assert code == 1
    assert f"regression: ok -> {after}" in out


def test_oom_to_ok_is_an_improvement(tmp_path, capsys):
    base, new = run_pair(tmp_path, [case(size=2048, status="oom")], [case(size=2048)])
    assert only(compare_runs(base, new)).verdict == "improvement"
    code, out, _ = cli(capsys, "compare", base, new)
    assert code == 0
    assert "improvement: oom -> ok" in out


def test_cases_are_matched_by_id_not_position(tmp_path, capsys):
    cases = [case(size=s, samples=noisy(s / 1000)) for s in (256, 512, 1024)]
    base, new = run_pair(tmp_path, cases, list(reversed(cases)))
    c = compare_runs(base, new)
    assert all(d.ratio == pytest.approx(1.0) for d in c.cases)
    assert cli(capsys, "compare", base, new)[0] == 0


def test_cases_only_in_one_run_are_listed_apart(tmp_path, capsys):
    base, new = run_pair(
        tmp_path,
        [case(size=512), case(size=1024)],
        [case(size=512), case(size=2048, status="oom")],
    )
    c = compare_runs(base, new)
    assert [d.label for d in c.cases] == ["sd-v1 decode 512x512 float16 untiled"]
    assert [o.label for o in c.only_base] == ["sd-v1 decode 1024x1024 float16 untiled"]
    assert [o.label for o in c.only_new] == ["sd-v1 decode 2048x2048 float16 untiled"]
    code, out, _ = cli(capsys, "compare", base, new)
    assert code == 0  # a case the base never measured is not a regression
    assert "only in base (1, not compared):\n  sd-v1 decode 1024x1024 float16 untiled [ok]" in out
    assert "only in new (1, not compared):\n  sd-v1 decode 2048x2048 float16 untiled [oom]" in out


def test_too_few_samples_fall_back_to_the_factor_and_say_so(tmp_path, capsys):
    base, new = run_pair(
        tmp_path,
        [case(size=512, samples=[0.10, 0.11]), case(size=1024, samples=[0.10, 0.11])],
        [case(size=512, samples=[0.13, 0.14]), case(size=1024, samples=[0.104, 0.114])],
    )
    c = compare_runs(base, new)
    assert [d.few_samples for d in c.cases] == [True, True]
    assert [d.verdict for d in c.cases] == ["regression", "unchanged"]
    code, out, _ = cli(capsys, "compare", base, new, "--format", "md")  # its table names the test
    assert code == 1
    assert "few samples (2/2)" in out
    assert "too few samples for a significance test in 2 case(s): judged by the factor x1.10 alone" in out


def test_environment_differences_are_reported_at_the_top(tmp_path, capsys):
    base = write_run(tmp_path, "base", [case()])
    new = write_run(
        tmp_path,
        "new",
        [case()],
        environment={"torch": "2.6.0", "diffusers": "0.32.0", "cudnn": 90300},
        device_extra={"nvml_driver": "560.10"},
    )
    c = compare_runs(base, new)
    assert {w for w, _, _ in c.environment} == {"driver", "torch", "cuDNN", "diffusers"}
    code, out, _ = cli(capsys, "compare", base, new)
    first = out.splitlines()[:3]
    assert code == 0
    assert any(
        "environment differs: driver 550.54 -> 560.10; torch 2.5.0 -> 2.6.0; cuDNN 90100 -> 90300; "
        "diffusers 0.31.0 -> 0.32.0" in line
        for line in first
    )


def test_same_environment_says_so(tmp_path, capsys):
    base, new = run_pair(tmp_path, [case()], [case()])
    assert (
        "environment: same device, driver, torch, diffusers and cuDNN" in cli(capsys, "compare", base, new)[1]
    )


def test_cpu_runs_use_a_larger_factor(tmp_path, capsys):
    cpu = {"device": "cpu"}
    base = write_run(tmp_path, "base", [case(device="cpu", samples=noisy(1.0))], **cpu)
    new = write_run(tmp_path, "new", [case(device="cpu", samples=noisy(1.15))], **cpu)
    c = compare_runs(base, new)
    assert (c.factor, c.factor_source) == (1.25, "default for CPU runs")
    assert only(c).verdict == "unchanged"
    code, out, _ = cli(capsys, "compare", base, new)
    assert code == 0 and "x1.25 (default for CPU runs)" in out
    code, out, _ = cli(capsys, "compare", base, new, "--factor", "1.1")
    assert code == 1 and "x1.10 (given)" in out


def test_markdown_and_json(tmp_path, capsys):
    base, new = run_pair(
        tmp_path,
        [case(size=512, samples=noisy(0.1)), case(size=1024)],
        [case(size=512, samples=noisy(0.13)), case(size=1024, status="oom")],
    )
    code, out, _ = cli(capsys, "compare", base, new, "--format", "md")
    assert code == 1
    assert out.startswith("### vae-bench compare: REGRESSION: 2 regression, 0 improvement")
    assert "| sd-v1 decode 512x512 float16 untiled" in out
    code, out, _ = cli(capsys, "compare", base, new, "--format", "json")
    data = json.loads(out)["data"]
    assert code == 1 and data["regressed"] is True
    assert data["counts"]["regression"] == 2
    assert {c["new_status"] for c in data["cases"]} == {"ok", "oom"}
    slower = next(c for c in data["cases"] if c["new_status"] == "ok")
    assert slower["time"]["ratio"] == pytest.approx(1.3, rel=0.01) and slower["time"]["change"] == "slower"


# ---- bad input: one line on stderr, exit 2 -------------------------------------------------


def assert_bad(capsys, *argv, says):
    code, out, err = cli(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("vae-bench: error: ")
    assert says in err


def test_a_run_compared_with_itself(tmp_path, capsys):
    run = write_run(tmp_path, "a", [case()])
    assert_bad(capsys, "compare", run, run, says="same run folder")
    assert_bad(capsys, "compare", run, tmp_path / "." / "a", says="same run folder")
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    assert_bad(capsys, "compare", run, copy, says="is the base run itself")


def test_runs_with_no_case_in_common(tmp_path, capsys):
    base, new = run_pair(tmp_path, [case(size=512)], [case(size=1024)])
    assert_bad(capsys, "compare", base, new, says="no case in common")


def test_a_missing_run(tmp_path, capsys):
    run = write_run(tmp_path, "a", [case()])
    assert_bad(capsys, "compare", run, tmp_path / "nope", says="no such run folder")
    (tmp_path / "empty").mkdir()
    assert_bad(capsys, "compare", run, tmp_path / "empty", says="not a vae-bench run folder")


def test_a_corrupt_run(tmp_path, capsys):
    run = write_run(tmp_path, "a", [case()])
    bad_meta = write_run(tmp_path, "b", [case()])
    (bad_meta / "meta.json").write_text("{not json")
    assert_bad(capsys, "compare", run, bad_meta, says="corrupt JSON")
    bad_line = write_run(tmp_path, "c", [case()])
    with open(bad_line / "cases.jsonl", "a") as f:
        f.write('{"case_id": "x", "status": \n')
    assert_bad(capsys, "compare", run, bad_line, says="line 2: corrupt case record")
    no_cases = write_run(tmp_path, "d", [])
    assert_bad(capsys, "compare", no_cases, run, says="no case stored")


def test_a_factor_not_above_one(tmp_path, capsys):
    base, new = run_pair(tmp_path, [case()], [case()])
    assert_bad(capsys, "compare", base, new, "--factor", "0.9", says="--factor: must be a number above 1")


# ---- the test itself ---------------------------------------------------------------------


def test_smallest_p_decides_what_is_testable():
    assert significance.smallest_p(5, 5) == pytest.approx(2 / 252)
    assert significance.testable(5, 5) and significance.testable(4, 4)
    assert not significance.testable(3, 3) and not significance.testable(10, 1)


def test_equal_samples_are_not_different():
    t = significance.compare_samples([0.1] * 5, [0.1] * 5)
    assert t.testable and not t.significant and t.p_value == 1.0


@pytest.mark.parametrize("extra, flagged", [(250 * MIB, True), (150 * MIB, False)])
def test_cpu_runs_use_a_larger_memory_bar(tmp_path, capsys, extra, flagged):
    # A CPU run's peak RSS moves by up to 20% between runs: 64 MiB and 25% of 800 MiB.
    cpu = {"device": "cpu"}
    base = write_run(tmp_path, "base", [case(device="cpu", peak=800 * MIB)], **cpu)
    new = write_run(tmp_path, "new", [case(device="cpu", peak=800 * MIB + extra)], **cpu)
    c = compare_runs(base, new)
    assert (c.mem_floor, c.mem_fraction) == (64 * MIB, 0.25)
    assert (only(c).verdict == "regression") is flagged
    code, out, _ = cli(capsys, "compare", base, new)
    assert code == (1 if flagged else 0)
    assert "larger of 64 MiB and 25% of the base peak (default for CPU runs)" in out
    code, out, _ = cli(capsys, "compare", base, new, "--mem-floor", "16", "--mem-percent", "2")
    assert code == 1 and "larger of 16 MiB and 2% of the base peak (given)" in out


def test_runs_with_only_medians_are_judged_by_the_factor(tmp_path, capsys):
    def median_only(t):
        c = case(samples=[t])
        c.time = Timing(median=t)
        return c

    base, new = run_pair(tmp_path, [median_only(0.10)], [median_only(0.13)])
    d = only(compare_runs(base, new))
    assert d.few_samples and d.verdict == "regression"
    code, out, _ = cli(capsys, "compare", base, new, "--format", "md")
    assert code == 1 and "few samples (0/0)" in out


# ---- many cases at once --------------------------------------------------------------


def test_benjamini_hochberg_by_hand():
    tests = [significance.compare_samples([0.0], [1.0])]  # untestable: passed through
    tests += [significance.MannWhitney(True, p, p < 0.05, 10, 10, p) for p in (0.01, 0.02, 0.03, 0.5)]
    out = significance.control_fdr(tests)
    assert out[0] == tests[0]
    # sorted p_i * m / i, then the running minimum from the largest: 0.04, 0.04, 0.04, 0.5
    assert [t.q_value for t in out[1:]] == pytest.approx([0.04, 0.04, 0.04, 0.5])
    assert [t.significant for t in out[1:]] == [True, True, True, False]


def test_many_unchanged_cases_raise_no_false_alarm_together():
    rng = np.random.default_rng(7)
    same = [(list(rng.normal(1.0, 0.05, 10)), list(rng.normal(1.0, 0.05, 10))) for _ in range(40)]
    shifted = ([1.0 + 0.001 * i for i in range(10)], [1.3 + 0.001 * i for i in range(10)])
    alone = [significance.compare_samples(a, b) for a, b in [*same, shifted]]
    together = significance.control_fdr(alone)
    assert sum(t.significant for t in alone[:-1]) >= 1  # what p < 0.05 per case would flag
    assert sum(t.significant for t in together[:-1]) == 0
    assert together[-1].significant  # a real change still stands out


def test_the_report_says_how_many_cases_were_tested_together(tmp_path, capsys):
    cases = [case(size=s, samples=noisy(s / 1000)) for s in (256, 512, 1024)]
    base, new = run_pair(tmp_path, cases, cases)
    code, out, _ = cli(capsys, "compare", base, new)
    said = " ".join(out.split())  # the header line wraps within 120 columns
    assert "q < 0.05 (its p-value adjusted over the 3 case(s) tested, Benjamini-Hochberg)" in said


def test_a_device_label_that_differs_is_reported(tmp_path):
    """One card in two setups (labelled apart): the setup is a difference to report."""
    base = write_run(tmp_path, "base", [case()])
    new = write_run(tmp_path, "new", [case()], device_extra={"label": "RTX 4090 (300 W)"})
    c = compare_runs(base, new)
    assert [(w, b, n) for w, b, n in c.environment] == [("device label", None, "RTX 4090 (300 W)")]


def test_a_case_whose_gpu_throttled_says_so(capsys):
    """The two H200 docs runs: the newer one's 2048 untiled cases ran at the power cap."""
    from tests.conftest import REFERENCE_H200, REFERENCE_H200_DOCS

    c = compare_runs(REFERENCE_H200, REFERENCE_H200_DOCS)
    throttled = {d.label: d.new_throttled for d in c.cases if d.new_throttled}
    assert throttled and all("2048x2048" in label and "untiled" in label for label in throttled)
    assert set(throttled.values()) == {"power cap"}
    code, out, _ = cli(capsys, "compare", REFERENCE_H200, REFERENCE_H200_DOCS, "--format", "md")
    assert code in (0, 1) and out.count("new throttled: power cap") == len(throttled)


# -- verdicts a review reads -------------------------------------------------------------


def test_faster_with_more_memory_is_a_trade_off_not_a_regression(tmp_path, capsys):
    base, new = run_pair(
        tmp_path,
        [case(size=512, samples=noisy(0.10), peak=2 * GIB), case(size=1024, samples=noisy(0.4))],
        [case(size=512, samples=noisy(0.07), peak=3 * GIB), case(size=1024, samples=noisy(0.4))],
    )
    d = compare_runs(base, new).cases[0]
    assert (d.time_verdict, d.memory_verdict, d.verdict) == ("faster", "more", "trade-off")
    code, out, _ = cli(capsys, "compare", base, new)
    assert code == 0 and "trade-off: faster, more memory" in out
    assert out.rstrip().endswith(
        "TRADE-OFF: 0 regression, 0 improvement, 1 trade-off, 1 unchanged, 0 untested of 2 cases in both runs"
    )
    assert cli(capsys, "compare", base, new, "--fail-on", "trade-off")[0] == 1
    code, out, _ = cli(capsys, "compare", base, new, "--only-changed")
    assert "sd-v1 decode 512x512" in out and "sd-v1 decode 1024x1024" not in out and "1 unchanged" in out
    data = json.loads(cli(capsys, "compare", base, new, "--format", "json")[1])["data"]
    assert data["counts"]["trade-off"] == 1 and data["counts"]["unchanged"] == 1


def test_a_case_that_ran_in_neither_is_untested(tmp_path, capsys):
    base, new = run_pair(
        tmp_path,
        [case(size=512, status="oom"), case(size=1024, status="error")],
        [case(size=512, status="oom"), case(size=1024, status="oom")],
    )
    assert [d.verdict for d in compare_runs(base, new).cases] == ["untested", "untested"]
    code, out, _ = cli(capsys, "compare", base, new)
    assert code == 0 and "untested: error -> oom" in out and "2 untested of 2 cases" in out


def test_the_h200_docs_pair_reads_like_a_review_within_120_columns(capsys):
    """sd-v1 decode 256 untiled got 30% faster with 22 MiB more reserved: a trade-off."""
    from tests.conftest import REFERENCE_H200, REFERENCE_H200_DOCS

    c = compare_runs(REFERENCE_H200, REFERENCE_H200_DOCS)
    (d,) = [d for d in c.cases if d.label == "sd-v1 decode 256x256 float16 untiled"]
    assert d.verdict == "trade-off" and d.ratio < 0.75 and d.mem_delta > 0
    code, out, _ = cli(capsys, "compare", REFERENCE_H200, REFERENCE_H200_DOCS)
    table = out.split("\n\n")[1]
    assert code == 1 and max(len(line) for line in out.splitlines()) <= 120  # the header lines too
    assert "trade-off: faster, more memory" in table


def test_long_labels_wrap_inside_120_columns(tmp_path, capsys):
    def variant(c):
        variant = (("attention", "naive"), ("channels_last", True), ("tile_sample_min_size", 256))
        return replace(c, case=replace(c.case, variant=variant))

    base, new = run_pair(
        tmp_path,
        [variant(case(size=2048, tiled=True, samples=noisy(0.1)))],
        [variant(case(size=2048, tiled=True, samples=noisy(0.2), peak=3 * GIB))],
    )
    code, out, _ = cli(capsys, "compare", base, new)
    table = out.split("\n\n")[1]
    assert code == 1 and max(len(line) for line in table.splitlines()) <= 120
    # the label wraps onto lines of its own column, whole words kept
    assert "sd-v1 decode 2048x2048 float16 tiled" in table and "tile_sample_min_size 256]" in table
    assert "regression: slower, more" in table
