"""NVML, read without creating a CUDA context: device memory in use, our process's
memory where the driver lists it, and the device facts meta.json records.

NVML missing or failing is a warning, never a crash: every function here returns
None (or an empty result) and leaves the reason in `last_error`.
"""

from __future__ import annotations

import os
import threading
from typing import Any

last_error: str | None = None
_ready: bool | None = None


def _nvml():
    global _ready, last_error
    if _ready is False:
        return None
    try:
        import pynvml

        if not _ready:
            pynvml.nvmlInit()
            _ready = True
        return pynvml
    except Exception as exc:  # ImportError, NVMLError_LibraryNotFound, driver errors
        _ready = False
        last_error = f"NVML unavailable: {type(exc).__name__}: {exc}"
        return None


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def norm_uuid(uuid: str) -> str:
    u = _text(uuid).lower()
    return u[4:] if u.startswith("gpu-") else u


def _try(fn, *args, default=None):
    global last_error
    try:
        return fn(*args)
    except Exception as exc:
        last_error = f"{getattr(fn, '__name__', 'nvml')}: {exc}"
        return default


def used_by_uuid() -> dict[str, int]:
    """Device-used memory of every visible GPU, keyed by normalized UUID."""
    nv = _nvml()
    if nv is None:
        return {}
    out = {}
    for i in range(_try(nv.nvmlDeviceGetCount, default=0)):
        h = _try(nv.nvmlDeviceGetHandleByIndex, i)
        if h is None:
            continue
        uuid = _try(nv.nvmlDeviceGetUUID, h)
        mem = _try(nv.nvmlDeviceGetMemoryInfo, h)
        if uuid is not None and mem is not None:
            out[norm_uuid(uuid)] = int(mem.used)
    return out


def handle(uuid: str | None = None, index: int | None = None):
    nv = _nvml()
    if nv is None:
        return None
    if uuid is not None:
        return _try(nv.nvmlDeviceGetHandleByUUID, "GPU-" + norm_uuid(uuid))
    return _try(nv.nvmlDeviceGetHandleByIndex, index or 0)


def device_used(h) -> int | None:
    nv = _nvml()
    mem = _try(nv.nvmlDeviceGetMemoryInfo, h) if nv and h is not None else None
    return int(mem.used) if mem is not None else None


def processes(h) -> list[dict[str, Any]]:
    nv = _nvml()
    if nv is None or h is None:
        return []
    procs = _try(nv.nvmlDeviceGetComputeRunningProcesses, h, default=[]) or []
    return [{"pid": int(p.pid), "used": _used(p)} for p in procs]


def _used(proc) -> int | None:
    used = getattr(proc, "usedGpuMemory", None)
    # NVML reports "not available" (e.g. under some virtualization) as a sentinel.
    return int(used) if used is not None and used < 2**63 else None


def process_used(h, pid: int) -> int | None:
    for p in processes(h):
        if p["pid"] == pid:
            return p["used"]
    return None


def device_info(h) -> dict[str, Any]:
    nv = _nvml()
    if nv is None or h is None:
        return {}
    info: dict[str, Any] = {
        "name": _try(lambda: _text(nv.nvmlDeviceGetName(h))),
        "uuid": _try(lambda: _text(nv.nvmlDeviceGetUUID(h))),
        "driver": _try(lambda: _text(nv.nvmlSystemGetDriverVersion())),
        "total_memory": _try(lambda: int(nv.nvmlDeviceGetMemoryInfo(h).total)),
        "power_limit_w": _try(lambda: nv.nvmlDeviceGetPowerManagementLimit(h) / 1000),
        "persistence_mode": _try(lambda: bool(nv.nvmlDeviceGetPersistenceMode(h))),
        "mig_mode": _try(lambda: nv.nvmlDeviceGetMigMode(h)[0]),
        "pci_bus_id": _try(lambda: _text(nv.nvmlDeviceGetPciInfo(h).busId)),
    }
    clocks = {}
    for label, kind in (
        ("graphics", "NVML_CLOCK_GRAPHICS"),
        ("sm", "NVML_CLOCK_SM"),
        ("memory", "NVML_CLOCK_MEM"),
    ):
        k = getattr(nv, kind)
        clocks[label] = {
            "current_mhz": _try(nv.nvmlDeviceGetClockInfo, h, k),
            "max_mhz": _try(nv.nvmlDeviceGetMaxClockInfo, h, k),
        }
    info["clocks"] = clocks
    info["other_processes"] = [p for p in processes(h) if p["pid"] != os.getpid()]
    return info


class Sampler:
    """A thread that polls device-used memory (and our process's) until stopped.

    ctypes drops the GIL inside each NVML call, so polling does not stall the
    thread that launches kernels.
    """

    def __init__(self, h, pid: int | None = None, interval_s: float = 0.002):
        self.h = h
        self.pid = pid if pid is not None else os.getpid()
        self.interval_s = interval_s
        self.peak_used: int | None = None
        self.peak_process: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="nvml-sampler", daemon=True)

    def _sample(self, with_process: bool) -> None:
        used = device_used(self.h)
        if used is not None:
            self.peak_used = max(used, self.peak_used or 0)
        if with_process:
            mine = process_used(self.h, self.pid)
            if mine is not None:
                self.peak_process = max(mine, self.peak_process or 0)

    def _loop(self) -> None:
        n = 0
        while not self._stop.is_set():
            # The process list is costlier to read than the device total.
            self._sample(with_process=n % 10 == 0)
            n += 1
            self._stop.wait(self.interval_s)

    def __enter__(self) -> Sampler:
        self._sample(with_process=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(with_process=True)
