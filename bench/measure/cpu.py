"""CPU backend: perf_counter per call; peak memory from the kernel's RSS high-water
mark (VmHWM), reset through /proc/self/clear_refs before the first call (its own
peak) and again before the timed calls."""

from __future__ import annotations

import ctypes
import gc
import os
import time
from pathlib import Path

from bench.measure.driver import Backend


def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_bytes() -> int | None:
    kib = _status_kib("VmRSS")
    return kib * 1024 if kib is not None else None


def hwm_bytes() -> int | None:
    kib = _status_kib("VmHWM")
    return kib * 1024 if kib is not None else None


def reset_hwm() -> bool:
    """Set VmHWM back to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class CpuBackend(Backend):
    device = "cpu"
    metric = "process"

    def __init__(self):
        self.libc = _libc()
        self.base_rss: int | None = None
        self.warnings: list[str] = []
        if rss_bytes() is None or not reset_hwm():
            self.warnings.append("peak RSS cannot be read or reset here; CPU memory is not measured")
            self.can_measure = False
        else:
            self.can_measure = True

    def _settle(self) -> None:
        # malloc_trim hands free heap pages back to the kernel, so that a case's peak
        # is not inflated by what earlier calls left in glibc's free lists.
        gc.collect()
        if self.libc is not None:
            self.libc.malloc_trim(0)

    def baseline(self) -> None:
        """Called before the model is built: memory is counted from here."""
        self._settle()
        self.base_rss = rss_bytes()

    def total(self) -> int:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")

    def device_info(self) -> dict:
        return {"total_memory": self.total(), "threads": _threads()}

    def timer(self, call):
        def timed() -> float:
            t0 = time.perf_counter()
            out = call()
            elapsed = time.perf_counter() - t0
            del out
            return elapsed

        return timed

    def reset(self) -> None:
        self._settle()
        reset_hwm()  # VmHWM back to the RSS now: the next peak is the calls' own

    def peaks(self) -> dict[str, int | None]:
        """The RSS high-water mark since the last reset, over the RSS before the model."""
        hwm = hwm_bytes()
        measured = self.can_measure and hwm and self.base_rss is not None
        return {"process": hwm - self.base_rss if measured else None}

    def recover(self) -> None:
        self._settle()

    def close(self) -> None:
        pass


def _threads() -> int:
    import torch

    return torch.get_num_threads()
