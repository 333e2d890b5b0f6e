"""AutoencoderKL subclasses that misbehave on purpose, for the runner's tests.

They run in the spawned worker, so they are named in a registry as
"tests.fakes:Class"; the size that triggers them is the input's pixel width.
"""

from __future__ import annotations

import os
import signal
import time

import torch
from diffusers import AutoencoderKL

TRIGGER_WIDTH = 48  # pixels


class OomAtSize(AutoencoderKL):
    """Raises the allocator's out-of-memory error when encoding a 48 px wide image."""

    def encode(self, x, *args, **kwargs):
        if x.shape[-1] == TRIGGER_WIDTH:
            # Hold a real allocation, as a failing call would, to check it is freed.
            self._held = torch.ones(1024, 1024)
            raise torch.OutOfMemoryError("out of memory (raised on purpose by tests.fakes)")
        return super().encode(x, *args, **kwargs)


class CrashAtSize(AutoencoderKL):
    """Dies by SIGKILL, as under the kernel's OOM killer, when encoding 48 px wide."""

    def encode(self, x, *args, **kwargs):
        if x.shape[-1] == TRIGGER_WIDTH:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().encode(x, *args, **kwargs)


class Slow(AutoencoderKL):
    """Takes a known while per call, so a test can stop a sweep in the middle."""

    delay_s = 0.15

    def encode(self, x, *args, **kwargs):
        time.sleep(self.delay_s)
        return super().encode(x, *args, **kwargs)


class MemoryCapped(AutoencoderKL):
    """Caps this process's CUDA allocator at 512 MiB before its first call, so that
    large inputs run out of memory for real."""

    cap_bytes = 512 * 1024 * 1024

    def _cap(self, x):
        if x.is_cuda and not getattr(self, "_capped", False):
            total = torch.cuda.get_device_properties(x.device).total_memory
            torch.cuda.set_per_process_memory_fraction(self.cap_bytes / total, x.device)
            self._capped = True

    def encode(self, x, *args, **kwargs):
        self._cap(x)
        return super().encode(x, *args, **kwargs)

    def decode(self, z, *args, **kwargs):
        self._cap(z)
        return super().decode(z, *args, **kwargs)


class AllocationFails(AutoencoderKL):
    """Asks the CPU allocator for a petabyte when encoding 48 px wide: a real
    allocation failure, which torch raises as a plain RuntimeError."""

    def encode(self, x, *args, **kwargs):
        if x.shape[-1] == TRIGGER_WIDTH:
            torch.empty(2**50, dtype=torch.uint8)
        return super().encode(x, *args, **kwargs)


class Recorder(AutoencoderKL):
    """Notes, during each call, what the case's variant axes put in force: the memory
    format of its input and weights, its attention processors, cudnn.benchmark, its
    tiling and slicing. The test reads `seen` in the same process."""

    seen: list[dict] = []

    def _note(self, x) -> None:
        Recorder.seen.append(
            {
                "input_channels_last": x.is_contiguous(memory_format=torch.channels_last),
                "weight_channels_last": self.encoder.conv_in.weight.is_contiguous(
                    memory_format=torch.channels_last
                ),
                "processors": sorted({type(p).__name__ for p in self.attn_processors.values()}),
                "cudnn_benchmark": torch.backends.cudnn.benchmark,
                "tiling": self.use_tiling,
                "tile": self.tile_sample_min_size,
                "slicing": self.use_slicing,
            }
        )

    def encode(self, x, *args, **kwargs):
        self._note(x)
        return super().encode(x, *args, **kwargs)


@torch.library.custom_op("vae_bench_tests::passthrough", mutates_args=())
def passthrough(x: torch.Tensor) -> torch.Tensor:
    return x.clone()


@passthrough.register_fake
def _passthrough_fake(x):
    # torch.compile traces with fake tensors, so only a compiled call gets here
    raise RuntimeError("cannot be compiled (raised on purpose by tests.fakes)")


class FailsCompiled(AutoencoderKL):
    """Fails when torch.compile traces it, and runs as usual in eager mode: a variant
    that fails at run time."""

    def encode(self, x, *args, **kwargs):
        return super().encode(passthrough(x), *args, **kwargs)


class OomUntiled(AutoencoderKL):
    """Runs out of memory encoding a 48 px wide image in one pass, and not tiled: a
    case whose untiled reference cannot be had."""

    def encode(self, x, *args, **kwargs):
        if x.shape[-1] == TRIGGER_WIDTH and not self.use_tiling:
            raise torch.OutOfMemoryError("out of memory (raised on purpose by tests.fakes)")
        return super().encode(x, *args, **kwargs)
