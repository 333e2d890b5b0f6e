"""Expand a sweep into the cases it measures (`bench.record.case.Case`), with the tiling
knobs each one runs with."""

from __future__ import annotations

import itertools
from typing import Any

from bench.models.registry import ModelSpec
from bench.record.case import VARIANT_DEFAULTS, Case
from bench.sweep.config import Sweep
from bench.sweep.fields import VARIANT_AXES
from bench.sweep.parsers import knob_combinations


def tiling_in_force(spec: ModelSpec, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The knobs diffusers will use: the model's defaults with the sweep's overrides."""
    knobs = {**spec.tiling, **(overrides or {})}
    f = spec.spatial_compression
    if spec.tiling_kind == "kl":
        # diffusers derives the latent tile from the config once, at construction;
        # a changed pixel tile needs the latent one changed with it.
        knobs["tile_latent_min_size"] = knobs["tile_sample_min_size"] // f
    if spec.tiling_kind == "overlap_latent":
        knobs["tile_latent_min_height"] = knobs["tile_sample_min_height"] // f
        knobs["tile_latent_min_width"] = knobs["tile_sample_min_width"] // f
    return dict(sorted(knobs.items()))


def variants(sweep: Sweep, model: str, batch: int) -> list[dict[str, Any]]:
    """Each setting of the variant axes a case of `batch` takes, as the axes that differ
    from their defaults (slicing splits a batch, so a batch of one does not take it)."""
    axes = {name: sweep.axis(model, name) for name in VARIANT_AXES}
    if batch == 1:
        axes["slicing"] = (False,)
    # the axes' values are distinct (config), so each combination is one setting
    out = []
    for combo in itertools.product(*axes.values()):
        chosen = dict(zip(axes, combo, strict=True))
        out.append({k: v for k, v in chosen.items() if v != VARIANT_DEFAULTS[k]})
    return out


def tilings(spec: ModelSpec, knobs: dict[str, Any] | None) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Each tiling a tiled case runs with: (the knobs in force, the swept knobs that
    name it, which are empty unless a knob was given as a list)."""
    knobs = knobs or {}
    swept = [k for k, v in knobs.items() if isinstance(v, tuple)]
    return [
        (tiling_in_force(spec, combo), {k: combo[k] for k in swept}) for combo in knob_combinations(knobs)
    ]


def expand(sweep: Sweep, specs: dict[str, ModelSpec]) -> list[Case]:
    """Cases grouped by (model, dtype), the unit one worker process handles; inside a
    group, smaller inputs first so that a card that runs out of memory does so last,
    and the variants of one input together.

    Each model takes the sweep's axes, or those its entry in `models` gives. Video
    models get one case per frame count; image models ignore the frames axis (their
    cases have frames None). A case's `variant` holds the variant axes that differ
    from their defaults and the tiling knobs swept as lists; a case of neither has
    None, and the case_id it always had."""
    cases = []
    for model in sweep.models:
        spec = specs[model]
        ax = {name: sweep.axis(model, name) for name in ("ops", "resolutions", "frames", "batch", "tiled")}
        if not spec.tiles:  # a class without tiling has untiled cases only (the plan says so)
            ax["tiled"] = tuple(t for t in ax["tiled"] if not t)
        tiled_with = tilings(spec, sweep.axis(model, "tiling"))
        frames = (ax["frames"] or ()) if spec.is_video else (None,)
        # (width, height, frames, seconds): an audio input is its samples by 1
        if spec.is_audio:
            sizes = [(spec.samples(sec), 1, None, sec) for sec in sweep.axis(model, "seconds") or ()]
        else:
            sizes = [(w, h, f, None) for (w, h), f in itertools.product(ax["resolutions"], frames)]
        for dtype in sweep.axis(model, "dtype"):
            group = []
            for op, (w, h, f, sec), batch, tiled in itertools.product(
                ax["ops"], sizes, ax["batch"], ax["tiled"]
            ):
                for tiling, swept in tiled_with if tiled else [(None, {})]:
                    for variant in variants(sweep, model, batch):
                        both = {**variant, **swept}
                        group.append(
                            Case(
                                model=model,
                                op=op,
                                width=w,
                                height=h,
                                frames=f,
                                batch=batch,
                                dtype=dtype,
                                tiled=tiled,
                                tiling=tuple(tiling.items()) if tiling is not None else None,
                                variant=tuple(sorted(both.items())) if both else None,
                                seconds=sec,
                            )
                        )
            # sorted() is stable: the variants of one input stay in the order above
            group.sort(
                key=lambda c: (ax["ops"].index(c.op), c.width * c.height * (c.frames or 1), c.batch, c.tiled)
            )
            cases.extend(group)
    return cases
