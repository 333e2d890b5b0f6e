"""NVML reading, without a GPU: the sampler against a stand-in for pynvml, and the
promise that NVML missing is a warning and never a crash."""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

import pytest

from bench.measure.nvml import ClockSettle, Nvml, Sampler, norm_uuid

GIB = 1 << 30


class FakeNvml:
    """Device memory that climbs to a peak and falls back, as during a decode; our
    process's memory with it, and another process that holds more than ours."""

    NVML_CLOCK_GRAPHICS, NVML_CLOCK_SM, NVML_CLOCK_MEM = 0, 1, 2

    def __init__(self, series, process_series, other=5 * GIB):
        self.series = list(series)
        self.process_series = list(process_series)
        self.other = other
        self.device_calls = 0
        self.process_calls = 0

    def nvmlDeviceGetMemoryInfo(self, h):
        used = self.series[min(self.device_calls, len(self.series) - 1)]
        self.device_calls += 1
        return SimpleNamespace(used=used, total=80 << 30)

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        used = self.process_series[min(self.process_calls, len(self.process_series) - 1)]
        self.process_calls += 1
        return [
            SimpleNamespace(pid=os.getpid(), usedGpuMemory=used),
            SimpleNamespace(pid=1, usedGpuMemory=self.other),
        ]


def test_the_sampler_keeps_the_peak_of_the_card_and_of_this_process():
    fake = FakeNvml([1 * GIB, 3 * GIB, 7 * GIB, 2 * GIB], [GIB, 2 * GIB, 4 * GIB, GIB])
    with Sampler(Nvml(fake), h="handle", interval_s=0.001) as sampler:
        deadline = time.monotonic() + 5
        # Every tenth poll reads the process list: wait until each series was read whole.
        while (fake.device_calls < 6 or fake.process_calls < 4) and time.monotonic() < deadline:
            time.sleep(0.005)
    assert fake.device_calls >= 6 and fake.process_calls >= 4
    assert sampler.peak_used == 7 * GIB
    # Our own peak exactly: the other process's 5 GiB is not ours.
    assert sampler.peak_process == 4 * GIB


def test_unavailable_process_memory_is_none_not_a_huge_number():
    fake = FakeNvml([1], [2**64 - 1])  # NVML's "not available" sentinel
    assert Nvml(fake).process_used("handle", os.getpid()) is None


def test_missing_nvml_is_reported_not_raised(monkeypatch):
    import pynvml

    def fail():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", fail)
    nv = Nvml()
    assert nv.used_by_uuid() == {}
    assert nv.handle(index=0) is None
    assert nv.device_info(None) == {}
    assert "NVML unavailable" in nv.error


def test_each_user_keeps_its_own_error():
    failing = SimpleNamespace(nvmlDeviceGetCount=lambda: 1 / 0)
    broken, fine = Nvml(failing), Nvml(FakeNvml([1], [1]))
    assert broken.used_by_uuid() == {} and "division by zero" in broken.error
    assert fine.error is None


def test_uuids_compare_without_their_prefix():
    assert norm_uuid("GPU-ABC-123") == norm_uuid(b"gpu-abc-123") == "abc-123"


class ClockedNvml(FakeNvml):
    """A card whose SM clock sags under a power cap in the middle of the timed calls."""

    NVML_TEMPERATURE_GPU = 0
    nvmlClocksEventReasonGpuIdle = 0x1
    nvmlClocksEventReasonSwPowerCap = 0x4
    nvmlClocksEventReasonHwThermalSlowdown = 0x40

    def __init__(self, sm, reasons, temperatures):
        super().__init__([GIB], [GIB])
        self.sm, self.reasons, self.temperatures = list(sm), list(reasons), list(temperatures)
        self.clock_calls = self.reason_calls = self.temperature_calls = 0

    def nvmlDeviceGetClockInfo(self, h, kind):
        if kind == self.NVML_CLOCK_MEM:
            return 10501
        value = self.sm[min(self.clock_calls, len(self.sm) - 1)]
        self.clock_calls += 1
        return value

    def nvmlDeviceGetCurrentClocksEventReasons(self, h):
        value = self.reasons[min(self.reason_calls, len(self.reasons) - 1)]
        self.reason_calls += 1
        return value

    def nvmlDeviceGetTemperature(self, h, sensor):
        value = self.temperatures[min(self.temperature_calls, len(self.temperatures) - 1)]
        self.temperature_calls += 1
        return value


def test_the_sampler_keeps_the_clocks_and_what_held_them_back():
    fake = ClockedNvml(
        sm=[1980, 1980, 1500, 1200, 1980],
        reasons=[0x1, 0x0, 0x4, 0x4 | 0x40, 0x0],  # idle is no throttle; a power cap, then heat
        temperatures=[41, 77],
    )
    with Sampler(Nvml(fake), h="handle", interval_s=0.001) as sampler:
        deadline = time.monotonic() + 5
        while fake.clock_calls < 5 and time.monotonic() < deadline:
            time.sleep(0.005)
    clocks = sampler.clocks(settled=True)
    assert clocks.sm_mhz_min == 1200 and clocks.mem_mhz_min == 10501
    assert clocks.throttle == ("sw_power_cap", "hw_thermal_slowdown")
    assert clocks.throttled == "power cap, thermal (HW)"
    assert (clocks.temperature_start_c, clocks.temperature_end_c) == (41, 77)
    assert clocks.settled is True


def test_a_pynvml_without_clock_reasons_is_no_throttle():
    nv = Nvml(FakeNvml([GIB], [GIB]))
    assert nv.throttle("handle") == [] and nv.temperature("handle") is None
    assert "not in this pynvml" in nv.error


def test_the_clock_settles_when_it_stays_near_its_highest():
    now = [0.0]
    fake = ClockedNvml(sm=[345, 900, 1800, 1950, 1980, 1970], reasons=[0], temperatures=[40])
    settle = ClockSettle(Nvml(fake), "handle", clock=lambda: now[0])
    seen = []
    for _ in range(6):
        seen.append(settle())
        now[0] += 0.06
    # Rising to 1950 at 0.18 s: the reading 0.1 s before it (900) is far below. At
    # 0.24 s, 1980 and the 1800 of 0.12 s are both within 10% of the top: settled.
    assert seen == [False, False, False, False, True, True]


@pytest.mark.gpu
def test_nvml_lists_the_cuda_device():
    nv = Nvml()
    assert nv.used_by_uuid(), nv.error


def test_a_worker_s_clock_check_carries_over_between_cases_and_forgets_old_tops():
    """Once settled, the next case's first reading is enough; a clock a power cap holds
    lower than the quick cases before it is the new top once those readings are old."""
    now = [0.0]
    mhz = iter([1980, 1980, 1980, 1980, 1500, 1500, 1500, 1500])

    class Clocks:
        def clocks(self, h):
            return next(mhz), None

    settle = ClockSettle(Clocks(), "h", keep_s=2.0, clock=lambda: now[0])
    assert [settle(), (now.__setitem__(0, 0.2), settle())[1]] == [False, True]
    now[0] = 0.5
    assert settle() is True  # the next case: settled at once
    now[0] = 1.0
    assert settle() is True
    now[0] = 1.5
    assert settle() is False  # 1500 is below 90% of the 1980 of the last 2 s
    now[0] = 3.2
    assert settle() is True  # the 1980 readings are gone: 1500 is the top, and held
