"""NVML, read without creating a CUDA context: device memory in use, our process's
memory where the driver lists it, and the device facts meta.json records.

NVML missing or failing is a warning, never a crash: every method of `Nvml` returns
None (or an empty result) where NVML fails, and that `Nvml`'s `error` says why.
"""

from __future__ import annotations

import os
import threading
from typing import Any


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def norm_uuid(uuid: str) -> str:
    u = _text(uuid).lower()
    return u[4:] if u.startswith("gpu-") else u


def _used(proc) -> int | None:
    used = getattr(proc, "usedGpuMemory", None)
    # NVML reports "not available" (e.g. under some virtualization) as a sentinel.
    return int(used) if used is not None and used < 2**63 else None


class Nvml:
    """One user's view of NVML (a backend, the runner naming a GPU). `lib` is pynvml,
    or a stand-in for it in tests."""

    def __init__(self, lib: Any = None):
        self.error: str | None = None
        self.lib = lib if lib is not None else self._load()

    def _load(self):
        try:
            import pynvml

            pynvml.nvmlInit()  # counted: each user may init, the library stays up
            return pynvml
        except Exception as exc:  # ImportError, NVMLError_LibraryNotFound, driver errors
            self.error = f"NVML unavailable: {type(exc).__name__}: {exc}"
            return None

    @property
    def available(self) -> bool:
        return self.lib is not None

    def _try(self, fn, *args, default=None):
        try:
            return fn(*args)
        except Exception as exc:
            self.error = f"{getattr(fn, '__name__', 'nvml')}: {exc}"
            return default

    def used_by_uuid(self) -> dict[str, int]:
        """Device-used memory of every visible GPU, keyed by normalized UUID."""
        nv = self.lib
        if nv is None:
            return {}
        out = {}
        for i in range(self._try(nv.nvmlDeviceGetCount, default=0)):
            h = self._try(nv.nvmlDeviceGetHandleByIndex, i)
            if h is None:
                continue
            uuid = self._try(nv.nvmlDeviceGetUUID, h)
            mem = self._try(nv.nvmlDeviceGetMemoryInfo, h)
            if uuid is not None and mem is not None:
                out[norm_uuid(uuid)] = int(mem.used)
        return out

    def handle(self, uuid: str | None = None, index: int | None = None):
        nv = self.lib
        if nv is None:
            return None
        if uuid is not None:
            return self._try(nv.nvmlDeviceGetHandleByUUID, "GPU-" + norm_uuid(uuid))
        return self._try(nv.nvmlDeviceGetHandleByIndex, index or 0)

    def device_used(self, h) -> int | None:
        mem = self._try(self.lib.nvmlDeviceGetMemoryInfo, h) if self.lib and h is not None else None
        return int(mem.used) if mem is not None else None

    def processes(self, h) -> list[dict[str, Any]]:
        if self.lib is None or h is None:
            return []
        procs = self._try(self.lib.nvmlDeviceGetComputeRunningProcesses, h, default=[]) or []
        return [{"pid": int(p.pid), "used": _used(p)} for p in procs]

    def process_used(self, h, pid: int) -> int | None:
        for p in self.processes(h):
            if p["pid"] == pid:
                return p["used"]
        return None

    def device_info(self, h) -> dict[str, Any]:
        nv = self.lib
        if nv is None or h is None:
            return {}
        t = self._try
        info: dict[str, Any] = {
            "name": t(lambda: _text(nv.nvmlDeviceGetName(h))),
            "uuid": t(lambda: _text(nv.nvmlDeviceGetUUID(h))),
            "driver": t(lambda: _text(nv.nvmlSystemGetDriverVersion())),
            "total_memory": t(lambda: int(nv.nvmlDeviceGetMemoryInfo(h).total)),
            "power_limit_w": t(lambda: nv.nvmlDeviceGetPowerManagementLimit(h) / 1000),
            "persistence_mode": t(lambda: bool(nv.nvmlDeviceGetPersistenceMode(h))),
            "mig_mode": t(lambda: nv.nvmlDeviceGetMigMode(h)[0]),
            "pci_bus_id": t(lambda: _text(nv.nvmlDeviceGetPciInfo(h).busId)),
        }
        clocks = {}
        for label, kind in (
            ("graphics", "NVML_CLOCK_GRAPHICS"),
            ("sm", "NVML_CLOCK_SM"),
            ("memory", "NVML_CLOCK_MEM"),
        ):
            k = getattr(nv, kind)
            clocks[label] = {
                "current_mhz": t(nv.nvmlDeviceGetClockInfo, h, k),
                "max_mhz": t(nv.nvmlDeviceGetMaxClockInfo, h, k),
            }
        info["clocks"] = clocks
        info["other_processes"] = [p for p in self.processes(h) if p["pid"] != os.getpid()]
        return info


class Sampler:
    """A thread that polls device-used memory (and our process's) until stopped.

    ctypes drops the GIL inside each NVML call, so polling does not stall the
    thread that launches kernels.
    """

    def __init__(self, nv: Nvml, h, pid: int | None = None, interval_s: float = 0.002):
        self.nv = nv
        self.h = h
        self.pid = pid if pid is not None else os.getpid()
        self.interval_s = interval_s
        self.peak_used: int | None = None
        self.peak_process: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="nvml-sampler", daemon=True)

    def _sample(self, with_process: bool) -> None:
        used = self.nv.device_used(self.h)
        if used is not None:
            self.peak_used = max(used, self.peak_used or 0)
        if with_process:
            mine = self.nv.process_used(self.h, self.pid)
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
