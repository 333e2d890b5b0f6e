"""Sweep files: parse and validate a YAML sweep into a `Sweep`.

Every problem stops here with one line naming the file, the field and what is
allowed, before anything is built or written.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BadInput, shown
from bench.files import read_yaml
from bench.models.registry import (
    ModelSpec,
    check_knob,
    check_strides,
    frame_step,
    load_registry,
    normalize_knobs,
)
from bench.record.case import DTYPES, MAX_BATCH, MAX_FRAMES, MAX_SIDE, OPS, VARIANT_DEFAULTS
from bench.record.series import label_problem
from bench.strict import MAX_SECONDS, Invalid, number

WEIGHTS = ("auto", "pretrained", "random")
# Which peak the `percent` figure is computed from; all of them are recorded anyway.
# auto: reserved on CUDA (what the caching allocator took from the card), process on CPU.
MEMORY_METRICS = ("auto", "reserved", "allocated", "nvml", "process")
# Variant axes (bench.record.run.VARIANT_DEFAULTS): what each may be.
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")
# sdpa-*: pin one of torch's scaled-dot-product-attention kernels (CUDA only)
ATTENTION = ("sdpa", "naive", "sdpa-flash", "sdpa-efficient", "sdpa-math", "sdpa-cudnn")
DEVICE_RE = re.compile(r"^(auto|cpu|cuda|cuda:\d+|all)$")
GPU_RE = re.compile(r"^cuda:\d+$")
MAX_NAME = 64
# No sweep comes near these: a million calls a case, a day of timed calls.
MAX_CALLS = 1_000_000
RESOLUTION_RE = re.compile(r"^(\d+)x(\d+)$")


@dataclass(frozen=True)
class Sweep:
    name: str
    models: tuple[str, ...]
    ops: tuple[str, ...]
    resolutions: tuple[tuple[int, int], ...]  # (width, height)
    frames: tuple[int, ...] | None = None  # pixel frames, for video models only
    batch: tuple[int, ...] = (1,)
    dtype: tuple[str, ...] = ("float16",)
    tiled: tuple[bool, ...] = (False,)
    tiling: dict[str, dict[str, Any]] = field(default_factory=dict)  # a knob's value may be a tuple: an axis
    channels_last: tuple[bool, ...] = (False,)
    compile: tuple[str, ...] = ("none",)
    attention: tuple[str, ...] = ("sdpa",)
    cudnn_benchmark: tuple[bool, ...] = (False,)
    slicing: tuple[bool, ...] = (False,)  # enable_slicing; only cases of batch > 1 take it
    # compare each output with the untiled, plain case's (PSNR): true for a reference in
    # the case's own dtype, "float32" for one in float32
    quality: bool | str = False
    warmup: int = 1
    warmup_time: float | str = "auto"  # seconds; auto: 0.5 on CUDA, 0.2 on CPU
    repeats: int | str = "auto"  # a fixed count, or auto: until `precision` is met
    precision: float = 0.01  # of the median, for its 95% interval
    min_repeats: int = 5
    min_time: float | str = "auto"  # seconds; auto: 1 on CUDA, 2 on CPU
    max_time: float = 20.0  # seconds of timed calls per case
    max_repeats: int = 300
    device: str = "auto"  # or "all": every GPU of the host, one run each
    devices: tuple[str, ...] | None = None  # these GPUs of the host, one run each
    # the name tables, docs and history give the device in place of the driver's: two
    # rows for one model of card (a power cap, another host); meta.json keeps both
    device_label: str | None = None
    weights: str = "auto"
    memory_metric: str = "auto"
    output: str = "results/runs"
    registry: str | None = None  # None: the bundled configs/models.yaml
    source: str | None = field(default=None, compare=False)
    # Axes given for one model in `models` ({name: sdxl, dtype: float32}), normalized
    # like the sweep-wide ones; a model's other axes are the sweep-wide ones.
    per_model: dict[str, dict[str, Any]] = field(default_factory=dict)

    def axis(self, model: str, name: str) -> Any:
        """One of AXES for one model: its own value, or the sweep's."""
        own = self.per_model.get(model, {})
        if name == "tiling":
            return own.get("tiling", self.tiling.get(model))
        return own.get(name, getattr(self, name))

    def to_dict(self) -> dict[str, Any]:
        """The resolved sweep as stored in meta.json (and read back by from_dict)."""
        d = asdict(self)
        d["resolutions"] = _resolution_labels(self.resolutions)
        for key in ("models", "ops", "batch", "dtype", "tiled", *VARIANT_AXES):
            d[key] = list(d[key])
        d["tiling"] = {m: _knobs_to_dict(k) for m, k in self.tiling.items()}
        if self.frames is not None:
            d["frames"] = list(self.frames)
        d.pop("source")
        if self.devices:
            d["devices"] = list(self.devices)
        else:
            d.pop("devices")  # a sweep on one device stores what it always stored (absent: None)
        if self.device_label is None:
            d.pop("device_label")
        per_model = d.pop("per_model")
        d["models"] = [
            {"name": m, **_axes_to_dict(per_model[m])} if m in per_model else m for m in self.models
        ]
        return d

    def specs(self) -> dict[str, ModelSpec]:
        registry = load_registry(self.registry)
        return {name: registry[name] for name in self.models}


FIELDS = {f for f in Sweep.__dataclass_fields__ if f not in ("source", "per_model")}
VARIANT_AXES = ("channels_last", "compile", "attention", "cudnn_benchmark", "slicing")
# What a model's entry in `models` may set for itself.
AXES = ("ops", "resolutions", "frames", "batch", "dtype", "tiled", "tiling", *VARIANT_AXES)
REQUIRED = ("name", "models", "ops", "resolutions")


def overridden(sweep: Sweep, devices: str | None = None, label: str | None = None) -> Sweep:
    """The sweep with other GPUs (`all`, or `cuda:0,cuda:2`) and another device label,
    checked as a sweep file's fields are (bad input names the sweep's field)."""
    if not devices and label is None:
        return sweep
    raw = sweep.to_dict()
    if devices:
        raw.pop("devices", None)
        if devices.strip() == "all":
            raw["device"] = "all"
        else:
            raw["device"] = "auto"
            raw["devices"] = [d.strip() for d in devices.split(",") if d.strip()]
    if label is not None:
        raw["device_label"] = label
    return from_dict(raw, source=sweep.source)


def load_sweep(path: str | Path) -> Sweep:
    path = Path(path)
    raw = read_yaml(path, "sweep file", follow=True)
    if raw is None:
        raise BadInput(path, None, "empty file; a sweep needs at least " + ", ".join(REQUIRED))
    if not isinstance(raw, dict):
        raise BadInput(path, None, "must be a mapping of sweep fields")
    return from_dict(raw, source=path)


def from_dict(raw: dict[str, Any], source: str | Path | None = None) -> Sweep:
    src = str(source) if source else "<sweep>"
    for key in raw:
        if key not in FIELDS:
            raise BadInput(src, str(key), f"unknown key; allowed: {', '.join(sorted(FIELDS))}")
    for key in REQUIRED:
        if key not in raw:
            raise BadInput(src, key, "missing (required)")

    def bad(fld: str, why: str) -> BadInput:
        return BadInput(src, fld, why)

    name = raw["name"]
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise bad("name", f"must be a word of letters, digits, '.', '_' or '-', got {shown(name)}")
    if len(name) > MAX_NAME:
        # It becomes part of the run folder's name, which the file system limits.
        raise bad("name", f"must be at most {MAX_NAME} characters, got {len(name)}")

    registry_path = raw.get("registry")
    if registry_path is not None:
        if not isinstance(registry_path, str):
            raise bad("registry", "must be a path to a models.yaml")
        base = Path(source).parent if source else Path.cwd()
        registry_path = str((base / registry_path).resolve())
    if registry_path is not None and Path(registry_path).is_dir():
        raise bad("registry", f"{registry_path} is a folder; name the models.yaml file")
    if registry_path is not None and not Path(registry_path).exists():
        raise bad("registry", f"no such file {registry_path}")
    registry = load_registry(registry_path)  # a FIFO or a device there: the file layer says so

    models, entries = _models(raw["models"], registry, bad)
    ops = _strings(raw["ops"], "ops", bad, allowed=OPS)
    dtypes = _strings(raw.get("dtype", "float16"), "dtype", bad, allowed=DTYPES)
    resolutions = _resolutions(raw["resolutions"], "resolutions", bad)
    batch = _batch(raw.get("batch", 1), "batch", bad)
    tiled = _tiled(raw.get("tiled", False), "tiled", bad)
    variants = {
        axis: _variant(axis, raw.get(axis, VARIANT_DEFAULTS[axis]), axis, bad) for axis in VARIANT_AXES
    }
    quality = raw.get("quality", False)
    if not isinstance(quality, bool) and quality != "float32":
        why = "true (reference in the case's dtype), float32 (reference in float32) or false"
        raise bad("quality", f"must be {why}, got {shown(quality)}")
    per_model: dict[str, dict[str, Any]] = {}
    for i, (m, entry) in enumerate(entries.items()):
        where = f"models[{i}]"
        for key in entry:
            if key != "name" and key not in AXES:
                raise bad(f"{where}.{key}", f"not an axis a model can set; allowed: {', '.join(AXES)}")
        own: dict[str, Any] = {}
        if "ops" in entry:
            own["ops"] = _strings(entry["ops"], f"{where}.ops", bad, allowed=OPS)
        if "dtype" in entry:
            own["dtype"] = _strings(entry["dtype"], f"{where}.dtype", bad, allowed=DTYPES)
        if "resolutions" in entry:
            own["resolutions"] = _resolutions(entry["resolutions"], f"{where}.resolutions", bad)
        if "batch" in entry:
            own["batch"] = _batch(entry["batch"], f"{where}.batch", bad)
        if "tiled" in entry:
            own["tiled"] = _tiled(entry["tiled"], f"{where}.tiled", bad)
        for axis in VARIANT_AXES:
            if axis in entry:
                own[axis] = _variant(axis, entry[axis], f"{where}.{axis}", bad)
        if "frames" in entry:
            if not registry[m].is_video:
                raise bad(f"{where}.frames", f"{m} is an image model; it has no frames axis")
            own["frames"] = _frames(entry["frames"], [registry[m]], bad, fld=f"{where}.frames")
        if "tiling" in entry:
            if m in (raw.get("tiling") or {}):
                raise bad(f"{where}.tiling", f"{m}'s tiling is also given in `tiling`; give it in one place")
            own["tiling"] = _knobs(registry[m], entry["tiling"], f"{where}.tiling", bad)
        per_model[m] = own

    # frames: sweep-wide for the video models that give none of their own
    video_without = [registry[m] for m in models if "frames" not in per_model.get(m, {})]
    frames = _frames(raw.get("frames"), video_without, bad)
    for m in models:
        step = registry[m].spatial_compression
        own = per_model.get(m, {})
        fld = f"models[{list(entries).index(m)}].resolutions" if "resolutions" in own else "resolutions"
        for w, h in own.get("resolutions", resolutions):
            if w % step or h % step:
                raise bad(
                    fld,
                    f"{w}x{h} does not suit {m}: its sides must be multiples of {step}, "
                    f"{m}'s spatial compression (pixels per latent)",
                )

    given = raw.get("tiling")
    given = {} if given is None else given
    if not isinstance(given, dict):
        raise bad("tiling", "must map model names to tiling knobs")
    tiling = {}
    for model, knobs in given.items():
        if model not in models:
            raise bad(f"tiling.{model}", "overrides tiling for a model that is not in `models`")
        tiling[model] = _knobs(registry[model], knobs, f"tiling.{model}", bad)

    warmup = raw.get("warmup", 1)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or not 1 <= warmup <= MAX_CALLS:
        first = "the first call is stored apart"
        raise bad("warmup", f"must be an integer >= 1 (at most {MAX_CALLS}; {first}), got {shown(warmup)}")
    repeats = raw.get("repeats", "auto")
    if repeats != "auto" and (
        isinstance(repeats, bool) or not isinstance(repeats, int) or not 1 <= repeats <= MAX_CALLS
    ):
        raise bad(
            "repeats", f"must be auto or a positive integer (at most {MAX_CALLS}), got {shown(repeats)}"
        )
    warmup_time = _seconds(raw.get("warmup_time", "auto"), "warmup_time", bad, auto=True)
    min_time = _seconds(raw.get("min_time", "auto"), "min_time", bad, auto=True)
    max_time = _seconds(raw.get("max_time", 20.0), "max_time", bad)
    if max_time <= 0 or (min_time != "auto" and min_time > max_time):
        raise bad("max_time", f"must be above 0 and at least min_time, got {shown(max_time)}")
    precision = raw.get("precision", 0.01)
    if isinstance(precision, bool) or not isinstance(precision, (int, float)) or not 0 < precision < 1:
        why = f"must be a fraction of the median in (0, 1), like 0.01, got {shown(precision)}"
        raise bad("precision", why)
    min_repeats = _positive_int(raw.get("min_repeats", 5), "min_repeats", bad, MAX_CALLS)
    max_repeats = _positive_int(raw.get("max_repeats", 300), "max_repeats", bad, MAX_CALLS)
    if max_repeats < min_repeats:
        raise bad("max_repeats", f"must be at least min_repeats ({min_repeats}), got {max_repeats}")

    device = raw.get("device", "auto")
    if not isinstance(device, str) or not DEVICE_RE.match(device):
        raise bad("device", f"must be auto, cpu, cuda, cuda:N or all, got {shown(device)}")
    devices = raw.get("devices")
    if devices is not None:
        if not isinstance(devices, list) or not devices:
            raise bad("devices", f"must be a list of GPUs, like [cuda:0, cuda:2], got {shown(devices)}")
        for d in devices:
            if not isinstance(d, str) or not GPU_RE.match(d):
                raise bad("devices", f"each must be cuda:N, got {shown(d)}")
        if len(set(devices)) != len(devices):
            raise bad("devices", f"names a GPU twice: {shown(devices)}")
        if device != "auto":
            raise bad("devices", f"give device ({shown(device)}) or devices, not both")
    devices = tuple(devices) if devices else None
    device_label = raw.get("device_label")
    if device_label is not None:
        why = label_problem(device_label)
        if why:
            raise bad("device_label", why)
        if device == "all" or (devices and len(devices) > 1):
            raise bad(
                "device_label",
                "names one device; a sweep over several GPUs (device: all, or devices with more than "
                "one) cannot give them all one name",
            )
        device_label = device_label.strip()
    weights = _choice(raw.get("weights", "auto"), "weights", WEIGHTS, bad)
    metric = _choice(raw.get("memory_metric", "auto"), "memory_metric", MEMORY_METRICS, bad)
    output = raw.get("output", "results/runs")
    if not isinstance(output, str) or not output:
        raise bad("output", "must be a folder path")

    return Sweep(
        name=name,
        models=models,
        ops=ops,
        resolutions=resolutions,
        frames=frames,
        batch=batch,
        dtype=dtypes,
        tiled=tiled,
        tiling=tiling,
        **variants,
        quality=quality,
        warmup=warmup,
        warmup_time=warmup_time,
        repeats=repeats,
        precision=float(precision),
        min_repeats=min_repeats,
        min_time=min_time,
        max_time=max_time,
        max_repeats=max_repeats,
        device=device,
        devices=devices,
        device_label=device_label,
        weights=weights,
        memory_metric=metric,
        output=output,
        registry=registry_path,
        source=str(source) if source else None,
        per_model={m: own for m, own in per_model.items() if own},
    )


def _frames(value: Any, specs: list[ModelSpec], bad, fld: str = "frames") -> tuple[int, ...] | None:
    """A frames axis: needed by video models, checked against each one's frame rule
    up front; an image model has no frames axis and ignores it."""
    video = [s for s in specs if s.is_video]
    if value is None:
        if video:
            names = ", ".join(s.name for s in video)
            example = ", ".join(str(1 + frame_step(video[0].frame_rule) * k) for k in (4, 8))
            raise bad(
                fld,
                f"missing; {names} {'is a video model' if len(video) == 1 else 'are video models'} "
                f"and need{'s' if len(video) == 1 else ''} frame counts, e.g. frames: [{example}]",
            )
        return None
    if not video:
        raise bad(
            fld,
            "none of the models is a video model, so there is no frames axis; "
            "remove frames or add a video model",
        )
    frames = tuple(dict.fromkeys(_positive_int(f, fld, bad, MAX_FRAMES) for f in _as_list(value, fld, bad)))
    for spec in video:
        for f in frames:
            if not spec.frames_ok(f):
                raise bad(
                    fld,
                    f"{f} is not a valid frame count for {spec.name}: its frame counts are "
                    f"{spec.frame_rule_text()}",
                )
    return frames


def _models(value: Any, registry: dict[str, ModelSpec], bad) -> tuple[tuple[str, ...], dict[str, dict]]:
    """The model names, and the entries that set axes of their own: `sdxl` or
    `{name: sdxl, dtype: float32}`."""
    items = _as_list(value, "models", bad)
    names, entries = [], {}
    for i, item in enumerate(items):
        entry = item if isinstance(item, dict) else None
        name = entry.get("name") if entry is not None else item
        if not isinstance(name, str):
            where = f"models[{i}].name" if entry is not None else "models"
            raise bad(where, f"must be a model name, or a mapping with `name` and axes, got {shown(item)}")
        if name not in registry:
            raise bad("models", f"unknown model {shown(name)}; known: {', '.join(registry)}")
        if name in names:
            if entry is None and name not in entries:
                continue  # a plain name twice is the same model
            raise bad("models", f"{name} is listed twice; give its axes in one entry")
        names.append(name)
        if entry is not None:
            entries[name] = entry
    return tuple(names), entries


def _resolutions(value: Any, fld: str, bad) -> tuple[tuple[int, int], ...]:
    return tuple(dict.fromkeys(_resolution(r, bad, fld) for r in _as_list(value, fld, bad)))


def _batch(value: Any, fld: str, bad) -> tuple[int, ...]:
    return tuple(dict.fromkeys(_positive_int(b, fld, bad, MAX_BATCH) for b in _as_list(value, fld, bad)))


def _tiled(value: Any, fld: str, bad) -> tuple[bool, ...]:
    items = _as_list(value, fld, bad)
    if not all(isinstance(t, bool) for t in items):
        raise bad(fld, "must be true, false or a list of them, e.g. [false, true]")
    return tuple(dict.fromkeys(items))


def _knobs(spec: ModelSpec, knobs: Any, fld: str, bad) -> dict[str, Any]:
    """Tiling knobs; a knob given as a list is an axis of the sweep (a tuple here)."""
    if not isinstance(knobs, dict):
        raise bad(fld, "must be a mapping of tiling knobs")
    out = {}
    for knob, value in knobs.items():
        values = value if isinstance(value, list) else [value]
        if not values:
            raise bad(f"{fld}.{knob}", "must not be an empty list")
        for v in values:
            why = check_knob(spec.tiling_kind, knob, v, spec.spatial_compression, spec.temporal_compression)
            if why:
                raise bad(f"{fld}.{knob}", why)
        typed = [normalize_knobs(spec.tiling_kind, {knob: v})[knob] for v in values]
        out[knob] = tuple(dict.fromkeys(typed)) if isinstance(value, list) else typed[0]
    for combo in knob_combinations(out):
        _check_strides(spec, combo, bad, fld)
    return out


def knob_combinations(knobs: dict[str, Any]) -> list[dict[str, Any]]:
    """Every setting of the knobs, one per combination of those given as lists."""
    names = list(knobs)
    choices = [knobs[n] if isinstance(knobs[n], tuple) else (knobs[n],) for n in names]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*choices)]


def _knobs_to_dict(knobs: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in knobs.items()}


def _variant(axis: str, value: Any, fld: str, bad) -> tuple:
    """One variant axis: a value or a list of them, each of what the axis allows."""
    items = _as_list(value, fld, bad)
    if axis in ("channels_last", "cudnn_benchmark", "slicing"):
        if not all(isinstance(v, bool) for v in items):
            raise bad(fld, f"must be true, false or a list of them, got {shown(value)}")
    else:
        allowed = COMPILE_MODES if axis == "compile" else ATTENTION
        for v in items:
            if v not in allowed:
                raise bad(fld, f"{shown(v)} is not allowed; allowed: {', '.join(allowed)}")
    return tuple(dict.fromkeys(items))


def _resolution_labels(resolutions) -> list[str]:
    return [f"{w}x{h}" for w, h in resolutions]


def _axes_to_dict(own: dict[str, Any]) -> dict[str, Any]:
    """A model's own axes as a sweep file writes them (from_dict reads them back)."""
    out = {}
    for key, value in own.items():
        if key == "resolutions":
            out[key] = _resolution_labels(value)
        elif key == "tiling":
            out[key] = _knobs_to_dict(value)
        else:
            out[key] = list(value)
    return out


def _check_strides(spec: ModelSpec, overrides: dict[str, Any], bad, prefix: str) -> None:
    """A stride larger than its tile, with the registry's defaults filled in, is
    refused; the field named is the knob the sweep set (the stride if it set both)."""
    merged = {**spec.tiling, **overrides}
    found = check_strides(merged)
    if not found:
        return
    stride, tile, why = found
    fld = stride if stride in overrides or tile not in overrides else tile
    defaults = [k for k in (stride, tile) if k not in overrides]
    if defaults:
        why += f" ({' and '.join(defaults)} {'is' if len(defaults) == 1 else 'are'} {spec.name}'s default)"
    raise bad(f"{prefix}.{fld}", why)


def _as_list(value: Any, fld: str, bad) -> list:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise bad(fld, "must not be empty")
    return items


def _strings(value: Any, fld: str, bad, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    items = _as_list(value, fld, bad)
    for item in items:
        if not isinstance(item, str):
            raise bad(fld, f"must be a name or a list of names, got {shown(item)}")
        if allowed and item not in allowed:
            raise bad(fld, f"{shown(item)} is not allowed; allowed: {', '.join(allowed)}")
    return tuple(dict.fromkeys(items))


def _choice(value: Any, fld: str, allowed: tuple[str, ...], bad) -> str:
    if value not in allowed:
        raise bad(fld, f"must be one of {', '.join(allowed)}, got {shown(value)}")
    return value


def _seconds(value: Any, fld: str, bad, auto: bool = False) -> float | str:
    if auto and value == "auto":
        return "auto"
    try:
        return number(value, fld, 0.0, MAX_SECONDS)
    except Invalid:
        allowed = "auto or " if auto else ""
        raise bad(
            fld, f"must be {allowed}a number of seconds from 0 to {MAX_SECONDS:g}, got {shown(value)}"
        ) from None


def _positive_int(value: Any, fld: str, bad, hi: int = MAX_CALLS) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
        raise bad(fld, f"must be a positive integer (at most {hi}), got {shown(value)}")
    return value


def _resolution(value: Any, bad, fld: str = "resolutions") -> tuple[int, int]:
    """`512` is 512x512; `768x512` is width 768, height 512."""
    why = (
        f"{shown(value)} is not a resolution; use a positive multiple of 8 like 512 or 768x512 (WIDTHxHEIGHT)"
    )
    if isinstance(value, bool):
        raise bad(fld, why)
    if isinstance(value, int):
        w = h = value
    elif isinstance(value, str) and RESOLUTION_RE.match(value.strip()):
        m = RESOLUTION_RE.match(value.strip())
        w, h = int(m.group(1)), int(m.group(2))
    else:
        raise bad(fld, why)
    if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE) or w % 8 or h % 8:
        raise bad(fld, why)
    return (w, h)
