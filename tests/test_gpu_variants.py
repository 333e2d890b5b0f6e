"""Variant axes and quality on a real GPU (marked `gpu`; skipped elsewhere): the SDPA
backends torch lets us pin, channels_last, torch.compile through Triton, and the
quality reference kept off the measured peak. Each sweep runs through the CLI, in a
worker, as a user's would."""

from __future__ import annotations

import pytest

from bench.cli import main
from bench.record.store import open_run

pytestmark = pytest.mark.gpu


def _records(tmp_path, out: str):
    run = next((tmp_path / out).iterdir())
    return open_run(run).records


def test_every_attention_backend_and_channels_last_runs_and_matches_the_plain_output(write_sweep, tmp_path):
    sweep = write_sweep(
        ops=["encode", "decode"],
        resolutions=[64],
        dtype="float16",
        device="cuda",
        attention=["sdpa", "naive", "sdpa-flash", "sdpa-efficient", "sdpa-math"],
        channels_last=[False, True],
        quality=True,
    )
    assert main(["run", str(sweep)]) == 0
    records = _records(tmp_path, "runs")
    assert len(records) == 2 * 5 * 2
    for r in records:
        assert r.status == "ok", (r.case.label, r.error)
        assert r.device == "cuda:0"
        q = r.quality
        assert q is not None, r.case.label
        if r.case.variant is None:
            assert q.reference == "itself" and q.max_abs == 0.0, (r.case.label, q)
        else:
            # the same arithmetic in another order: float16 rounding, nothing more
            assert q.note is None and q.max_abs < 0.05, (r.case.label, q)


def test_compile_runs_through_triton_and_its_time_shows_in_the_first_call(write_sweep, tmp_path):
    sweep = write_sweep(
        ops=["decode"],
        resolutions=[64],
        dtype="float16",
        device="cuda",
        compile=["none", "default"],
        quality=True,
    )
    assert main(["run", str(sweep)]) == 0
    by = {r.case.axis("compile"): r for r in _records(tmp_path, "runs")}
    assert by["default"].status == "ok", by["default"].error
    assert by["default"].first_call_s > by["none"].first_call_s
    assert by["default"].quality.max_abs < 0.05, by["default"].quality


def test_the_quality_reference_does_not_count_in_the_peak(write_sweep, tmp_path):
    """The same cases with and without `quality`: the allocator's peak is the same, as
    the reference output is kept on the CPU and made outside the measured calls."""
    fields = dict(
        ops=["encode", "decode"],
        resolutions=[256],
        tiled=[False, True],
        dtype="float16",
        device="cuda",
        memory_metric="allocated",
    )
    plain = write_sweep("plain.yaml", output=str(tmp_path / "plain"), quality=False, **fields)
    rated = write_sweep("rated.yaml", output=str(tmp_path / "rated"), quality=True, **fields)
    assert main(["run", str(plain)]) == 0
    assert main(["run", str(rated)]) == 0
    peaks = {r.case.case_id: r.mem.peak_allocated for r in _records(tmp_path, "plain")}
    for r in _records(tmp_path, "rated"):
        assert r.status == "ok" and r.quality is not None
        assert r.mem.peak_allocated == peaks[r.case.case_id], r.case.label
