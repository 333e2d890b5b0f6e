"""Expand a sweep into the cases it measures (`bench.record.Case`), with the tiling
knobs each one runs with."""

from __future__ import annotations

import itertools
from typing import Any

from bench.config import Sweep
from bench.record import Case
from bench.registry import ModelSpec


def tiling_in_force(spec: ModelSpec, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The knobs diffusers will use: the model's defaults with the sweep's overrides."""
    knobs = {**spec.tiling, **(overrides or {})}
    if spec.tiling_kind == "kl":
        # diffusers derives the latent tile from the config once, at construction;
        # a changed pixel tile needs the latent one changed with it.
        knobs["tile_latent_min_size"] = knobs["tile_sample_min_size"] // spec.spatial_compression
    return dict(sorted(knobs.items()))


def expand(sweep: Sweep, specs: dict[str, ModelSpec]) -> list[Case]:
    """Cases grouped by (model, dtype), the unit one worker process handles; inside a
    group, smaller inputs first so that a card that runs out of memory does so last.

    Each model takes the sweep's axes, or those its entry in `models` gives. Video
    models get one case per frame count; image models ignore the frames axis (their
    cases have frames None)."""
    cases = []
    for model in sweep.models:
        spec = specs[model]
        ax = {name: sweep.axis(model, name) for name in ("ops", "resolutions", "frames", "batch", "tiled")}
        tiling = tiling_in_force(spec, sweep.axis(model, "tiling"))
        frames = (ax["frames"] or ()) if spec.is_video else (None,)
        for dtype in sweep.axis(model, "dtype"):
            group = [
                Case(
                    model=model,
                    op=op,
                    width=w,
                    height=h,
                    frames=f,
                    batch=batch,
                    dtype=dtype,
                    tiled=tiled,
                    tiling=tuple(tiling.items()) if tiled else None,
                )
                for op, (w, h), f, batch, tiled in itertools.product(
                    ax["ops"], ax["resolutions"], frames, ax["batch"], ax["tiled"]
                )
            ]
            group.sort(
                key=lambda c: (ax["ops"].index(c.op), c.width * c.height * (c.frames or 1), c.batch, c.tiled)
            )
            cases.extend(group)
    return cases
