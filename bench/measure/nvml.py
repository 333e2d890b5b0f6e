"""NVML, read without creating a CUDA context: device memory in use, our process's
memory where the driver lists it, and the device facts meta.json records.

NVML missing or failing is a warning, never a crash: every method of `Nvml` returns
None (or an empty result) where NVML fails, and that `Nvml`'s `error` says why.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from bench.record.figures import THROTTLE_REASONS, Clocks
from bench.stats import median


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def norm_uuid(uuid: str) -> str:
    u = _text(uuid).lower()
    return u[4:] if u.startswith("gpu-") else u


def _reason_bits(nv) -> dict[str, int]:
    """bench.record.figures.THROTTLE_REASONS -> the bit NVML sets for it."""
    names = {
        "sw_power_cap": "SwPowerCap",
        "hw_slowdown": "HwSlowdown",
        "hw_power_brake_slowdown": "HwPowerBrakeSlowdown",
        "sw_thermal_slowdown": "SwThermalSlowdown",
        "hw_thermal_slowdown": "HwThermalSlowdown",
    }
    bits = {}
    for name, nvml_name in names.items():
        bit = getattr(nv, f"nvmlClocksEventReason{nvml_name}", None)
        bit = bit if bit is not None else getattr(nv, f"nvmlClocksThrottleReason{nvml_name}", None)
        if bit is not None:
            bits[name] = int(bit)
    return bits


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

    def _call(self, name: str, *args, default=None):
        """pynvml's `name`(*args), or `default` where it fails or this pynvml lacks it."""
        fn = getattr(self.lib, name, None)
        if fn is None:
            self.error = f"{name}: not in this pynvml"
            return default
        return self._try(fn, *args, default=default)

    def count(self) -> int:
        """How many GPUs NVML sees (none without NVML)."""
        return self._try(self.lib.nvmlDeviceGetCount, default=0) if self.lib is not None else 0

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

    def clocks(self, h) -> tuple[int | None, int | None]:
        """(SM, memory) clocks now, MHz."""
        nv = self.lib
        if nv is None or h is None:
            return None, None
        sm = self._call("nvmlDeviceGetClockInfo", h, getattr(nv, "NVML_CLOCK_SM", 1))
        mem = self._call("nvmlDeviceGetClockInfo", h, getattr(nv, "NVML_CLOCK_MEM", 2))
        return sm, mem

    def throttle(self, h) -> list[str]:
        """The clock-event reasons in force now that slow the GPU down (THROTTLE_REASONS)."""
        nv = self.lib
        if nv is None or h is None:
            return []
        name = "nvmlDeviceGetCurrentClocksEventReasons"
        if not hasattr(nv, name):  # pynvml before 12.535 names it so
            name = "nvmlDeviceGetCurrentClocksThrottleReasons"
        mask = self._call(name, h)
        if not mask:
            return []
        return [name for name, bit in _reason_bits(nv).items() if mask & bit]

    def temperature(self, h) -> int | None:
        nv = self.lib
        if nv is None or h is None:
            return None
        value = self._call("nvmlDeviceGetTemperature", h, getattr(nv, "NVML_TEMPERATURE_GPU", 0))
        return int(value) if value is not None else None

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


class ClockSettle:
    """Whether a GPU's SM clock has left its idle clock: the reading now, and one taken
    at least `span_s` before it, both within `within` of the highest seen in the last
    `keep_s` (a worker keeps one across its cases: the clock a power cap holds a big
    case at is the top again once the quicker readings before it are that old)."""

    def __init__(
        self,
        nv: Nvml,
        h,
        within: float = 0.10,
        span_s: float = 0.1,
        keep_s: float = 2.0,
        clock=time.monotonic,
    ):
        self.nv, self.h, self.within, self.span_s, self.clock = nv, h, within, span_s, clock
        self.keep_s = keep_s
        self.readings: list[tuple[float, int]] = []

    def __call__(self) -> bool:
        sm, _ = self.nv.clocks(self.h)
        if sm is None:
            return True  # nothing to wait for
        now = self.clock()
        self.readings = [(t, mhz) for t, mhz in self.readings if now - t <= self.keep_s]
        self.readings.append((now, sm))
        top = max(mhz for _, mhz in self.readings)
        floor = (1 - self.within) * top
        earlier = [mhz for t, mhz in self.readings if now - t >= self.span_s]
        recent = [mhz for t, mhz in self.readings if now - t < self.span_s]
        # high now, high span_s ago, and never below since (the card may have idled
        # between two cases of a worker)
        return bool(earlier) and earlier[-1] >= floor and min(recent) >= floor


class Sampler:
    """A thread that polls device-used memory (and our process's, the clocks and the
    throttle reasons, less often) until stopped; the temperature at start and end.

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
        self.sm: list[int] = []
        self.mem: list[int] = []
        self.reasons: set[str] = set()
        self.temperature_start: int | None = None
        self.temperature_end: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="nvml-sampler", daemon=True)

    def _sample(self, slow_too: bool) -> None:
        used = self.nv.device_used(self.h)
        if used is not None:
            self.peak_used = max(used, self.peak_used or 0)
        if slow_too:
            mine = self.nv.process_used(self.h, self.pid)
            if mine is not None:
                self.peak_process = max(mine, self.peak_process or 0)
            sm, mem = self.nv.clocks(self.h)
            if sm is not None:
                self.sm.append(sm)
            if mem is not None:
                self.mem.append(mem)
            self.reasons.update(self.nv.throttle(self.h))

    def _loop(self) -> None:
        n = 0
        while not self._stop.is_set():
            # The process list and the clocks cost more to read than the device total.
            self._sample(slow_too=n % 10 == 0)
            n += 1
            self._stop.wait(self.interval_s)

    def __enter__(self) -> Sampler:
        self.temperature_start = self.nv.temperature(self.h)
        self._sample(slow_too=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(slow_too=True)
        self.temperature_end = self.nv.temperature(self.h)

    def clocks(self, settled: bool | None = None) -> Clocks:
        return Clocks(
            sm_mhz_min=min(self.sm) if self.sm else None,
            sm_mhz_median=median(self.sm) if self.sm else None,
            mem_mhz_min=min(self.mem) if self.mem else None,
            mem_mhz_median=median(self.mem) if self.mem else None,
            throttle=tuple(r for r in THROTTLE_REASONS if r in self.reasons),
            temperature_start_c=self.temperature_start,
            temperature_end_c=self.temperature_end,
            settled=settled,
        )
