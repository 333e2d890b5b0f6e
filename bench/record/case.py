"""What a case is: its parameters (`Case`), the id they hash to, and the bounds a
stored case's parameters are read within. Never what was measured of it
(bench.record.figures) nor how it was recorded (bench.record.run)."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass
from typing import Any

from bench import MEASUREMENT_VERSION
from bench.errors import BadInput, shown
from bench.record.series import series_label
from bench.strict import NAME_RE, Obj

OPS = ("encode", "decode")
DTYPES = ("float16", "bfloat16", "float32")
# Bounds no real case comes near: a side of a million pixels, a batch of 4096.
MAX_SIDE = 2**20
MAX_FRAMES = 100_000
MAX_BATCH = 4096
MIN_AUDIO_SECONDS, MAX_AUDIO_SECONDS = 1e-3, 3600.0  # audio: a millisecond to an hour
MAX_SAMPLES = 2**31  # audio: an hour at 384 kHz, with room
CASE_ID_RE = re.compile(r"^[0-9a-f]{8,64}$")
KNOB_RE = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")

# Variant axes a case can set, with what a case that sets none of them runs with
# (their defaults are left out of a case, so that its case_id is the one it had
# before variants existed). Tiling knobs given as lists join them by name.
VARIANT_DEFAULTS = {
    "channels_last": False,
    "compile": "none",
    "attention": "sdpa",
    "cudnn_benchmark": False,
    "slicing": False,
}


def parse_size(text: str) -> tuple[int, int]:
    """`1024` (a square) or `1024x768`."""
    parts = text.lower().split("x")
    if len(parts) in (1, 2) and all(p.isdigit() and 0 < int(p) <= 65536 for p in parts):
        w = int(parts[0])
        return w, int(parts[-1])
    raise BadInput(None, "--size", f"{shown(text)} is not a size; say 1024 (a square) or 1024x768")


def size_label(width: int, height: int, frames: int | None = None, seconds: float | None = None) -> str:
    """`WxH`, `WxHxF` for video, `10s` for audio: how a size is named everywhere."""
    if seconds is not None:
        return f"{seconds:g}s"
    label = f"{width}x{height}"
    return f"{label}x{frames}" if frames else label


def parse_seconds(text: str) -> float:
    """`30s`: an audio length."""
    try:
        value = float(text.strip().lower().removesuffix("s"))
    except ValueError:
        value = math.nan
    if not MIN_AUDIO_SECONDS <= value <= MAX_AUDIO_SECONDS:
        raise BadInput(None, "--size", f"{shown(text)} is not a length of audio; say 30s")
    return value


@dataclass(frozen=True)
class Case:
    """What runs: never what was measured. The same parameters give the same case_id
    on any machine, so runs from different devices or days match case by case."""

    model: str
    op: str
    width: int
    height: int
    frames: int | None
    batch: int
    dtype: str
    tiled: bool
    tiling: tuple[tuple[str, Any], ...] | None  # knobs in force; None when untiled
    # Variant axes in force that differ from VARIANT_DEFAULTS, and the tiling knobs a
    # sweep swept (given as lists): None for a case of none.
    variant: tuple[tuple[str, Any], ...] | None = None
    # audio: the length asked for, in seconds; the input is `width` samples (whole
    # latent steps of the model at its sample rate) by a `height` of 1
    seconds: float | None = None

    @property
    def tiling_dict(self) -> dict[str, Any] | None:
        return dict(self.tiling) if self.tiling is not None else None

    @property
    def variant_dict(self) -> dict[str, Any]:
        return dict(self.variant or ())

    @property
    def axes(self) -> tuple[tuple[str, Any], ...] | None:
        """The variant axes of `variant` (those of VARIANT_DEFAULTS), or None."""
        mine = tuple((k, v) for k, v in self.variant or () if k in VARIANT_DEFAULTS)
        return mine or None

    @property
    def swept_tiling(self) -> tuple[tuple[str, Any], ...] | None:
        """The tiling knobs of `variant` (swept as lists), or None."""
        mine = tuple((k, v) for k, v in self.variant or () if k not in VARIANT_DEFAULTS)
        return mine or None

    def axis(self, name: str) -> Any:
        """A variant axis as it is in force for this case."""
        return self.variant_dict.get(name, VARIANT_DEFAULTS.get(name))

    def params(self) -> dict[str, Any]:
        d = asdict(self)
        d["tiling"] = self.tiling_dict
        if self.variant is None:
            d.pop("variant")  # a case of no variant hashes as it always did
        else:
            d["variant"] = self.variant_dict
        if self.seconds is None:
            d.pop("seconds")  # nor does a picture or a video
        return d

    @property
    def case_id(self) -> str:
        payload = json.dumps(
            {"v": MEASUREMENT_VERSION, **self.params()}, sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def size_label(self) -> str:
        return size_label(self.width, self.height, self.frames, self.seconds)

    @property
    def megapixels(self) -> float:
        return self.width * self.height * (self.frames or 1) / 1e6

    @property
    def label(self) -> str:
        c = self
        return series_label(c.model, c.op, c.size_label, c.dtype, c.batch, c.tiled, c.variant)

    @classmethod
    def from_params(cls, d: dict[str, Any]) -> Case:
        tiling = d.get("tiling")
        variant = d.get("variant")
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
            variant=tuple(sorted(variant.items())) if variant else None,
            seconds=_optional_float(d.get("seconds")),
        )


def read_case(o: Obj) -> Case:
    """A case's parameters as a stored record holds them, strictly. An audio case's
    width is its samples."""
    seconds = o.num("seconds", lo=MIN_AUDIO_SECONDS, hi=MAX_AUDIO_SECONDS)
    return Case(
        model=o.str("model", required=True, pattern=NAME_RE),
        op=o.str("op", required=True, choices=OPS),
        width=o.int("width", required=True, lo=1, hi=MAX_SIDE if seconds is None else MAX_SAMPLES),
        height=o.int("height", required=True, lo=1, hi=MAX_SIDE),
        frames=o.int("frames", lo=1, hi=MAX_FRAMES),
        batch=o.int("batch", required=True, lo=1, hi=MAX_BATCH),
        dtype=o.str("dtype", required=True, choices=DTYPES),
        tiled=o.bool("tiled", required=True),
        tiling=_knobs(o, "tiling"),
        variant=_knobs(o, "variant") or None,
        seconds=seconds,
    )


def _knobs(o: Obj, key: str) -> tuple[tuple[str, Any], ...] | None:
    """Tiling knobs or variant axes: names to a flag, a finite number or a short word."""
    knobs = o.obj(key)
    if knobs is None:
        return None
    for name, value in knobs.d.items():
        if not KNOB_RE.match(name):
            raise knobs.bad(name, "is not a knob or axis name (lowercase letters, digits and _)")
        if isinstance(value, str):
            knobs.str(name, max_len=64)
        elif not isinstance(value, bool):
            knobs.num(name, lo=-1e12, hi=1e12)
    return tuple(sorted(knobs.d.items()))


def _optional_float(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def _frames(value: Any) -> int | None:
    """Frames as an int, or None for an image; a DataFrame that mixes image and video
    rows hands them over as floats, with NaN for None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)
