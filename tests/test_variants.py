"""Variant axes, the quality cost of each case and `vae-bench advise`: expansion and
case ids, refusals, each axis in force inside the worker (and taken back after), PSNR
against figures worked out by hand, the reference kept off the peak, advise on a
constructed run, and configs/variants-cpu.yaml end to end."""

from __future__ import annotations

import json
import math

import pytest
import torch
import yaml

from bench import cli
from bench.analysis.advise import advise, render
from bench.errors import BadInput
from bench.measure.driver import make_backend
from bench.measure.protocol import Protocol
from bench.models import variants
from bench.models.build import Weights, build
from bench.models.quality import compare
from bench.record.case import Case
from bench.record.figures import Quality
from bench.record.store import open_run
from bench.sweep import worker
from bench.sweep.cases import expand
from bench.sweep.config import from_dict, load_sweep
from bench.sweep.plan import make_plan
from tests.cli_helpers import one_error_line, only_run
from tests.conftest import ROOT, TINY_REGISTRY
from tests.runs import GIB, MIB, case, noisy, write_run


def tiny(tmp_path, **fields) -> dict:
    raw = {
        "name": "v",
        "models": ["tiny"],
        "ops": ["encode"],
        "resolutions": [64],
        "dtype": "float32",
        "warmup": 1,
        "warmup_time": 0,
        "repeats": 2,
        "device": "cpu",
        "weights": "random",
        "registry": str(TINY_REGISTRY),
        "output": str(tmp_path / "runs"),
    }
    raw.update(fields)
    return raw


# -- expansion and case ids ----------------------------------------------------------------


def test_a_sweep_without_variant_axes_keeps_its_case_ids(tmp_path):
    sweep = from_dict(tiny(tmp_path, tiled=[False, True], batch=[1, 2]))
    cases = expand(sweep, sweep.specs())
    assert all(c.variant is None for c in cases)
    for c in cases:
        assert "variant" not in c.params()  # so the hash is the one it always was
        assert "[" not in c.label
    # the ids of a run made before variants existed: its sweep expands to them again
    from tests.conftest import REFERENCE

    old = open_run(REFERENCE)
    again = from_dict(old.meta.config)
    assert {c.case_id for c in expand(again, again.specs())} == {r.case_id for r in old.records}


def test_variant_axes_multiply_the_cases_and_each_has_its_own_id(tmp_path):
    sweep = from_dict(
        tiny(
            tmp_path,
            batch=[1, 2],
            tiled=[False, True],
            tiling={"tiny": {"tile_sample_min_size": [32, 64]}},
            channels_last=[False, True],
            attention=["sdpa", "naive"],
            slicing=[False, True],
        )
    )
    cases = expand(sweep, sweep.specs())
    # batch 1: (untiled + 2 tile sizes) x channels_last x attention; batch 2: x slicing too
    assert len(cases) == 3 * 2 * 2 + 3 * 2 * 2 * 2
    assert len({c.case_id for c in cases}) == len(cases)
    assert not any(c.axis("slicing") for c in cases if c.batch == 1)
    plain = [c for c in cases if c.variant is None]
    assert [(c.batch, c.tiled) for c in plain] == [(1, False), (2, False)]
    tiled = [c for c in cases if c.tiled]
    assert {c.tiling_dict["tile_sample_min_size"] for c in tiled} == {32, 64}
    for c in tiled:  # the swept knob names the case, and diffusers' latent tile follows it
        assert c.variant_dict["tile_sample_min_size"] == c.tiling_dict["tile_sample_min_size"]
        assert c.tiling_dict["tile_latent_min_size"] == c.tiling_dict["tile_sample_min_size"] // 2
    one = next(c for c in cases if c.axis("channels_last") and c.axis("attention") == "naive" and c.tiled)
    assert one.label.endswith("[attention naive, channels_last, tile_sample_min_size 32]")
    # stored and read back, a case is the same case
    assert Case.from_params(json.loads(json.dumps(one.params()))) == one


def test_variant_axes_round_trip_through_meta(tmp_path):
    raw = tiny(
        tmp_path,
        models=[
            {"name": "tiny", "compile": ["none", "default"], "tiling": {"tile_sample_min_size": [32, 48]}}
        ],
        channels_last=[False, True],
        quality="float32",
    )
    sweep = from_dict(raw)
    again = from_dict(json.loads(json.dumps(sweep.to_dict())))
    assert again.to_dict() == sweep.to_dict()
    assert expand(again, again.specs()) == expand(sweep, sweep.specs())


@pytest.mark.parametrize(
    ("fields", "where", "words"),
    [
        ({"attention": ["sdpa", "flash"]}, "attention", "allowed: sdpa, naive"),
        ({"compile": "fast"}, "compile", "allowed: none, default"),
        ({"channels_last": "yes"}, "channels_last", "true, false"),
        ({"slicing": [1]}, "slicing", "true, false"),
        ({"quality": "high"}, "quality", "float32"),
        ({"tiling": {"tiny": {"tile_sample_min_size": []}}}, "tiling.tiny.tile_sample_min_size", "empty"),
        ({"tiling": {"tiny": {"tile_sample_min_size": [32, 7]}}}, "tiling.tiny.tile_sample_min_size", ""),
        ({"models": [{"name": "tiny", "attention": "nope"}]}, "models[0].attention", "allowed"),
    ],
)
def test_bad_axis_values_name_file_and_field(tmp_path, fields, where, words):
    with pytest.raises(BadInput) as err:
        from_dict(tiny(tmp_path, **fields), source="s.yaml")
    assert err.value.field == where and words in str(err.value)


def test_an_axis_the_model_cannot_take_is_refused_with_one_line(tmp_path, capsys):
    """TAESD has no attention processor to choose; sdpa-* pins a CUDA kernel; both
    are refused before a run folder exists."""
    taesd = tiny(tmp_path, models=[{"name": "taesd", "attention": ["sdpa", "naive"]}], resolutions=[64])
    taesd.pop("registry")  # the bundled one
    for raw, where, words in (
        (taesd, "models[0].attention", "taesd (AutoencoderTiny)"),
        (tiny(tmp_path, attention="sdpa-flash"), "attention", "CUDA"),
    ):
        path = tmp_path / "s.yaml"
        path.write_text(yaml.safe_dump(raw))
        assert cli.main(["run", str(path)]) == 2
        line = one_error_line(capsys)
        assert f"{path}: {where}: " in line and words in line
        assert not (tmp_path / "runs").exists()


def test_compile_on_a_torch_without_dynamo_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(variants, "dynamo_supported", lambda: False)
    with pytest.raises(BadInput) as err:
        make_plan(from_dict(tiny(tmp_path, compile=["none", "default"]), source="s.yaml"), resolve=False)
    assert err.value.field == "compile" and "TorchDynamo" in str(err.value)


# -- each axis in force inside the worker ------------------------------------------------


def measure_in_process(tmp_path, model_name: str, quality=False, **fields):
    """What the worker does with each case, in this process, so that the model's own
    notes can be read: build once, measure every case of the sweep."""
    sweep = from_dict(tiny(tmp_path, models=[model_name], quality=quality, **fields))
    spec = sweep.specs()[model_name]
    backend = make_backend("cpu", "auto")
    backend.baseline()
    job = worker.Job(spec, Weights("random"), "cpu", "float32", 1, 2, Protocol(repeats=2), "auto", quality)
    model = build(spec, job.weights, "cpu", "float32", trust_code=True)
    cases = expand(sweep, sweep.specs())
    return model, cases, [worker.measure_case(model, backend, job, c) for c in cases]


@pytest.mark.slow  # 26 s on its own, about 100 s beside other test workers
def test_each_axis_is_in_force_during_the_calls_and_taken_back_after(tmp_path):
    from tests.fakes import Recorder

    Recorder.seen.clear()
    cudnn_before = torch.backends.cudnn.benchmark
    model, cases, records = measure_in_process(
        tmp_path,
        "tiny-recorder",
        batch=[2],
        tiled=[False, True],
        tiling={"tiny-recorder": {"tile_sample_min_size": [32, 64]}},
        channels_last=[False, True],
        attention=["sdpa", "naive"],
        cudnn_benchmark=[True],  # off again after each case: checked below
        slicing=[False, True],
    )
    assert all(r.status == "ok" for r in records), [r.error for r in records]
    assert len(cases) == 3 * 2**3
    at = 0
    for c, r in zip(cases, records, strict=True):
        n = r.warmup_calls + r.time.calls  # one note per call (slicing splits inside encode)
        notes, at = Recorder.seen[at : at + n], at + n
        assert len(notes) == n
        for seen in notes:
            assert seen["input_channels_last"] == c.axis("channels_last"), c.label
            assert seen["weight_channels_last"] == c.axis("channels_last"), c.label
            want = "AttnProcessor" if c.axis("attention") == "naive" else "AttnProcessor2_0"
            assert seen["processors"] == [want], c.label
            assert seen["cudnn_benchmark"] == c.axis("cudnn_benchmark"), c.label
            assert seen["tiling"] == c.tiled, c.label
            if c.tiled:
                assert seen["tile"] == c.tiling_dict["tile_sample_min_size"], c.label
            assert seen["slicing"] == c.axis("slicing"), c.label
    assert at == len(Recorder.seen)
    # everything taken back: the model and torch as they were before the sweep
    assert torch.backends.cudnn.benchmark == cudnn_before
    assert {type(p).__name__ for p in model.attn_processors.values()} == {"AttnProcessor2_0"}
    assert not model.encoder.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert not model.use_slicing


def test_a_variant_that_fails_is_an_error_and_the_next_case_runs(tmp_path):
    """The axes are taken back even when a case fails inside them."""
    model, cases, records = measure_in_process(
        tmp_path, "tiny-oom", resolutions=[48, 32], channels_last=[True], attention=["naive"]
    )
    assert sorted(r.status for r in records) == ["ok", "oom"]
    assert {type(p).__name__ for p in model.attn_processors.values()} == {"AttnProcessor2_0"}
    assert not model.encoder.conv_in.weight.is_contiguous(memory_format=torch.channels_last)


def test_compile_is_skipped_with_the_reason_where_it_cannot_run(tmp_path, monkeypatch):
    monkeypatch.setattr(variants.shutil, "which", lambda name: None)
    _, cases, records = measure_in_process(tmp_path, "tiny", compile=["none", "default"])
    by = {c.axis("compile"): r for c, r in zip(cases, records, strict=True)}
    assert by["none"].status == "ok"
    assert by["default"].status == "skipped" and "C++ compiler" in by["default"].error


@pytest.mark.slow
def test_a_compile_error_is_an_error_with_the_reason_and_the_sweep_goes_on(tmp_path):
    if variants.compile_unavailable("cpu"):
        pytest.skip(f"no torch.compile here: {variants.compile_unavailable('cpu')}")
    _, cases, records = measure_in_process(tmp_path, "tiny-fails-compiled", compile=["default", "none"])
    by = {c.axis("compile"): r for c, r in zip(cases, records, strict=True)}
    assert by["default"].status == "error" and "cannot be compiled" in by["default"].error
    assert by["default"].error_phase == "first_call"
    assert by["none"].status == "ok"


# -- quality ---------------------------------------------------------------------------------


def test_psnr_against_figures_worked_out_by_hand():
    ref = torch.zeros(1, 3, 4, 4)
    out = ref + 0.1  # every pixel off by 0.1: MSE 0.01, PSNR 10 log10(2^2 / 0.01)
    q = compare(out, ref, "decode", "r")
    assert q.max_abs == pytest.approx(0.1) and q.mean_abs == pytest.approx(0.1)
    assert q.psnr_db == pytest.approx(10 * math.log10(4 / 0.01))  # 26.02 dB
    # decoded pixels are clamped to [-1, 1] first: beyond it, a difference does not count
    q = compare(torch.full((2, 2), 3.0), torch.full((2, 2), 1.0), "decode", "r")
    assert q.max_abs == 0 and q.psnr_db is None and q.note == "identical to the reference"
    # encode: over the reference latent's range, here 4 (from -2 to 2)
    ref = torch.tensor([-2.0, 2.0, 0.0, 0.0])
    out = torch.tensor([-2.0, 2.0, 0.5, -0.5])
    q = compare(out, ref, "encode", "r")
    assert q.psnr_db == pytest.approx(10 * math.log10(16 / 0.125))
    q = compare(torch.zeros(2), torch.zeros(3), "encode", "r")
    assert q.psnr_db is None and "shape" in q.note


@pytest.mark.slow  # 20 s on its own, about 75 s beside other test workers
def test_quality_is_recorded_per_case_against_the_plain_reference(tmp_path):
    _, cases, records = measure_in_process(
        tmp_path,
        "tiny",
        quality=True,
        ops=["encode", "decode"],
        tiled=[False, True],
        channels_last=[False, True],
    )
    for c, r in zip(cases, records, strict=True):
        q = r.quality
        assert q is not None and r.ok
        if c.variant is None and not c.tiled:
            assert q.reference == "itself" and q.max_abs == 0
        else:
            assert q.reference == "untiled float32, no variant"
        if c.tiled:  # a 32 px tile over 64 px: seams
            assert q.psnr_db is not None and q.psnr_db < 60, c.label
        elif c.variant:  # channels_last alone: the same numbers, up to rounding
            assert q.max_abs < 1e-4, c.label
    stored = json.loads(json.dumps(records[1].to_json()))
    assert Quality.from_json(stored["quality"]) == records[1].quality


def test_a_reference_that_fails_leaves_the_figures_empty_with_the_reason(tmp_path):
    """tiny-oom-untiled runs out of memory at 48 px in one pass: the tiled case runs,
    and its untiled reference cannot be had."""
    _, _, records = measure_in_process(
        tmp_path, "tiny-oom-untiled", quality=True, resolutions=[48], tiled=[True]
    )
    (r,) = records
    assert r.ok
    assert r.quality.psnr_db is None and r.quality.max_abs is None
    assert r.quality.note == "the reference (untiled float32, no variant) ran out of memory"


def test_the_reference_is_kept_off_the_measured_peak(tmp_path, monkeypatch):
    """The peaks of a case are taken by its timed calls alone: the call that gives its
    output and the reference's calls come after the backend has returned its figures.
    (Comparing peak RSS with and without quality cannot show this on a CPU: a worker's
    peak moved by 80 MiB from one run to the next, 403 or 483 MiB for one case.)"""
    from bench.measure.cpu import CpuBackend

    events = []
    real_run, real_output, real_quality = CpuBackend.run, worker._output, worker._quality

    def run(self, call, p):
        measured = real_run(self, call, p)
        events.append(("measured", measured.mem.process_peak))
        return measured

    monkeypatch.setattr(CpuBackend, "run", run)
    monkeypatch.setattr(worker, "_output", lambda call: events.append("output") or real_output(call))
    monkeypatch.setattr(worker, "_quality", lambda *a: events.append("reference") or real_quality(*a))
    _, cases, records = measure_in_process(
        tmp_path, "tiny-flat", quality=True, ops=["decode"], tiled=[False, True]
    )
    # untiled: the case is its own reference; tiled: the reference's call is one more output
    order = [e if isinstance(e, str) else e[0] for e in events]
    assert order == ["measured", "output", "reference", "measured", "output", "reference", "output"], order
    assert [r.mem.process_peak for r in records] == [e[1] for e in events if not isinstance(e, str)]
    assert [c.tiled for c in cases] == [False, True]
    assert records[0].quality.reference == "itself" and records[1].quality.psnr_db is not None


# -- advise ----------------------------------------------------------------------------------


def variant_case(variant=None, tiled=False, size=1024, median=0.1, peak=2 * GIB, psnr=None, dtype="float16"):
    r = case(size=size, tiled=tiled, samples=noisy(median, 0.002), peak=peak, dtype=dtype)
    c = r.case
    from dataclasses import replace

    r.case = replace(c, variant=tuple(sorted(variant.items())) if variant else None)
    r.case_id = r.case.case_id
    if psnr is not None or variant or tiled:
        r.quality = Quality("untiled float16, no variant", 0.01, 0.001, psnr)
    else:
        r.quality = Quality("itself", 0.0, 0.0, None, "identical to the reference")
    return r


def test_advise_picks_the_fastest_setting_that_fits_and_meets_the_floor(tmp_path):
    records = [
        variant_case(median=0.100, peak=10 * GIB),  # plain: too big for a 8 GiB card
        variant_case({"channels_last": True}, median=0.080, peak=9 * GIB, psnr=120),  # fast, too big
        variant_case(tiled=True, median=0.150, peak=3 * GIB, psnr=38),  # fits, below the floor
        variant_case(
            {"tile_sample_min_size": 512}, tiled=True, median=0.180, peak=4 * GIB, psnr=45
        ),  # fits, good enough
        variant_case(
            {"tile_sample_min_size": 512, "attention": "naive"},
            tiled=True,
            median=0.400,
            peak=4 * GIB,
            psnr=45,
        ),  # slower
    ]
    run = open_run(write_run(tmp_path, "r", records))
    answer = advise(run, "an 8 GiB card", 8 * GIB, 40)
    (row,) = answer.rows
    assert row.best.case == records[3].case
    assert row.plain.case == records[0].case and row.plain_fits is False
    assert row.time_saved == pytest.approx(1 - 0.180 / 0.100, rel=0.01)
    assert row.memory_saved == pytest.approx(0.6, rel=0.01)
    # a big card: the fastest of all; a lower floor lets the first tiled one in
    assert advise(run, "big", 80 * GIB, 40).rows[0].best.case == records[1].case
    assert advise(run, "8", 8 * GIB, 30).rows[0].best.case == records[2].case
    # nothing fits: said, not invented
    none = advise(run, "tiny", 1 * GIB, 40).rows[0]
    assert none.best is None and "fits" in none.why_none
    text = render(answer, "md")
    assert "| sd-v1" in text and "tile_sample_min_size 512" in text and "does not fit" in text
    data = json.loads(render(answer, "json"))["data"]
    assert data["inputs"][0]["use"]["variant"] == {"tile_sample_min_size": 512}


def test_advise_shows_and_compares_what_it_judged_fits_not_the_reserved_peak(tmp_path):
    """On a GPU run a case fits by its allocated peak plus the CUDA context (NVML):
    the figure shown and the memory saved are that one, never the reserved peak."""
    from dataclasses import replace

    records = []
    for tiled, allocated in ((False, 6 * GIB), (True, 2 * GIB)):
        r = variant_case(tiled=tiled, median=0.1 if not tiled else 0.2, psnr=50 if tiled else None)
        reserved = 2 * allocated  # fragmentation: the reserved peak says twice as much
        r.mem = replace(
            r.mem,
            peak_allocated=allocated,
            peak_reserved=reserved,
            nvml_baseline_used=0,
            nvml_peak_used=reserved + 512 * MIB,  # a 512 MiB context
        )
        records.append(r)
    run = open_run(write_run(tmp_path, "r", records))
    (row,) = advise(run, "an 8 GiB card", 8 * GIB, 40).rows
    assert row.best.case == records[0].case  # 6.5 GiB fits, though 12 GiB were reserved
    assert row.need == 6 * GIB + 512 * MIB and row.plain_fits
    (small,) = advise(run, "a 4 GiB card", 4 * GIB, 40).rows
    assert small.best.case == records[1].case
    assert small.memory_saved == pytest.approx(1 - (2 * GIB + 512 * MIB) / (6 * GIB + 512 * MIB))
    text = render(advise(run, "an 8 GiB card", 8 * GIB, 40))
    assert "needs (MiB)" in text and f" {6 * 1024 + 512} " in text and f" {12 * 1024} " not in text


def test_advise_prefers_the_plain_setting_when_the_difference_is_noise(tmp_path):
    records = [
        variant_case(median=0.100),
        variant_case({"channels_last": True}, median=0.0999, psnr=120),
    ]
    run = open_run(write_run(tmp_path, "r", records))
    (row,) = advise(run, "big", 80 * GIB, 40).rows
    assert row.best.case == records[0].case


def test_advise_from_the_cli_on_the_h200_run_and_bad_input(capsys, tmp_path):
    from tests.conftest import REFERENCE_H200

    assert cli.main(["advise", str(REFERENCE_H200), "--card", "RTX 4060", "--format", "md"]) == 0
    out = capsys.readouterr().out
    assert "| sd-v1 " in out and "does not fit" in out  # 2048 decode untiled: 9.7 GiB allocated
    assert cli.main(["advise", str(tmp_path), "--vram", "8GiB"]) == 2
    assert str(tmp_path) in one_error_line(capsys)  # not a run: one line, no traceback


def test_advise_on_the_h200_variants_run():
    """Real GPU data: on a 6 GiB card SD v1's untiled 2048 decode (9.7 GiB allocated)
    does not fit, and with a 30 dB floor the answer is the 512 px tile, the fastest
    tiled setting there; on a 12 GiB card the plain default fits and is the answer."""
    from tests.conftest import REFERENCE_H200_VARIANTS

    run = open_run(REFERENCE_H200_VARIANTS)

    def row(answer, model="sd-v1", op="decode", size="2048x2048"):
        (x,) = [x for x in answer.rows if (x.model, x.op, x.size) == (model, op, size)]
        return x

    small = row(advise(run, "6 GiB", 6 * GIB, 30))
    assert small.plain_fits is False and small.best.case.tiled
    assert small.best.case.tiling_dict["tile_sample_min_size"] == 512
    assert small.need <= 6 * GIB and small.time_saved < 0  # tiling costs time
    tiled = [r for r in run.records if r.ok and r.case.tiled and r.case.size_label == "2048x2048"]
    assert small.best.median == min(
        r.median for r in tiled if r.case.model == "sd-v1" and r.case.op == "decode"
    )
    # a 40 dB floor: with random weights no tiled decode reaches it, and it says so
    assert "40 dB" in row(advise(run, "6 GiB", 6 * GIB, 40)).why_none
    big = row(advise(run, "12 GiB", 12 * GIB, 40))
    assert big.plain_fits and big.best is big.plain


# -- the shipped configs ---------------------------------------------------------------------


def test_the_shipped_variant_configs_plan(tmp_path):
    for name in ("variants.yaml", "variants-cpu.yaml"):
        sweep = load_sweep(ROOT / "bench" / "configs" / name)
        cases = expand(sweep, sweep.specs())
        assert any(c.variant for c in cases) and sweep.quality


@pytest.mark.slow
def test_variants_cpu_runs_end_to_end_and_advise_answers(tmp_path, capsys):
    """configs/variants-cpu.yaml as shipped, with fewer timed calls: every case ok, or
    (compile where this machine cannot) skipped with the reason; tables.md shows the
    variants; advise answers."""
    raw = yaml.safe_load((ROOT / "bench" / "configs" / "variants-cpu.yaml").read_text())
    # decode only, and sd-v1 without channels_last (test_each_axis_is_in_force covers it):
    # each case of the real SD v1 costs seconds on the CPU, each torch.compile too
    raw["models"][0].pop("channels_last")
    raw.update(
        output=str(tmp_path / "runs"), ops=["decode"], repeats=2, warmup=1, warmup_time=0, weights="random"
    )
    path = tmp_path / "variants-cpu.yaml"
    path.write_text(yaml.safe_dump(raw))
    code = cli.main(["run", str(path)])
    run_dir = only_run(tmp_path / "runs")
    records = open_run(run_dir).records
    statuses = {r.status for r in records}
    compile_cases = [r for r in records if r.case.axis("compile") != "none"]
    why = variants.compile_unavailable("cpu")
    if why:
        print(f"compile cases skipped here: {why}")
        assert {r.status for r in compile_cases} == {"skipped"} and all(r.error == why for r in compile_cases)
    else:
        assert {r.status for r in compile_cases} == {"ok"}
        assert all(r.first_call_s > r.median for r in compile_cases)  # the compile is in the first call
    assert statuses <= {"ok", "skipped"} and code == 0
    assert all(r.quality is not None and r.quality_s > 0 for r in records if r.ok)
    (spent,) = open_run(run_dir).meta.time_spent
    assert spent["quality_s"] == pytest.approx(sum(r.quality_s or 0 for r in records))
    assert "quality" in capsys.readouterr().err.split("time: ")[1].splitlines()[0]
    tables = (run_dir / "tables.md").read_text()
    assert (
        "[attention naive, tile_sample_min_size 48]" in tables
        and "PSNR" in tables
        and "random weights" in tables
    )
    capsys.readouterr()
    assert cli.main(["advise", str(run_dir), "--vram", "4GiB", "--min-psnr", "30"]) == 0
    out = capsys.readouterr().out
    assert "sd-v1" in out and "taesd" in out and "random weights" in out
    stored = [json.loads(line) for line in (run_dir / "cases.jsonl").read_text().splitlines()]
    assert sum(1 for d in stored if d.get("variant")) == sum(1 for r in records if r.case.variant) > 0


def test_the_psnr_note_names_each_models_reference():
    from bench.analysis.summary import quality_caveat
    from tests.conftest import REFERENCE_H200_VARIANTS

    note = quality_caveat(open_run(REFERENCE_H200_VARIANTS).records)
    assert "(sd-v1: untiled float16, no variant; sdxl: untiled bfloat16, no variant)" in note


def test_a_time_saved_that_may_be_noise_is_marked():
    from bench.analysis.advise import Advice
    from tests.runs import case, noisy

    plain = case(samples=noisy(0.100, 0.01, 20))
    faster = case(tiled=True, samples=noisy(0.080, 0.01, 20))
    close = case(tiled=True, samples=noisy(0.0995, 0.01, 20))
    few = case(tiled=True, samples=[0.08, 0.081])  # too few calls for an interval

    def advice(best):
        return Advice("sd-v1", "decode", "512x512", 1, best, plain, need=1.0, plain_need=2.0, total=4.0)

    assert plain.time.ci_low is not None and few.time.ci_low is None
    assert not advice(faster).time_unsure and advice(faster).time_saved == pytest.approx(0.2, abs=0.01)
    assert advice(close).time_unsure and advice(few).time_unsure
    assert not advice(plain).time_unsure  # the plain default itself: nothing saved to doubt


def test_a_setting_whose_quality_was_not_measured_does_not_pass_a_floor(tmp_path):
    """A faster setting with no quality (a resume made without `quality`, say) is not
    taken on trust where a PSNR floor applies."""
    unmeasured = variant_case({"channels_last": True}, median=0.05, peak=2 * GIB)
    unmeasured.quality = None
    records = [variant_case(median=0.100, peak=2 * GIB), unmeasured]
    run = open_run(write_run(tmp_path, "r", records))
    assert advise(run, "8", 8 * GIB, 40).rows[0].best.case == records[0].case
    assert advise(run, "8", 8 * GIB, None).rows[0].best.case == unmeasured.case  # no floor: fastest
