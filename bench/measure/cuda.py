"""CUDA backend: CUDA events per call, the caching allocator's peaks, and an NVML
thread sampling what the whole card has in use."""

from __future__ import annotations

import gc
import os
from contextlib import nullcontext

from bench.measure.driver import Backend
from bench.measure.nvml import ClockSettle, Nvml, Sampler, norm_uuid
from bench.record.figures import Clocks


class CudaBackend(Backend):
    def __init__(self, device: str, metric: str):
        # Read before this process touches CUDA, so that the difference to the peak
        # includes our CUDA context as well as the model.
        self.nvml = Nvml()
        baselines = self.nvml.used_by_uuid()
        import torch

        self.torch = torch
        self.device = device
        self.index = int(device.split(":")[1]) if ":" in device else 0
        torch.cuda.set_device(self.index)
        self.props = torch.cuda.get_device_properties(self.index)
        uuid = getattr(self.props, "uuid", None)
        self.uuid = norm_uuid(str(uuid)) if uuid is not None else None
        self.nvml_handle = self.nvml.handle(uuid=self.uuid) if self.uuid else None
        self.nvml_baseline = baselines.get(self.uuid) if self.uuid else None
        self.metric = "reserved" if metric == "auto" else metric
        self._settle: ClockSettle | None = None
        self.warnings: list[str] = []
        if self.uuid is None:
            self.warnings.append("NVML not sampled: torch gives no device UUID to find it by")
        elif self.nvml_handle is None:
            self.warnings.append(self.nvml.error or f"NVML does not list GPU-{self.uuid}")

    def baseline(self) -> None:
        pass  # the NVML baseline was read before CUDA was initialized

    def total(self) -> int:
        return int(self.props.total_memory)

    def device_info(self) -> dict:
        torch = self.torch
        info = {
            "name": self.props.name,
            "total_memory": self.total(),
            "capability": f"{self.props.major}.{self.props.minor}",
            "multiprocessors": self.props.multi_processor_count,
            "uuid": self.uuid,
            "torch_cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "allow_tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
            "pytorch_cuda_alloc_conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF"),
        }
        info.update({f"nvml_{k}": v for k, v in self.nvml.device_info(self.nvml_handle).items()})
        return info

    def timer(self, call):
        start, end = self.torch.cuda.Event(enable_timing=True), self.torch.cuda.Event(enable_timing=True)

        def timed() -> float:
            start.record()
            out = call()
            end.record()
            end.synchronize()
            del out
            return start.elapsed_time(end) / 1000

        return timed

    def peaks(self) -> dict[str, int | None]:
        cuda = self.torch.cuda
        return {
            "allocated": int(cuda.max_memory_allocated(self.index)),
            "reserved": int(cuda.max_memory_reserved(self.index)),
        }

    def settle(self):
        # One for the worker, not one per case: its readings carry over, so once the
        # clock has settled after the build, a later case finds it settled at its
        # first reading unless the card went idle in between.
        if self.nvml_handle is None:
            return None
        if self._settle is None:
            self._settle = ClockSettle(self.nvml, self.nvml_handle)
        return self._settle

    def watch(self):
        return Sampler(self.nvml, self.nvml_handle) if self.nvml_handle is not None else nullcontext()

    def seen(self, sampler: Sampler | None, settled: bool | None) -> tuple[dict, Clocks | None]:
        fields = {
            "nvml_peak_used": sampler.peak_used if sampler else None,
            "nvml_baseline_used": self.nvml_baseline,
            "process_peak": sampler.peak_process if sampler else None,
        }
        return fields, sampler.clocks(settled) if sampler else None

    def reset(self, sync: bool = True) -> None:
        """Free what earlier calls left in the allocator's cache and start its peaks anew."""
        if sync:
            self.torch.cuda.synchronize(self.index)
        gc.collect()
        self.torch.cuda.empty_cache()
        self.torch.cuda.reset_peak_memory_stats(self.index)

    def recover(self) -> None:
        self.reset(sync=False)  # after a fatal CUDA error, a sync raises again

    def close(self) -> None:
        pass
