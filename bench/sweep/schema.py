"""The JSON Schema of a sweep file, made from the field table (bench.sweep.fields):
each field's type from its parser, its default, the values it allows and its one
line of doc; a model's entry in `models` takes the fields marked per_model. Editors
read it (the shipped sweeps name it in their first line) to complete and check
fields as they are typed.

The schema is looser than the reader, never stricter: what needs the registry or
another field (a side that suits the model's compression, max_time at least
min_time, frames only for video models) is left to `vae-bench run --dry-run`.
Shipped as bench/configs/sweep.schema.json (`vae-bench schema >
bench/configs/sweep.schema.json` writes it anew; a test keeps the two equal).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.models.tiling import TILING_KNOBS
from bench.record.case import MAX_AUDIO_SECONDS, MAX_BATCH, MAX_FRAMES, MAX_SIDE, MIN_AUDIO_SECONDS
from bench.record.series import MAX_LABEL
from bench.strict import MAX_SECONDS
from bench.sweep import parsers as p
from bench.sweep import sizes
from bench.sweep.fields import FIELDS, REQUIRED, REQUIRED_FIELDS, Field

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def one_or_list(item: dict[str, Any]) -> dict[str, Any]:
    """A value, or a non-empty list of them: how every axis is given."""
    return {"anyOf": [item, {"type": "array", "items": item, "minItems": 1}]}


def _int(lo: int, hi: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": lo, "maximum": hi}


def _enum(f: Field) -> dict[str, Any]:
    return {"enum": list(f.allowed)}


def _seconds(f: Field) -> dict[str, Any]:
    number = {"type": "number", "minimum": 0, "maximum": MAX_SECONDS}
    return {"anyOf": [number, {"const": "auto"}]} if f.default == "auto" else number


def _knob_values() -> dict[str, Any]:
    """Each tiling knob of any tiling kind, by what it holds."""
    kinds = {
        "px": _int(1, MAX_SIDE),
        "frames": _int(1, MAX_FRAMES),
        "factor": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
        "flag": {"type": "boolean"},
        "count": _int(1, 2**40),
    }
    knobs: dict[str, Any] = {}
    for table in TILING_KNOBS.values():
        for knob, what in table.items():
            knobs[knob] = one_or_list(kinds[what])
    return knobs


KNOBS = {"$ref": "#/$defs/tiling_knobs"}


def _tiling(f: Field, per_model: bool) -> dict[str, Any]:
    if per_model:
        return KNOBS
    return {"type": ["object", "null"], "additionalProperties": KNOBS}


_RESOLUTION = {
    "anyOf": [
        {"type": "integer", "minimum": 8, "maximum": MAX_SIDE, "multipleOf": 8},
        {"type": "string", "pattern": r"^\s*\d+x\d+\s*$"},  # the reader strips it
    ]
}

# parser -> (field, in a model's entry) -> the schema of its value
FRAGMENTS: dict[Callable, Callable[[Field, bool], dict[str, Any]]] = {
    p.name: lambda f, m: {"type": "string", "pattern": "^[A-Za-z0-9._-]+$", "maxLength": p.MAX_NAME},
    p.name_list: lambda f, m: one_or_list(_enum(f)),
    sizes.resolutions: lambda f, m: {"anyOf": [{"type": "null"}, one_or_list(_RESOLUTION)]},
    sizes.audio_seconds: lambda f, m: {
        "anyOf": [
            {"type": "null"},
            one_or_list({"type": "number", "minimum": MIN_AUDIO_SECONDS, "maximum": MAX_AUDIO_SECONDS}),
        ]
    },
    sizes.frames: lambda f, m: {"anyOf": [{"type": "null"}, one_or_list(_int(1, MAX_FRAMES))]},
    p.batch: lambda f, m: one_or_list(_int(1, MAX_BATCH)),
    p.tiled: lambda f, m: one_or_list({"type": "boolean"}),
    p.tiling: _tiling,
    p.variant: lambda f, m: one_or_list(_enum(f)),
    p.quality: lambda f, m: _enum(f),
    p.warmup: lambda f, m: _int(1, p.MAX_CALLS),
    p.seconds: lambda f, m: _seconds(f),
    p.repeats: lambda f, m: {"anyOf": [_int(1, p.MAX_CALLS), {"const": "auto"}]},
    p.threads: lambda f, m: {"anyOf": [_int(1, p.MAX_THREADS), {"const": "auto"}]},
    p.precision: lambda f, m: {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    p.repeat_count: lambda f, m: _int(1, p.MAX_CALLS),
    p.device: lambda f, m: {"type": "string", "pattern": p.DEVICE_RE.pattern},
    p.devices: lambda f, m: {
        "anyOf": [
            {"type": "null"},
            {
                "type": "array",
                "items": {"type": "string", "pattern": p.GPU_RE.pattern},
                "minItems": 1,
                "uniqueItems": True,
            },
        ]
    },
    p.device_label: lambda f, m: {"type": ["string", "null"], "minLength": 1, "maxLength": MAX_LABEL},
    p.choice: lambda f, m: _enum(f),
    p.output: lambda f, m: {"type": "string", "minLength": 1},
    p.registry: lambda f, m: {"type": ["string", "null"], "minLength": 1},
}


def _property(f: Field, per_model: bool = False) -> dict[str, Any]:
    out = {"description": f.doc, **FRAGMENTS[f.parse](f, per_model)}
    if f.default is not REQUIRED and not per_model:
        out["default"] = f.default
    return out


def _models(model_names: list[str]) -> dict[str, Any]:
    entry = {
        "type": "object",
        "description": "a model with axes of its own; its other axes are the sweep's",
        "properties": {
            "name": {"type": "string", "examples": model_names},
            **{n: _property(f, per_model=True) for n, f in FIELDS.items() if f.per_model},
        },
        "required": ["name"],
        "additionalProperties": False,
    }
    item = {"anyOf": [{"type": "string", "examples": model_names}, entry]}
    return {"description": FIELDS["models"].doc, **one_or_list(item)}


def sweep_schema(model_names: list[str]) -> dict[str, Any]:
    """The schema; `model_names` (the bundled registry's) are offered as examples,
    since a sweep with a registry of its own may name others."""
    properties = {n: _models(model_names) if n == "models" else _property(f) for n, f in FIELDS.items()}
    return {
        "$schema": DRAFT,
        "title": "vae-bench sweep file",
        "description": "What `vae-bench run` measures: models x ops x sizes x settings. "
        "Unknown keys are errors.",
        "type": "object",
        "properties": properties,
        "required": list(REQUIRED_FIELDS),
        "additionalProperties": False,
        "$defs": {
            "tiling_knobs": {
                "description": "tiling knobs of a model's tiling kind (a list is an axis)",
                "type": "object",
                "properties": _knob_values(),
                "additionalProperties": False,
            }
        },
    }


def render(schema: dict[str, Any]) -> str:
    import json

    return json.dumps(schema, indent=2) + "\n"
