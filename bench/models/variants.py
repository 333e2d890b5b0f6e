"""A case's variant axes (bench.record.case.VARIANT_DEFAULTS): which a model and a device
can take, checked when a sweep is planned, and putting them in force on the model for
one case and taking them back after it (the worker reuses one model for every case)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from bench.models.registry import ModelSpec
from bench.record.case import Case

# attention: sdpa-* -> the torch.nn.attention.SDPBackend it pins
SDPA_BACKENDS = {
    "sdpa-flash": "FLASH_ATTENTION",
    "sdpa-efficient": "EFFICIENT_ATTENTION",
    "sdpa-math": "MATH",
    "sdpa-cudnn": "CUDNN_ATTENTION",
}


def refusal(spec: ModelSpec, cls: type | None, axis: str, value: Any, device: str) -> str | None:
    """Why `spec` on `device` cannot take this value of a variant axis, or None. A class
    not imported (None: a dry run of a class outside diffusers) refuses nothing."""
    import torch

    known = cls is not None
    if axis == "channels_last" and value and spec.is_audio:
        return (
            f"{spec.name} is an audio model: its (batch, channels, samples) input has no channels_last layout"
        )
    if axis == "attention" and value == "naive" and known and not hasattr(cls, "set_attn_processor"):
        return (
            f"{spec.name} ({spec.cls}) does not let its attention processor be chosen; "
            "attention: naive is for models with set_attn_processor (AutoencoderKL, Flux.2)"
        )
    if axis == "attention" and value in SDPA_BACKENDS:
        if not device.startswith("cuda"):
            return f"{value} pins one of torch's CUDA attention kernels; on {device} use sdpa or naive"
        try:
            from torch.nn.attention import SDPBackend
        except ImportError:
            return f"this torch ({torch.__version__}) cannot pin an attention kernel; use sdpa or naive"
        if not hasattr(SDPBackend, SDPA_BACKENDS[value]):
            return f"this torch ({torch.__version__}) has no {SDPA_BACKENDS[value]} kernel to pin"
    if axis == "compile" and value != "none" and not dynamo_supported():
        return f"this torch ({torch.__version__}) has no TorchDynamo here, so no torch.compile; use none"
    if axis == "slicing" and value and known and not hasattr(cls, "enable_slicing"):
        return f"{spec.name} ({spec.cls}) has no enable_slicing"
    return None


def dynamo_supported() -> bool:
    try:
        import torch._dynamo

        return bool(torch._dynamo.is_dynamo_supported())
    except Exception:  # an import that fails in any way means no compile
        return False


def compile_unavailable(device: str) -> str | None:
    """Why torch.compile cannot make code on this device, or None. A sweep may ask for
    it anyway (it is checked where the case runs, not where it is planned): such a
    case is `skipped` with this reason."""
    if device.startswith("cuda"):
        from torch.utils._triton import has_triton

        return None if has_triton() else "torch.compile needs Triton for this GPU, and it is not installed"
    if not any(shutil.which(cc) for cc in ("g++", "c++", "clang++")):
        return "torch.compile on the CPU needs a C++ compiler (g++ or clang++), and none is on PATH"
    return None


def memory_format(spec: ModelSpec):
    import torch

    return torch.channels_last_3d if spec.input_rank == 5 else torch.channels_last


@contextmanager
def in_force(model, spec: ModelSpec, case: Case) -> Iterator[None]:
    """The case's axes set on the model and on torch, and set back on the way out,
    even when the case fails. compile is not set here: `compiled` wraps the call."""
    import torch

    with ExitStack() as undo:  # each setting's undo, last first
        if case.axis("channels_last"):
            model.to(memory_format=memory_format(spec))
            undo.callback(model.to, memory_format=torch.contiguous_format)
        attention = case.axis("attention")
        if attention == "naive":
            from diffusers.models.attention_processor import AttnProcessor

            saved = model.attn_processors
            model.set_attn_processor(AttnProcessor())
            undo.callback(model.set_attn_processor, saved)
        elif attention in SDPA_BACKENDS:
            from torch.nn.attention import SDPBackend, sdpa_kernel

            undo.enter_context(sdpa_kernel(getattr(SDPBackend, SDPA_BACKENDS[attention])))
        undo.callback(setattr, torch.backends.cudnn, "benchmark", torch.backends.cudnn.benchmark)
        torch.backends.cudnn.benchmark = bool(case.axis("cudnn_benchmark"))
        if case.axis("slicing"):
            model.enable_slicing()
            undo.callback(model.disable_slicing)
        yield


def compiled(call: Callable[[], Any], case: Case) -> Callable[[], Any]:
    """The call through torch.compile where the case asks for it. It compiles on its
    first call, so compile time lands in first_call_s."""
    mode = case.axis("compile")
    if mode == "none":
        return call
    import torch

    return torch.compile(call, mode=mode, fullgraph=False)


def forget_compiled() -> None:
    """Drop what torch.compile made for a case, so that the next case's compile starts
    clean and the code cache does not pile up over a sweep."""
    import torch

    torch._dynamo.reset()
