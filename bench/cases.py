"""Expand a sweep into the cases it measures, each with a stable id.

A case is what runs (model, op, size, dtype, tiling in force), never what was
measured; the same parameters give the same case_id on any machine, so runs from
different devices or days can be matched case by case.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from bench import MEASUREMENT_VERSION
from bench.config import Sweep
from bench.registry import ModelSpec


@dataclass(frozen=True)
class Case:
    model: str
    op: str
    width: int
    height: int
    frames: int | None
    batch: int
    dtype: str
    tiled: bool
    tiling: tuple[tuple[str, Any], ...] | None  # knobs in force; None when untiled

    @property
    def tiling_dict(self) -> dict[str, Any] | None:
        return dict(self.tiling) if self.tiling is not None else None

    def params(self) -> dict[str, Any]:
        d = asdict(self)
        d["tiling"] = self.tiling_dict
        return d

    @property
    def case_id(self) -> str:
        payload = json.dumps(
            {"v": MEASUREMENT_VERSION, **self.params()}, sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def size_label(self) -> str:
        label = f"{self.width}x{self.height}"
        return f"{label}x{self.frames}" if self.frames else label

    @property
    def label(self) -> str:
        parts = [self.model, self.op, self.size_label, self.dtype]
        if self.batch != 1:
            parts.append(f"batch {self.batch}")
        parts.append("tiled" if self.tiled else "untiled")
        return " ".join(parts)

    @classmethod
    def from_params(cls, d: dict[str, Any]) -> Case:
        tiling = d.get("tiling")
        return cls(
            model=d["model"],
            op=d["op"],
            width=int(d["width"]),
            height=int(d["height"]),
            frames=_frames(d.get("frames")),
            batch=int(d["batch"]),
            dtype=d["dtype"],
            tiled=bool(d["tiled"]),
            tiling=tuple(sorted(tiling.items())) if tiling is not None else None,
        )


def _frames(value: Any) -> int | None:
    """Frames as an int, or None for an image; a DataFrame that mixes image and video
    rows hands them over as floats, with NaN for None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)


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

    Video models get one case per frame count of the sweep; image models ignore the
    frames axis (their cases have frames None)."""
    cases = []
    for model, dtype in itertools.product(sweep.models, sweep.dtype):
        spec = specs[model]
        tiling = tiling_in_force(spec, sweep.tiling.get(model))
        frames = (sweep.frames or ()) if spec.is_video else (None,)
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
                sweep.ops, sweep.resolutions, frames, sweep.batch, sweep.tiled
            )
        ]
        group.sort(
            key=lambda c: (sweep.ops.index(c.op), c.width * c.height * (c.frames or 1), c.batch, c.tiled)
        )
        cases.extend(group)
    return cases
