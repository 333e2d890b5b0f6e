"""The fields of a sweep file, as one table (FIELDS): for each, its parser
(bench.sweep.parsers), its default, the values it allows, whether a model's entry in
`models` may set it for itself, and how meta.json writes it back. bench.sweep.config
walks the table; a Sweep's fields are the table's, in its order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.record.case import DTYPES, OPS, VARIANT_DEFAULTS
from bench.sweep import parsers as p
from bench.sweep import sizes
from bench.sweep.parsers import BOOLS, Reading

WEIGHTS = ("auto", "pretrained", "random")
# Which peak the `percent` figure is computed from; all of them are recorded anyway.
# auto: reserved on CUDA (what the caching allocator took from the card), process on CPU.
MEMORY_METRICS = ("auto", "reserved", "allocated", "nvml", "process")
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")
# sdpa-*: pin one of torch's scaled-dot-product-attention kernels (CUDA only)
ATTENTION = ("sdpa", "naive", "sdpa-flash", "sdpa-efficient", "sdpa-math", "sdpa-cudnn")


class Required:
    """The default of a field a sweep file must give."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = Required()


def _same(value: Any, model: str | None) -> Any:
    return value


def _list(value: tuple, model: str | None) -> list:
    return list(value)


def _list_or_none(value: tuple | None, model: str | None) -> list | None:
    return list(value) if value is not None else None


def _labels(resolutions: tuple[tuple[int, int], ...] | None, model: str | None) -> list[str] | None:
    # none (a sweep of audio models alone) is written as null, which reads back as none
    return [f"{w}x{h}" for w, h in resolutions] if resolutions else None


def _knobs(value: dict[str, Any], model: str | None) -> dict[str, Any]:
    """A model's knobs (a knob swept as a tuple becomes a list), or every model's."""

    def one(knobs: dict[str, Any]) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in knobs.items()}

    return one(value) if model else {m: one(k) for m, k in value.items()}


@dataclass(frozen=True)
class Field:
    name: str
    # (this field, the value given, the field as a message names it, the sweep being
    # read, the model whose entry gives it or None) -> the value parsed
    parse: Callable[[Field, Any, str, Reading, str | None], Any]
    default: Any = REQUIRED  # what leaving it out means, as a sweep file writes it
    allowed: tuple | None = None  # the values it may take, where they are few
    per_model: bool = False  # an axis: a model's entry in `models` may set it too
    # the parsed value as a sweep file writes it (meta.json), sweep-wide or for a model
    dump: Callable[[Any, str | None], Any] = _same
    stored_unset: bool = True  # False: left out of meta.json when not given
    doc: str = ""  # one line for editors (bench/configs/sweep.schema.json)

    def read(self, value: Any, fld: str, r: Reading, model: str | None = None) -> Any:
        return self.parse(self, value, fld, r, model)


def _variant(name: str, allowed: tuple, doc: str) -> Field:
    return Field(name, p.variant, VARIANT_DEFAULTS[name], allowed, per_model=True, dump=_list, doc=doc)


# In the order of Sweep's fields, which is the order meta.json stores them in.
FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field("name", p.name, doc="part of the run folder's name"),
        Field("models", p.models, doc="model names of the registry, or {name: ..., <axes>} entries"),
        Field("ops", p.name_list, allowed=OPS, per_model=True, dump=_list, doc="encode, decode or both"),
        Field(
            "resolutions",
            sizes.resolutions,
            None,
            per_model=True,
            dump=_labels,
            doc="512 (a square) or WIDTHxHEIGHT like 768x512, positive multiples of 8; "
            "required unless every model is an audio model",
        ),
        Field(
            "frames",
            sizes.frames,
            None,
            per_model=True,
            dump=_list_or_none,
            doc="pixel frame counts (video models)",
        ),
        Field(
            "seconds",
            sizes.audio_seconds,
            None,
            per_model=True,
            dump=_list_or_none,
            stored_unset=False,
            doc="audio lengths in seconds (audio models), e.g. [10, 30]",
        ),
        Field("batch", p.batch, 1, per_model=True, dump=_list, doc="inputs per call"),
        Field("dtype", p.name_list, "float16", DTYPES, per_model=True, dump=_list, doc="the model's dtype"),
        Field("tiled", p.tiled, False, BOOLS, per_model=True, dump=_list, doc="[false, true] measures both"),
        Field(
            "tiling",
            p.tiling,
            None,
            per_model=True,
            dump=_knobs,
            doc="tiling knobs per model (a list is an axis); default: the registry's",
        ),
        _variant("channels_last", BOOLS, "the model and input in channels_last memory format"),
        _variant("compile", COMPILE_MODES, "torch.compile mode (none: eager)"),
        _variant("attention", ATTENTION, "attention implementation (sdpa-*: one kernel, CUDA only)"),
        _variant("cudnn_benchmark", BOOLS, "torch.backends.cudnn.benchmark"),
        _variant("slicing", BOOLS, "enable_slicing; only cases of batch > 1 take it"),
        Field(
            "quality",
            p.quality,
            False,
            (False, True, "float32"),
            doc="PSNR against the untiled output (float32: an untiled float32 reference)",
        ),
        Field("warmup", p.warmup, 1, doc="at least this many calls before timing; the first is stored apart"),
        Field(
            "warmup_time",
            p.seconds,
            "auto",
            doc="and at least this many seconds (auto: none; the stationarity check drops the rest)",
        ),
        Field("repeats", p.repeats, "auto", doc="auto: time calls until the median is precise; or a count"),
        Field("precision", p.precision, 0.01, doc="auto stops when the median's 95% interval is within this"),
        Field("min_repeats", p.repeat_count, 5, doc="auto times at least this many calls (and at least 16)"),
        Field("min_time", p.seconds, "auto", doc="and at least this many seconds (auto: 1 CUDA, 2 CPU)"),
        Field("max_time", p.seconds, 20.0, doc="and at most this many seconds per case"),
        Field("max_repeats", p.repeat_count, 300, doc="or this many calls"),
        Field("device", p.device, "auto", doc="auto, cpu, cuda, cuda:N, or all (one worker per GPU)"),
        Field(
            "devices",
            p.devices,
            None,
            dump=_list_or_none,
            stored_unset=False,
            doc="GPUs, like [cuda:0, cuda:2]",
        ),
        Field(
            "device_label",
            p.device_label,
            None,
            stored_unset=False,
            doc="the device's name in tables, docs and history",
        ),
        Field("weights", p.choice, "auto", WEIGHTS, doc="auto: pretrained where they load, else random"),
        Field(
            "memory_metric",
            p.choice,
            "auto",
            MEMORY_METRICS,
            doc="the peak `percent` is computed from (auto: reserved on CUDA, process on CPU)",
        ),
        Field("output", p.output, "results/runs", doc="the folder run folders go in"),
        Field(
            "registry", p.registry, None, doc="a models.yaml, relative to this file; default: the bundled one"
        ),
        # After the fields meta.json has always stored, so that their order stays.
        Field(
            "threads",
            p.threads,
            "auto",
            doc="a worker's intra-op threads (auto: OMP_NUM_THREADS if set, else the CPUs it may use)",
        ),
    )
}
REQUIRED_FIELDS = tuple(name for name, f in FIELDS.items() if f.default is REQUIRED)
# What a model's entry in `models` may set for itself.
AXES = tuple(name for name, f in FIELDS.items() if f.per_model)
VARIANT_AXES = tuple(VARIANT_DEFAULTS)


def defaults() -> dict[str, Any]:
    """Each optional field's default, parsed as a sweep file's value is: a sweep that
    leaves a field out is the sweep that gives it at its default."""
    r = Reading("<defaults>", Path.cwd(), got={"models": ()})
    for name, f in FIELDS.items():
        if f.default is not REQUIRED:
            r.got[name] = f.read(f.default, name, r)
    return {name: value for name, value in r.got.items() if name != "models"}
