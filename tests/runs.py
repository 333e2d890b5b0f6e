"""Synthetic runs for the tests of compare, history and plot, written through the
store's own writer: records and meta.json in the format every run has."""

from __future__ import annotations

from pathlib import Path

import yaml

from bench.record.case import Case
from bench.record.figures import Memory, Timing
from bench.record.run import CaseRecord, RunMeta
from bench.record.store import RunWriter
from tests.conftest import TINY_REGISTRY

MIB = 1024**2
GIB = 1024**3


def case(
    op: str = "decode",
    size: int = 512,
    tiled: bool = False,
    model: str = "sd-v1",
    dtype: str = "float16",
    frames: int | None = None,
    status: str = "ok",
    samples: list[float] | None = None,
    peak: int | None = 2 * GIB,
    device: str = "cuda:0",
    total: int = 24 * GIB,
) -> CaseRecord:
    """One case record; `peak` goes into the field of the device's metric."""
    params = Case(
        model=model,
        op=op,
        width=size,
        height=size,
        frames=frames,
        batch=1,
        dtype=dtype,
        tiled=tiled,
        tiling=(("tile_sample_min_size", 256),) if tiled else None,
    )
    gpu = device.startswith("cuda")
    ok = status == "ok"
    samples = samples if samples is not None else [0.1] * 10
    metric = "reserved" if gpu else "process"
    mem = Memory(total=total, metric=metric)
    if ok:
        mem = Memory(
            peak_allocated=peak if gpu else None,
            peak_reserved=peak if gpu else None,
            process_peak=None if gpu else peak,
            total=total,
            metric=metric,
        ).with_percent()
    return CaseRecord.new(
        params,
        weights="random",
        device=device,
        status=status,
        error=None if ok else "CUDA out of memory" if status == "oom" else "boom",
        warmup=1,
        repeats=len(samples),
        first_call_s=0.5,
        time=Timing.of(samples) if ok else None,
        mem=mem,
        started_at="2026-01-01T00:00:00Z",
        ended_at="2026-01-01T00:00:01Z",
    )


def write_run(
    root: Path,
    name: str,
    cases: list[CaseRecord],
    device: str = "cuda:0",
    device_name: str = "NVIDIA GeForce RTX 4090",
    started_at: str = "2026-01-01T00:00:00Z",
    environment: dict | None = None,
    device_extra: dict | None = None,
) -> Path:
    env = {"torch": "2.5.0", "diffusers": "0.31.0", "torch_cuda": "12.4", "cudnn": 90100}
    env.update(environment or {})
    dev = {"device": device, "name": device_name, "nvml_driver": "550.54", "cudnn": env.get("cudnn")}
    dev.update(device_extra or {})
    meta = RunMeta(name="t", status="complete", started_at=started_at, environment=env, device=dev)
    writer = RunWriter.create(root, name, meta, unique=False)
    for c in cases:
        writer.append(c)
    writer.close()
    return writer.dir


def noisy(center: float, spread: float = 0.01, n: int = 10) -> list[float]:
    """n samples spread evenly within center*(1 +- spread)."""
    if n == 1:
        return [center]
    return [center * (1 - spread + 2 * spread * i / (n - 1)) for i in range(n)]


def tiny_sweep(**fields) -> dict:
    """A sweep of the tiny VAE on the CPU, a few calls a case (fields on top)."""
    return {
        "name": "t",
        "models": ["tiny"],
        "ops": ["encode"],
        "resolutions": [32],
        "dtype": "float32",
        "warmup_time": 0,  # tiny calls: a warmup of calls, not of 0.2 s each
        "repeats": 2,
        "device": "cpu",
        "weights": "random",
        "registry": str(TINY_REGISTRY),
        **fields,
    }


def tiny_cpu_run(root: Path, **fields) -> Path:
    """A run of tiny_sweep(**fields), made by `vae-bench run` into root/runs."""
    from bench.cli import main

    sweep = root / "sweep.yaml"
    sweep.write_text(yaml.safe_dump(tiny_sweep(output=str(root / "runs"), **fields)))
    assert main(["run", str(sweep)]) == 0
    (run,) = (root / "runs").iterdir()
    return run
