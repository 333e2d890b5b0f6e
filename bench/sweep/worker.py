"""The worker process: builds one model in one dtype and measures the cases the
runner sends it, one at a time. It runs in a process of its own (forked from a server
that never touches CUDA) so that a crash, a fatal CUDA error or a kernel OOM kill
costs only the case in flight."""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone

from bench.measure.protocol import Protocol
from bench.models.build import Weights
from bench.models.registry import ModelSpec
from bench.record.case import Case
from bench.record.figures import Memory
from bench.record.run import CaseRecord

SETUP = "setup"  # the phase before a backend's own (bench.measure: first_call, warmup, timed)


@dataclass(frozen=True)
class Job:
    """What one worker needs to know; sent once, at start."""

    spec: ModelSpec
    weights: Weights
    device: str
    dtype: str
    warmup: int  # as the sweep says, for the record
    repeats: int | str
    protocol: Protocol  # how long to warm up and how many calls to time, on this device
    memory_metric: str
    quality: bool | str = False  # the sweep's: False, True (the case's dtype) or "float32"
    trust_code: bool = False  # the command line's --trust-code: a registry class of one's own
    threads: int | str = "auto"  # the sweep's: intra-op threads (bench.measure.threads)


@dataclass(frozen=True)
class Ready:
    """The worker's first message: the model is built, and what only it can tell."""

    device: dict  # the backend's facts of the device (the CUDA context's, on a GPU)
    params: int
    total: int  # the device's memory, bytes
    metric: str
    warnings: list[str]
    ready_at: float  # time.time() when the model was ready
    build_s: float  # building the model (weights included)
    pid: int
    threads: dict  # the threads in force, their source, the affinity, OpenMP's settings


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:500]


def is_allocation_failure(exc: BaseException) -> bool:
    """Out of memory on the CPU: torch's allocator raises a plain RuntimeError."""
    return isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)
    )


def _die_with_runner(lifeline) -> None:
    """If the runner dies (even by SIGKILL), the worker must not go on holding the GPU:
    a thread waits on a pipe only the runner holds open, and kills this process when it
    closes. (The worker's parent is the fork server, not the runner, so the kernel's
    parent-death signal would come too late.)"""

    def watch() -> None:
        try:
            lifeline.recv()
        except (EOFError, OSError):
            pass
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="runner-lifeline", daemon=True).start()


def main(conn, job: Job, lifeline) -> None:
    # Ctrl-C reaches the whole process group; the runner decides how to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Before torch starts: cuda:N is then the device NVML and nvidia-smi call N.
    os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    _die_with_runner(lifeline)
    try:
        _serve(conn, job)
    except (EOFError, BrokenPipeError):
        pass  # the runner went away


def _serve(conn, job: Job) -> None:
    from bench.measure import threads
    from bench.measure.driver import make_backend
    from bench.models.build import build, count_params

    if job.device.startswith("cuda") and _in_bad_fork():
        conn.send(("bad_fork", BAD_FORK))
        return
    try:
        in_force = threads.apply(job.threads)
        backend = make_backend(job.device, job.memory_metric)
        backend.baseline()
        t0 = time.perf_counter()
        model = build(job.spec, job.weights, job.device, job.dtype, job.trust_code)
        build_s = time.perf_counter() - t0
        # What is here now (torch, diffusers, the model) lives as long as the worker:
        # out of the collector's sight, the collection each reset of the peaks makes
        # takes microseconds instead of a fifth of a second.
        gc.collect()  # what the build left in cycles, before it is put out of reach
        gc.freeze()
    except Exception as exc:
        conn.send(("fatal", f"cannot build {job.spec.name} in {job.dtype}: {one_line(exc)}"))
        traceback.print_exc()
        return
    ready = Ready(
        device=backend.device_info(),
        params=count_params(model),
        total=backend.total(),
        metric=backend.metric,
        warnings=list(backend.warnings),
        ready_at=time.time(),
        build_s=build_s,
        pid=os.getpid(),
        threads=in_force,
    )
    conn.send(("ready", ready))
    while True:
        msg = conn.recv()
        if msg[0] == "stop":
            return
        conn.send(("result", measure_case(model, backend, job, msg[1])))


BAD_FORK = (
    "workers were started by spawn (fresh interpreters), not forked from a server: "
    "the server had initialised CUDA, which a forked process cannot use"
)


def _in_bad_fork() -> bool:
    import torch

    return bool(torch.cuda._is_in_bad_fork())


def record(job: Job, case: Case, status: str, started_at: str, **values) -> CaseRecord:
    """A case's record: what the job says of how it ran, and what became of it."""
    return CaseRecord.new(
        case,
        weights=job.weights.kind,
        device=job.device,
        status=status,
        warmup=job.warmup,
        repeats=job.repeats,
        started_at=started_at,
        ended_at=now(),
        **values,
    )


def measure_case(model, backend, job: Job, case: Case) -> CaseRecord:
    import torch

    from bench.models import variants
    from bench.models.workloads import prepare

    started = now()
    if case.axis("compile") != "none":
        why = variants.compile_unavailable(job.device)
        if why:
            return record(job, case, "skipped", started, error=why, mem=Memory(total=backend.total()))
    call = None
    backend.phase = SETUP
    t0 = time.perf_counter()
    setup_s = None
    try:
        with variants.in_force(model, job.spec, case):
            call = variants.compiled(prepare(model, job.spec, case, job.device), case)
            setup_s = time.perf_counter() - t0
            m = backend.run(call, job.protocol)
            measure_s = time.perf_counter() - t0 - setup_s
            t1 = time.perf_counter()
            output = _output(call) if job.quality else None
        call = None
        quality = _quality(model, backend, job, case, output) if job.quality else None
        quality_s = time.perf_counter() - t1 if job.quality else None
        return record(
            job,
            case,
            "ok",
            started,
            measured=m,
            quality=quality,
            setup_s=setup_s,
            measure_s=measure_s,
            quality_s=quality_s,
        )
    except torch.cuda.OutOfMemoryError as exc:  # the same class as torch.OutOfMemoryError
        status, error = "oom", one_line(exc)
    except Exception as exc:
        if is_allocation_failure(exc):
            status, error = "oom", one_line(exc)
        else:
            status, error = "error", one_line(exc)
            traceback.print_exc()
    finally:
        if case.axis("compile") != "none":
            variants.forget_compiled()
    # Leaving the except blocks drops the traceback and the tensors its frames held.
    call = None
    phase = backend.phase
    backend.recover()
    # the calls made before it failed, and the recovery: not time in transit
    measure_s = time.perf_counter() - t0 - setup_s if setup_s is not None else None
    return record(
        job,
        case,
        status,
        started,
        error=error,
        error_phase=phase,
        mem=Memory(total=backend.total(), metric=backend.metric),
        setup_s=setup_s,
        measure_s=measure_s,
    )


def _output(call):
    """One more call, after the measured ones, for its output (on the CPU)."""
    import torch

    from bench.models.quality import on_cpu

    with torch.inference_mode():
        return on_cpu(call())


def _quality(model, backend, job: Job, case: Case, output):
    """The case's output against its reference's, which is made now, after the case's
    calls were measured; a reference that fails leaves the figures empty, with why."""
    import torch

    from bench.models import quality
    from bench.models.workloads import prepare
    from bench.record import series

    dtype = "float32" if job.quality == "float32" else None
    ref_case = series.reference_case(case, dtype)
    if ref_case == case:
        _keep_reference(job, case, output)
        return quality.compare(output, output, case.op, "itself")
    words = series.reference_words(case, dtype)
    ref = _REFERENCE.get(ref_case.case_id)
    if ref is not None:
        return quality.compare(output, ref, case.op, words)
    try:
        if dtype:
            model.to(getattr(torch, dtype))
        ref = _output(prepare(model, job.spec, ref_case, job.device))
        _keep_reference(job, ref_case, ref)
        return quality.compare(output, ref, case.op, words)
    except Exception as exc:
        why = "ran out of memory" if is_oom(exc) else f"failed: {one_line(exc)}"
        return quality.Quality(words, note=f"the reference ({words}) {why}")
    finally:
        if dtype:
            model.to(getattr(torch, job.dtype))
        backend.recover()


# The latest reference output (on the CPU), by its case id: the cases of one input
# follow each other (untiled, then its variants, then tiled), so each of them is
# compared with one reference made once, and one model conversion for a float32 one.
_REFERENCE: dict[str, object] = {}


def _keep_reference(job: Job, ref_case: Case, output) -> None:
    """Hold `output` as the reference of the cases to come, except in a CPU run: there
    it would sit in the very memory the next case's peak is read from."""
    _REFERENCE.clear()
    if job.device != "cpu":
        _REFERENCE[ref_case.case_id] = output


def is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or is_allocation_failure(exc)
