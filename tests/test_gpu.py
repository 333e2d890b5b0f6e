"""CUDA and NVML measurement, where a GPU exists (marked `gpu`; skipped elsewhere)."""

from __future__ import annotations

import itertools

import pytest

from bench.cli import main
from bench.measure.protocol import Protocol
from bench.record.store import open_run

pytestmark = pytest.mark.gpu

MIB = 1024 * 1024


def test_a_known_allocation_shows_in_the_allocator_peak_exactly_and_in_nvml():
    import torch

    from bench.measure.cuda import CudaBackend

    backend = CudaBackend("cuda:0", "reserved")
    held = torch.empty(256 * MIB, dtype=torch.uint8, device="cuda:0")
    before = torch.cuda.memory_allocated(0)
    result = backend.run(
        lambda: torch.empty(64 * MIB, dtype=torch.uint8, device="cuda:0"), Protocol(warmup=1, repeats=3)
    )
    mem = result.mem
    assert mem.peak_allocated == before + 64 * MIB
    assert mem.peak_reserved >= mem.peak_allocated
    assert mem.percent == pytest.approx(mem.peak_reserved / mem.total * 100)
    if backend.nvml_handle is None:
        pytest.skip(f"NVML not usable here: {backend.warnings}")
    # NVML sees the whole card: our context, the held block and the call's block.
    assert mem.nvml_peak_used - mem.nvml_baseline_used >= held.numel() + 64 * MIB
    assert len(result.time.samples) == 3 and result.first_call_s > 0


def test_the_hooks_the_driver_calls_measure_the_card():
    """timer, reset and peaks, each alone: the driver's figures are only as right as these."""
    import torch

    from bench.measure.cuda import CudaBackend
    from bench.measure.driver import TIMED

    backend = CudaBackend("cuda:0", "allocated")
    before = torch.cuda.memory_allocated(0)
    backend.reset()
    block = torch.empty(32 * MIB, dtype=torch.uint8, device="cuda:0")
    peaks = backend.peaks()
    assert peaks["allocated"] == before + 32 * MIB and peaks["reserved"] >= peaks["allocated"]
    del block
    backend.reset()
    assert backend.peaks()["allocated"] == before
    x = torch.randn(1024, 1024, device="cuda:0")
    assert 0 < backend.timer(lambda: x @ x)() < 1
    backend.run(lambda: x @ x, Protocol(warmup=1, repeats=2))
    assert backend.phase == TIMED


def test_a_forced_oom_is_recorded_and_the_sweep_goes_on(write_sweep, tmp_path):
    sweep = write_sweep(
        models=["tiny-capped"],
        ops=["encode", "decode"],
        resolutions=[64, 4096],
        device="cuda",
        memory_metric="allocated",
    )
    assert main(["run", str(sweep)]) == 0
    run = next((tmp_path / "runs").iterdir())
    status = {(r.case.op, r.case.width): r.status for r in open_run(run).records}
    assert status == {
        ("encode", 64): "ok",
        ("encode", 4096): "oom",
        ("decode", 64): "ok",
        ("decode", 4096): "oom",
    }


def test_a_cuda_sweep_fills_the_cuda_fields(write_sweep, tmp_path):
    sweep = write_sweep(
        ops=["encode", "decode"], resolutions=[64], tiled=[False, True], device="cuda", dtype="float16"
    )
    assert main(["run", str(sweep)]) == 0
    for rec in open_run(next((tmp_path / "runs").iterdir())).records:
        mem = rec.mem
        assert rec.device == "cuda:0" and rec.status == "ok"
        assert mem.metric == "reserved"
        assert 0 < mem.peak_allocated <= mem.peak_reserved < mem.total
        assert mem.percent == pytest.approx(mem.peak_reserved / mem.total * 100)


def test_the_first_call_peak_is_kept_apart_on_the_gpu():
    import torch

    from bench.measure.cuda import CudaBackend

    backend = CudaBackend("cuda:0", "allocated")
    # as many calls as the warmup wants: on CUDA it also waits for the clock to settle
    sizes = itertools.chain([512 * MIB], itertools.repeat(64 * MIB))

    def call():
        return torch.empty(next(sizes), dtype=torch.uint8, device="cuda:0")

    before = torch.cuda.memory_allocated(0)
    m = backend.run(call, Protocol(warmup=2, warmup_time=0.0, repeats=5))
    assert m.mem.first_call_allocated == before + 512 * MIB
    assert m.mem.peak_allocated == before + 64 * MIB
    assert m.mem.first_call_reserved >= m.mem.first_call_allocated
    assert m.warmup_calls >= 2 and m.time.calls == 5


def test_clocks_are_sampled_during_the_timed_calls():
    import torch

    from bench.measure.cuda import CudaBackend

    backend = CudaBackend("cuda:0", "reserved")
    if backend.nvml_handle is None:
        pytest.skip(f"NVML not usable here: {backend.warnings}")
    x = torch.randn(2048, 2048, device="cuda:0")
    m = backend.run(lambda: x @ x, Protocol(warmup=1, warmup_time=0.2, min_time=0.3))
    clocks = m.clocks
    assert clocks is not None and clocks.sm_mhz_min and clocks.mem_mhz_min
    assert clocks.sm_mhz_min <= clocks.sm_mhz_median
    assert clocks.temperature_start_c is not None and clocks.settled in (True, False)
    assert m.time.calls >= 5


def test_device_all_runs_one_pinned_run_per_gpu(write_sweep, tmp_path):
    """`device: all`: every GPU of this host gets a run folder of its own, the groups are
    dealt over them, and meta records what else was on the GPUs before and after."""
    import torch

    count = torch.cuda.device_count()
    sweep = write_sweep(models=["tiny", "tiny-slow"], resolutions=[32, 64], device="all")
    assert main(["run", str(sweep)]) == 0
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == min(count, 2)  # two groups: a third GPU would get none
    metas = [open_run(r).meta for r in runs]
    devices = [m.device_kind for m in metas]
    assert len(set(devices)) == len(runs) and all(d.startswith("cuda:") for d in devices)
    host = metas[0].host
    assert sorted(host.devices) == sorted(devices) and sorted(host.runs) == [r.name for r in runs]
    for seen in (host.at_start, host.at_end):
        for d in host.devices:
            assert isinstance(seen["gpu_processes"][d], list)  # NVML answered: a list, maybe empty
    assert all(m.status == "complete" for m in metas)
    records = [x for r in runs for x in open_run(r).records]
    assert len(records) == 4 and all(x.ok for x in records)
    # each run measured on its own GPU: the records say so too
    for r, d in zip(runs, devices, strict=True):
        assert {x.device for x in open_run(r).records} == {d}
