"""Build a case's input and the call that encodes or decodes it, with tiling set as
the case says. Family differences (input rank, latent shape, tiling API) live here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from bench.cases import Case
from bench.registry import ModelSpec


def apply_tiling(model, spec: ModelSpec, tiling: dict[str, Any] | None) -> None:
    if tiling is None:
        model.disable_tiling()
        return
    model.enable_tiling()
    if spec.tiling_kind == "kl":
        for knob, value in tiling.items():
            setattr(model, knob, value)


def input_shape(case: Case, spec: ModelSpec) -> tuple[int, ...]:
    if case.op == "encode":
        return (case.batch, spec.in_channels, case.height, case.width)
    f = spec.spatial_compression
    return (case.batch, spec.latent_channels, case.height // f, case.width // f)


def prepare(model, spec: ModelSpec, case: Case, device: str) -> Callable[[], Any]:
    """Set the model up for `case` and return the call to time.

    The input is made once, outside the timed call, and kept alive by the closure so
    that it counts in the peak as it would in a pipeline.
    """
    apply_tiling(model, spec, case.tiling_dict)
    g = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(input_shape(case, spec), generator=g).to(device=device, dtype=getattr(torch, case.dtype))

    if case.op == "encode":

        def call():
            return model.encode(x).latent_dist
    else:

        def call():
            return model.decode(x).sample

    return call
