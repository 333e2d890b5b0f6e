"""The model registry: configs/models.yaml, one entry per VAE we know how to build.

Each entry names the diffusers class, where pretrained weights live, the bundled
diffusers config used for random weights, and the shape and tiling facts the
workloads need. This module only reads data; building models is bench.models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.errors import BadInput

CONFIGS_DIR = Path(__file__).resolve().parent.parent / "configs"
DEFAULT_REGISTRY = CONFIGS_DIR / "models.yaml"

FAMILIES = ("image",)

# Tiling knobs a sweep may override, per tiling kind, with their type and a check.
# "kl" is AutoencoderKL's: a square pixel tile and the overlap between tiles; the
# latent tile size is derived from it (diffusers keeps both and does not re-derive).
TILING_KNOBS: dict[str, dict[str, tuple[type, str]]] = {
    "kl": {
        "tile_sample_min_size": (int, "a positive multiple of 8"),
        "tile_overlap_factor": (float, "a number in [0, 1)"),
    },
}


def check_knob(kind: str, knob: str, value: Any) -> str | None:
    """Why `value` is not allowed for `knob`, or None when it is."""
    knobs = TILING_KNOBS[kind]
    if knob not in knobs:
        return f"unknown tiling knob; allowed: {', '.join(knobs)}"
    typ, allowed = knobs[knob]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"must be {allowed}, got {value!r}"
    if typ is int and (not isinstance(value, int) or value <= 0 or value % 8):
        return f"must be {allowed}, got {value!r}"
    if knob == "tile_overlap_factor" and not 0 <= value < 1:
        return f"must be {allowed}, got {value!r}"
    return None


def normalize_knobs(kind: str, knobs: dict[str, Any]) -> dict[str, Any]:
    """Knobs in their declared type, so that 0 and 0.0 make the same case."""
    return {k: TILING_KNOBS[kind][k][0](v) for k, v in knobs.items()}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    cls: str  # a diffusers class name, or "module:Class" for a class of one's own
    family: str
    repo: str | None  # hub repo id or a local folder; None: random weights only
    subfolder: str | None
    revision: str | None
    config_path: Path
    config: dict = field(repr=False, hash=False, compare=False)
    params: int | None
    params_source: str | None
    spatial_compression: int
    tiling_kind: str
    tiling: dict  # default knobs, as diffusers sets them from the config

    @property
    def in_channels(self) -> int:
        return int(self.config.get("in_channels", 3))

    @property
    def latent_channels(self) -> int:
        return int(self.config["latent_channels"])


_REQUIRED = {
    "class": str,
    "family": str,
    "config": str,
    "spatial_compression": int,
    "tiling_kind": str,
    "tiling": dict,
}
_OPTIONAL = {
    "repo": str,
    "subfolder": str,
    "revision": str,
    "params": int,
    "params_source": str,
    "source": str,
}


def load_registry(path: str | Path | None = None) -> dict[str, ModelSpec]:
    path = Path(path) if path else DEFAULT_REGISTRY
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise BadInput(path, None, "model registry not found") from None
    except yaml.YAMLError as exc:
        raise BadInput(path, None, f"YAML syntax error: {_one_line(exc)}") from None
    if not isinstance(raw, dict) or not raw:
        raise BadInput(path, None, "must map model names to entries")
    return {str(name): _spec(path, str(name), entry) for name, entry in raw.items()}


def _spec(path: Path, name: str, entry: Any) -> ModelSpec:
    if not isinstance(entry, dict):
        raise BadInput(path, name, "must be a mapping")
    for key in entry:
        if key not in _REQUIRED and key not in _OPTIONAL:
            allowed = ", ".join([*_REQUIRED, *_OPTIONAL])
            raise BadInput(path, f"{name}.{key}", f"unknown key; allowed: {allowed}")
    for key in _REQUIRED:
        if key not in entry:
            raise BadInput(path, f"{name}.{key}", "missing")
    for key, typ in {**_REQUIRED, **_OPTIONAL}.items():
        if key in entry and entry[key] is not None and not isinstance(entry[key], typ):
            raise BadInput(path, f"{name}.{key}", f"must be {typ.__name__}")
    if entry["family"] not in FAMILIES:
        raise BadInput(path, f"{name}.family", f"must be one of {', '.join(FAMILIES)}")
    kind = entry["tiling_kind"]
    if kind not in TILING_KNOBS:
        raise BadInput(path, f"{name}.tiling_kind", f"must be one of {', '.join(TILING_KNOBS)}")
    for knob, value in entry["tiling"].items():
        why = check_knob(kind, knob, value)
        if why:
            raise BadInput(path, f"{name}.tiling.{knob}", why)
    config_path = (path.parent / entry["config"]).resolve()
    try:
        config = json.loads(config_path.read_text())
    except FileNotFoundError:
        raise BadInput(path, f"{name}.config", f"{config_path} not found") from None
    except json.JSONDecodeError as exc:
        raise BadInput(config_path, None, f"invalid JSON: {exc}") from None
    if "latent_channels" not in config:
        raise BadInput(config_path, "latent_channels", "missing")
    return ModelSpec(
        name=name,
        cls=entry["class"],
        family=entry["family"],
        repo=_repo(path, entry.get("repo")),
        subfolder=entry.get("subfolder"),
        revision=entry.get("revision"),
        config_path=config_path,
        config=config,
        params=entry.get("params"),
        params_source=entry.get("params_source"),
        spatial_compression=entry["spatial_compression"],
        tiling_kind=kind,
        tiling=normalize_knobs(kind, entry["tiling"]),
    )


def _repo(path: Path, repo: str | None) -> str | None:
    """A local folder is relative to the registry file, like `config`; a hub id stays."""
    if repo and repo.startswith((".", "/", "~")):
        return str((path.parent / Path(repo).expanduser()).resolve())
    return repo


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
