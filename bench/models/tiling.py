"""The tiling kinds of diffusers' VAE classes: which knobs each kind's API takes, what
each knob counts and so may be, and the check that a stride never skips input. The
registry names a model's kind; sweeps, docs specs and workloads read the knobs here."""

from __future__ import annotations

from typing import Any

from bench.errors import shown

# Tiling knobs a sweep may override, per tiling kind. The value says what a knob
# counts, which decides what it may be:
#   px      pixels: a positive multiple of the model's spatial compression
#           (of 8 for "kl", as before; diffusers keeps the latent tile it derived)
#   frames  pixel frames: a positive multiple of the model's temporal compression
#   factor  a number in [0, 1)
#   flag    true or false
#   count   audio samples, or latent steps: a positive integer
# "kl" is AutoencoderKL's API (also Flux.2's and TAESD's): a square pixel tile and
# the overlap between tiles; the latent tile is derived from the pixel one.
# "spatial" is enable_tiling(height, width, strides) of Wan, Qwen-Image and DC-AE.
# "spatiotemporal" adds the frame tile and stride of HunyuanVideo and LTX, and their
# framewise switches, which turn the frame tiling on or off.
# "overlap" is CogVideoX's: a tile and an overlap factor per side, no stride.
# "overlap_latent" is HunyuanVideo 1.5's: a tile and one overlap factor, the latent
# tile derived from the pixel one (as "kl" does).
# "spatial_overlap" is the HunyuanImage refiner's: a tile and one overlap factor (it
# also sets strides, which diffusers 0.42.1 never reads).
# "audio" is Oobleck's: encode cuts the samples into chunks with an overlap on each
# side, decode cuts the latent steps on its own (each overlap under half its chunk).
# "none": a class without tiling (or whose tiling switch nothing reads); its
# sweeps leave tiled cases out.
TILING_KNOBS: dict[str, dict[str, str]] = {
    "none": {},
    "audio": {
        "tile_sample_min_length": "count",
        "tile_sample_overlap": "count",
        "tile_latent_min_length": "count",
        "tile_latent_overlap": "count",
    },
    "overlap": {
        "tile_sample_min_height": "px",
        "tile_sample_min_width": "px",
        "tile_overlap_factor_height": "factor",
        "tile_overlap_factor_width": "factor",
    },
    "overlap_latent": {
        "tile_sample_min_height": "px",
        "tile_sample_min_width": "px",
        "tile_overlap_factor": "factor",
    },
    "spatial_overlap": {
        "tile_sample_min_height": "px",
        "tile_sample_min_width": "px",
        "tile_overlap_factor": "factor",
    },
    "kl": {
        "tile_sample_min_size": "px",
        "tile_overlap_factor": "factor",
    },
    "spatial": {
        "tile_sample_min_height": "px",
        "tile_sample_min_width": "px",
        "tile_sample_stride_height": "px",
        "tile_sample_stride_width": "px",
    },
    "spatiotemporal": {
        "tile_sample_min_height": "px",
        "tile_sample_min_width": "px",
        "tile_sample_min_num_frames": "frames",
        "tile_sample_stride_height": "px",
        "tile_sample_stride_width": "px",
        "tile_sample_stride_num_frames": "frames",
        "use_framewise_encoding": "flag",
        "use_framewise_decoding": "flag",
    },
}
_KNOB_TYPES = {"px": int, "frames": int, "factor": float, "flag": bool, "count": int}

# (stride, tile, what a stride larger than the tile skips)
STRIDES = (
    ("tile_sample_stride_height", "tile_sample_min_height", "rows"),
    ("tile_sample_stride_width", "tile_sample_min_width", "columns"),
    ("tile_sample_stride_num_frames", "tile_sample_min_num_frames", "frames"),
)


# (overlap, chunk): an overlap taken from both sides of each chunk
OVERLAPS = (
    ("tile_sample_overlap", "tile_sample_min_length"),
    ("tile_latent_overlap", "tile_latent_min_length"),
)


def check_knob(kind: str, knob: str, value: Any, spatial: int = 8, temporal: int = 1) -> str | None:
    """Why `value` is not allowed for `knob`, or None when it is. `spatial` and
    `temporal` are the model's compression factors."""
    knobs = TILING_KNOBS[kind]
    if not knobs:
        return "the model has no tiling (tiling_kind: none), so no tiling knobs"
    if knob not in knobs:
        return f"unknown tiling knob; allowed: {', '.join(knobs)}"
    what = knobs[knob]
    if what == "flag":
        return None if isinstance(value, bool) else f"must be true or false, got {shown(value)}"
    if what == "factor":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            return f"must be a number in [0, 1), got {shown(value)}"
        return None
    if what == "count":
        step, of = 1, ""
    elif kind == "kl":
        step, of = 8, ""
    elif what == "px":
        step, of = spatial, " (the model's spatial compression)"
    else:
        step, of = temporal, " (the model's temporal compression)"
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value % step:
        return f"must be a positive multiple of {step}{of}, got {shown(value)}"
    return None


def check_strides(knobs: dict[str, Any]) -> tuple[str, str, str] | None:
    """(stride knob, tile knob, why) for a stride larger than its tile, else None.

    diffusers steps through the input by the stride and keeps a stride's worth of
    every tile: a stride past the tile skips input and silently returns a smaller
    output than was asked for."""
    for stride, tile, skipped in STRIDES:
        if stride in knobs and tile in knobs and knobs[stride] > knobs[tile]:
            return (
                stride,
                tile,
                f"{stride} {knobs[stride]} is larger than {tile} {knobs[tile]}: diffusers would "
                f"skip the {skipped} between tiles and silently truncate the output; "
                "use a stride <= the tile size",
            )
    for overlap, chunk in OVERLAPS:
        if overlap in knobs and chunk in knobs and 2 * knobs[overlap] >= knobs[chunk]:
            return (
                overlap,
                chunk,
                f"{overlap} {knobs[overlap]} is half of {chunk} {knobs[chunk]} or more: the overlap "
                "on both sides would leave nothing of a chunk (diffusers refuses it)",
            )
    return None


def normalize_knobs(kind: str, knobs: dict[str, Any]) -> dict[str, Any]:
    """Knobs in their declared type, so that 0 and 0.0 make the same case."""
    return {k: _KNOB_TYPES[TILING_KNOBS[kind][k]](v) for k, v in knobs.items()}
