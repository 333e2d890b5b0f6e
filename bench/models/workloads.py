"""Build a case's input and the call that encodes or decodes it, with tiling set as
the case says. Family differences (input rank, frames, latent shape, tiling API)
live here."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch

from bench.models.registry import ModelSpec
from bench.record.case import Case

FRAMEWISE = ("use_framewise_encoding", "use_framewise_decoding")


def apply_tiling(model, spec: ModelSpec, tiling: dict[str, Any] | None) -> None:
    """Set the model's tiling to the case's: `tiling` is every knob in force, or None
    for an untiled case, which runs the whole input in one pass. The model is reused
    across cases, so every knob is set every time."""
    if not spec.tiles:
        return  # a class without tiling: nothing to switch (some raise if asked)
    framewise = spec.tiling_kind == "spatiotemporal"
    if tiling is None:
        model.disable_tiling()
        if framewise:
            # HunyuanVideo tiles frames by default even with tiling off.
            for flag in FRAMEWISE:
                setattr(model, flag, False)
        return
    if spec.tiling_kind in ("kl", "audio"):
        model.enable_tiling()
        for knob, value in tiling.items():
            setattr(model, knob, value)
        return
    # enable_tiling, not setattr: DC-AE derives its latent tile inside it (and
    # HunyuanVideo 1.5 takes the latent tile tiling_in_force derived).
    model.enable_tiling(**{k: v for k, v in tiling.items() if k not in FRAMEWISE})
    # and set them after (the framewise switches too): enable_tiling keeps what the
    # model had for a 0 it is given (`x or self.x`), the last case's setting
    for knob, value in tiling.items():
        setattr(model, knob, value)


def input_shape(case: Case, spec: ModelSpec) -> tuple[int, ...]:
    """encode: the pixels; decode: the latent of that many pixels. 5D inputs put
    frames after channels; an image through a 5D model is one frame."""
    if spec.is_audio:  # (batch, channels, samples); the latent has a step per hop
        if case.op == "encode":
            return (case.batch, spec.in_channels, case.width)
        return (case.batch, spec.latent_channels, case.width // spec.hop_length)
    if case.op == "encode":
        channels, frames, height, width = spec.in_channels, case.frames or 1, case.height, case.width
    else:
        f = spec.spatial_compression
        channels, frames = spec.latent_channels, spec.latent_frames(case.frames)
        height, width = case.height // f, case.width // f
    if spec.input_rank == 5:
        return (case.batch, channels, frames, height, width)
    return (case.batch, channels, height, width)


def output_shape(case: Case, spec: ModelSpec) -> tuple[int, ...]:
    """What the call returns: the latent for encode, the pixels for decode (a frame
    count that keeps to the model's frame rule comes back whole)."""
    return input_shape(replace(case, op="decode" if case.op == "encode" else "encode"), spec)


DTYPE_BYTES = {"float16": 2, "bfloat16": 2, "float32": 4}


def io_bytes(case: Case, spec: ModelSpec) -> int:
    """What the case's input and output alone take on the device: a floor under its
    peak, known before anything is built."""
    size = DTYPE_BYTES[case.dtype]
    return (math.prod(input_shape(case, spec)) + math.prod(output_shape(case, spec))) * size


def prepare(model, spec: ModelSpec, case: Case, device: str) -> Callable[[], Any]:
    """Set the model up for `case` and return the call to time.

    The input is made once, outside the timed call, and kept alive by the closure so
    that it counts in the peak as it would in a pipeline. encode returns what the
    model returns (a latent distribution, or DC-AE's and TAESD's latent tensor);
    decode returns the pixels (or samples).
    """
    apply_tiling(model, spec, case.tiling_dict)
    g = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(input_shape(case, spec), generator=g).to(device=device, dtype=getattr(torch, case.dtype))
    if case.axis("channels_last"):
        from bench.models.variants import memory_format

        x = x.contiguous(memory_format=memory_format(spec))

    method = model.encode if case.op == "encode" else model.decode
    # Most classes return a tuple without return_dict; some take no return_dict
    # (Cosmos 3's audio decode) or return the tensor itself (SAME, KVAE audio).
    kwargs = {"return_dict": False} if "return_dict" in inspect.signature(method).parameters else {}
    if case.op == "decode":
        kwargs.update(spec.decode_kwargs)

    def call():
        out = method(x, **kwargs)
        return out if isinstance(out, torch.Tensor) else out[0]

    return call
