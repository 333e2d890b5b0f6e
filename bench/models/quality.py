"""Quality cost of a case: how far its output lies from the reference output of the
same model, op, input and size (untiled, no variant; in the case's dtype, or in
float32 where the sweep says `quality: float32`). Computed after the timed calls, with
both outputs moved to the CPU, so that neither counts in the case's peak. Which case is
a case's reference is a series rule (bench.record.series.reference_case)."""

from __future__ import annotations

import math
from typing import Any

from bench.record.figures import Quality

DECODE_RANGE = 2.0  # decoded pixels lie in [-1, 1]


def on_cpu(output: Any):
    """A call's output as a float32 CPU tensor: the pixels, or the latent (the mean of
    a latent distribution, which is what sampling is centred on)."""
    import torch

    if hasattr(output, "latent_dist"):
        output = output.latent_dist
    if hasattr(output, "mean") and not isinstance(output, torch.Tensor):
        output = output.mean
    if isinstance(output, (tuple, list)):
        output = output[0]
    return output.detach().to("cpu", torch.float32).contiguous()


def compare(out, ref, op: str, reference: str) -> Quality:
    """max and mean absolute difference, and PSNR: over [-1, 1] for decoded pixels
    (both clamped to it, as a pipeline's post-processing does), over the reference
    latent's own range for encode. Identical outputs have no PSNR (it is infinite)."""
    if out.shape != ref.shape:
        return Quality(reference, note=f"output shape {tuple(out.shape)} differs from the reference's")
    if op == "decode":
        out, ref = out.clamp(-1, 1), ref.clamp(-1, 1)
        peak = DECODE_RANGE
    else:
        peak = float(ref.max() - ref.min())
    diff = (out.double() - ref.double()).abs()
    mse = float((diff**2).mean())
    if not math.isfinite(mse):
        return Quality(reference, note="the output holds inf or NaN")
    psnr = None if mse == 0 or peak <= 0 else 10 * math.log10(peak**2 / mse)
    note = "identical to the reference" if mse == 0 else None
    return Quality(reference, float(diff.max()), float(diff.mean()), psnr, note)
