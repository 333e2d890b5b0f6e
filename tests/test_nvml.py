"""NVML reading, without a GPU: the sampler against a stand-in for pynvml, and the
promise that NVML missing is a warning and never a crash."""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

import pytest

from bench.measure import nvml


class FakeNvml:
    """Device memory that climbs to a peak and falls back, as during a decode."""

    NVML_CLOCK_GRAPHICS, NVML_CLOCK_SM, NVML_CLOCK_MEM = 0, 1, 2

    def __init__(self, series, process_series):
        self.series = list(series)
        self.process_series = list(process_series)
        self.calls = 0

    def nvmlDeviceGetMemoryInfo(self, h):
        used = self.series[min(self.calls, len(self.series) - 1)]
        self.calls += 1
        return SimpleNamespace(used=used, total=80 << 30)

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        used = self.process_series[min(self.calls, len(self.process_series) - 1)]
        return [
            SimpleNamespace(pid=os.getpid(), usedGpuMemory=used),
            SimpleNamespace(pid=1, usedGpuMemory=5 << 30),
        ]


def test_the_sampler_keeps_the_peak_of_the_card_and_of_this_process(monkeypatch):
    gib = 1 << 30
    fake = FakeNvml([1 * gib, 3 * gib, 7 * gib, 2 * gib], [gib, 2 * gib, 6 * gib, gib])
    monkeypatch.setattr(nvml, "_nvml", lambda: fake)
    with nvml.Sampler(h="handle", interval_s=0.001) as sampler:
        deadline = time.monotonic() + 5
        while fake.calls < 6 and time.monotonic() < deadline:
            time.sleep(0.005)
    assert sampler.peak_used == 7 * gib
    # Another process's 5 GiB is not ours.
    assert sampler.peak_process is not None and sampler.peak_process <= 6 * gib


def test_unavailable_process_memory_is_none_not_a_huge_number(monkeypatch):
    fake = FakeNvml([1], [2**64 - 1])  # NVML's "not available" sentinel
    monkeypatch.setattr(nvml, "_nvml", lambda: fake)
    assert nvml.process_used("handle", os.getpid()) is None


def test_missing_nvml_is_reported_not_raised(monkeypatch):
    import pynvml

    def fail():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(nvml, "_ready", None)
    monkeypatch.setattr(pynvml, "nvmlInit", fail)
    assert nvml.used_by_uuid() == {}
    assert nvml.handle(index=0) is None
    assert nvml.device_info(None) == {}
    assert "NVML unavailable" in nvml.last_error


def test_uuids_compare_without_their_prefix():
    assert nvml.norm_uuid("GPU-ABC-123") == nvml.norm_uuid(b"gpu-abc-123") == "abc-123"


@pytest.mark.gpu
def test_nvml_lists_the_cuda_device():
    assert nvml.used_by_uuid(), nvml.last_error
