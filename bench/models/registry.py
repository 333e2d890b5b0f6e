"""The model registry: configs/models.yaml, one entry per VAE we know how to build.

Each entry names the diffusers class, where pretrained weights live, the bundled
diffusers config used for random weights, and the shape and tiling facts the
workloads need. This module only reads data; building models is bench.models.build.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BadInput, shown
from bench.files import read_json, read_yaml
from bench.models.tiling import TILING_KNOBS, check_knob, check_strides, normalize_knobs
from bench.shipped import CONFIGS_DIR
from bench.strict import NAME_RE

DEFAULT_REGISTRY = CONFIGS_DIR / "models.yaml"

# image: one picture, no frames axis (4D input, or 5D with one frame for models
# built on a video architecture). video: a frames axis, 5D input. audio: a waveform,
# (batch, channels, samples), measured by its length in seconds.
FAMILIES = ("image", "video", "audio")

FRAME_RULE_RE = re.compile(r"^1\+(\d+)k$")
# `class`: a diffusers class by name, or `package.module:Class` for a class of one's own
# (imported only with --trust-code; see bench.models.build.model_class).
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
CLASS_RE = re.compile(rf"^({_IDENT}(\.{_IDENT})*:)?{_IDENT}$")


def frame_step(rule: str) -> int:
    """4 for "1+4k": valid frame counts are 1, 5, 9, ..."""
    return int(FRAME_RULE_RE.match(rule).group(1))


@dataclass(frozen=True)
class ModelSpec:
    name: str
    cls: str  # a diffusers class name, or "module:Class" for a class of one's own
    family: str  # "image" | "video" | "audio"
    repo: str | None  # hub repo id or a local folder; None: random weights only
    subfolder: str | None
    revision: str | None
    config_path: Path
    config: dict = field(repr=False, hash=False, compare=False)
    params: int | None
    params_source: str | None
    spatial_compression: int
    tiling_kind: str
    tiling: dict  # default knobs, as diffusers sets them
    latent_channels: int
    input_rank: int = 4  # 4: (batch, channels, height, width); 5: frames after channels
    temporal_compression: int = 1  # pixel frames per latent frame, after the first
    frame_rule: str | None = None  # video: valid frame counts, "1+4k"
    source: str | None = None  # where the bundled config's facts come from
    # the input's channels where the config's in_channels counts something else
    # (Mochi's counts its Fourier features)
    input_channels: int | None = None
    sample_rate: int | None = None  # audio: samples per second
    hop_length: int | None = None  # audio: samples per latent step
    # what decode is called with beside the latent (ConsistencyDecoderVAE's sampler
    # steps); meta.json records it with the model
    decode_kwargs: dict = field(default_factory=dict, hash=False)
    registry_path: Path | None = field(default=None, compare=False)  # the models.yaml it came from

    @property
    def outside_diffusers(self) -> bool:
        """Whether the class is one's own code (`module:Class`), not diffusers'."""
        return ":" in self.cls

    @property
    def config_hash(self) -> str:
        """sha256 of the bundled config's content: what a resume compares."""
        text = json.dumps(self.config, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def in_channels(self) -> int:
        if self.input_channels is not None:
            return self.input_channels
        # Qwen-Image's config calls it input_channels.
        return int(self.config.get("in_channels", self.config.get("input_channels", 3)))

    @property
    def tiles(self) -> bool:
        """Whether the class has tiling that vae-bench can switch on."""
        return self.tiling_kind != "none"

    @property
    def is_video(self) -> bool:
        return self.family == "video"

    @property
    def is_audio(self) -> bool:
        return self.family == "audio"

    def samples(self, seconds: float) -> int:
        """Audio samples for `seconds`: whole latent steps, rounded up, so that encode
        and decode give back the length they were given."""
        return math.ceil(round(seconds * self.sample_rate, 6) / self.hop_length) * self.hop_length

    def frames_ok(self, frames: int) -> bool:
        return self.frame_rule is not None and (frames - 1) % frame_step(self.frame_rule) == 0

    def frame_rule_text(self) -> str:
        """The rule in words, with the first valid counts: "1 + 4k (1, 5, 9, 13, 17, ...)"."""
        step = frame_step(self.frame_rule)
        first = ", ".join(str(1 + step * k) for k in range(5))
        return f"1 + {step}k ({first}, ...)"

    def latent_frames(self, frames: int | None) -> int:
        """Latent frames for `frames` pixel frames: the first frame alone, then one
        per `temporal_compression` frames (frames=None: one, an image)."""
        if frames is None:
            return 1
        return (frames - 1) // self.temporal_compression + 1


_REQUIRED = {
    "class": str,
    "family": str,
    "config": str,
    "tiling_kind": str,
    "tiling": dict,
}
# what a family needs beyond _REQUIRED, and may not be given otherwise
_FAMILY_KEYS = {
    "image": ("spatial_compression",),
    "video": ("spatial_compression",),
    "audio": ("sample_rate", "hop_length"),
}
_OPTIONAL = {
    "repo": str,
    "subfolder": str,
    "revision": str,
    "params": int,
    "params_source": str,
    "source": str,
    "input_rank": int,
    "temporal_compression": int,
    "frame_rule": str,
    "latent_channels": int,
    "input_channels": int,
    "spatial_compression": int,
    "sample_rate": int,
    "hop_length": int,
    "decode_kwargs": dict,
}


# The registry's one key that is not a model: diffusers classes not measured, each
# with the reason (bench.models.coverage lists them beside the registered ones).
EXCLUDED = "excluded"
MAX_REASON = 300


def _read(path: str | Path | None) -> tuple[Path, dict]:
    path = Path(path) if path else DEFAULT_REGISTRY
    raw = read_yaml(path, "model registry", follow=True)
    if not isinstance(raw, dict) or not [k for k in raw if k != EXCLUDED]:
        raise BadInput(path, None, "must map model names to entries")
    return path, raw


def load_exclusions(path: str | Path | None = None) -> dict[str, str]:
    """Class name -> why it is not measured, from the registry's `excluded` mapping."""
    path, raw = _read(path)
    given = raw.get(EXCLUDED) or {}
    if not isinstance(given, dict):
        raise BadInput(path, EXCLUDED, "must map class names to the reason each is not measured")
    for cls, why in given.items():
        if not isinstance(cls, str) or not CLASS_RE.match(cls):
            raise BadInput(path, EXCLUDED, f"{shown(cls)} is not a class name")
        if not isinstance(why, str) or not why.strip() or len(why) > MAX_REASON:
            raise BadInput(path, f"{EXCLUDED}.{cls}", f"must give the reason in 1 to {MAX_REASON} characters")
    return dict(given)


def load_registry(path: str | Path | None = None) -> dict[str, ModelSpec]:
    path, raw = _read(path)
    raw = {k: v for k, v in raw.items() if k != EXCLUDED}
    for name in raw:
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise BadInput(
                path,
                shown(name),
                "is not a model name: a letter or digit, then letters, digits, '.', '_' or '-'",
            )
    return {name: _spec(path, name, entry) for name, entry in raw.items()}


def _spec(path: Path, name: str, entry: Any) -> ModelSpec:
    if not isinstance(entry, dict):
        raise BadInput(path, name, "must be a mapping")

    def bad(key: str, why: str) -> BadInput:
        return BadInput(path, f"{name}.{key}", why)

    for key in entry:
        if key not in _REQUIRED and key not in _OPTIONAL:
            raise bad(key, f"unknown key; allowed: {', '.join([*_REQUIRED, *_OPTIONAL])}")
    for key in _REQUIRED:
        if key not in entry:
            raise bad(key, "missing")
    for key, typ in {**_REQUIRED, **_OPTIONAL}.items():
        value = entry.get(key)
        if value is not None and (not isinstance(value, typ) or (typ is int and isinstance(value, bool))):
            raise bad(key, f"must be {typ.__name__}")
    if not CLASS_RE.match(entry["class"]):
        raise bad(
            "class",
            f"{shown(entry['class'])} is not a class name: a diffusers class (AutoencoderKL) or "
            "package.module:Class (absolute, no leading dot)",
        )
    family = entry["family"]
    if family not in FAMILIES:
        raise bad("family", f"must be one of {', '.join(FAMILIES)}")
    positive = ("spatial_compression", "temporal_compression", "latent_channels", "input_channels")
    for key in (*positive, "sample_rate", "hop_length"):
        if entry.get(key) is not None and entry[key] < 1:
            raise bad(key, f"must be a positive integer, got {entry[key]}")
    for key in _FAMILY_KEYS[family]:
        if entry.get(key) is None:
            raise bad(key, f"missing: a model of the {family} family needs it")
    others = dict.fromkeys(k for keys in _FAMILY_KEYS.values() for k in keys if k not in _FAMILY_KEYS[family])
    for key in others:
        if key in entry:
            raise bad(key, f"not for the {family} family")
    video = family == "video"
    rank = entry.get("input_rank", {"video": 5, "audio": 3}.get(family, 4))
    ranks = {"video": (5,), "audio": (3,)}.get(family, (4, 5))
    if rank not in ranks:
        allowed = {
            "video": "5 (batch, channels, frames, height, width)",
            "audio": "3 (batch, channels, samples)",
        }.get(family, "4, or 5 for a single frame")
        raise bad("input_rank", f"must be {allowed} for the {family} family, got {rank}")
    temporal = entry.get("temporal_compression")
    rule = entry.get("frame_rule")
    if video:
        if temporal is None:
            raise bad("temporal_compression", "missing: a video model needs its frames per latent frame")
        if rule is None:
            raise bad("frame_rule", 'missing: a video model needs its valid frame counts, e.g. "1+4k"')
        if not FRAME_RULE_RE.match(rule) or frame_step(rule) < 1:
            raise bad(
                "frame_rule", f'must be "1+Nk" with N a positive integer (e.g. "1+4k"), got {shown(rule)}'
            )
    elif rule is not None:
        raise bad("frame_rule", f"only video models have a frames axis; an {family} model takes none")

    kind = entry["tiling_kind"]
    if kind not in TILING_KNOBS:
        raise bad("tiling_kind", f"must be one of {', '.join(TILING_KNOBS)}")
    spatial = entry.get("spatial_compression", 1)
    if kind == "spatiotemporal" and not video:
        raise bad("tiling_kind", "spatiotemporal tiling needs a video model (a frames axis)")
    if (kind == "audio") != (family == "audio") and kind != "none":
        raise bad("tiling_kind", f"{kind} tiling is not for the {family} family")
    for knob, value in entry["tiling"].items():
        why = check_knob(kind, knob, value, spatial, temporal or 1)
        if why:
            raise bad(f"tiling.{knob}", why)
    missing = [k for k in TILING_KNOBS[kind] if k not in entry["tiling"]]
    if missing:
        raise bad(
            "tiling", f"missing {', '.join(missing)}: give every knob of {kind} tiling, as diffusers sets it"
        )
    stride = check_strides(entry["tiling"])
    if stride:
        raise bad(f"tiling.{stride[0]}", stride[2])

    config_path = (path.parent / entry["config"]).resolve()
    if not config_path.exists():
        raise bad("config", f"{config_path} not found")
    config = read_json(config_path, "diffusers model config (JSON)")
    if not isinstance(config, dict):
        raise BadInput(config_path, None, "must hold a JSON object (a diffusers model config)")
    latent_channels = entry.get("latent_channels")
    if latent_channels is None and "latent_channels" not in config:
        raise BadInput(
            config_path, "latent_channels", f"missing (or give latent_channels in {name}'s registry entry)"
        )
    for key in ("latent_channels", "in_channels", "input_channels"):  # the shapes of a case's tensors
        value = config.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**16
        ):
            raise BadInput(config_path, key, f"must be a positive integer, got {shown(value)}")
    return ModelSpec(
        name=name,
        cls=entry["class"],
        family=family,
        repo=_repo(path, entry.get("repo")),
        subfolder=entry.get("subfolder"),
        revision=entry.get("revision"),
        config_path=config_path,
        config=config,
        params=entry.get("params"),
        params_source=entry.get("params_source"),
        spatial_compression=spatial,
        tiling_kind=kind,
        tiling=normalize_knobs(kind, entry["tiling"]),
        latent_channels=int(config["latent_channels"] if latent_channels is None else latent_channels),
        input_rank=rank,
        temporal_compression=temporal or 1,
        frame_rule=rule,
        source=entry.get("source"),
        input_channels=entry.get("input_channels"),
        sample_rate=entry.get("sample_rate"),
        decode_kwargs=_decode_kwargs(entry.get("decode_kwargs") or {}, bad),
        hop_length=entry.get("hop_length"),
        registry_path=path,
    )


def _decode_kwargs(given: dict, bad) -> dict:
    for key, value in given.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise bad("decode_kwargs", f"{shown(key)} is not an argument name")
        if not isinstance(value, (bool, int, float, str)):
            raise bad(f"decode_kwargs.{key}", f"must be a number, a flag or a word, got {shown(value)}")
    return dict(given)


def _repo(path: Path, repo: str | None) -> str | None:
    """A local folder is relative to the registry file, like `config`; a hub id stays."""
    if repo and repo.startswith((".", "/", "~")):
        return str((path.parent / Path(repo).expanduser()).resolve())
    return repo
