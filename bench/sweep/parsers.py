"""The parsers of a sweep file's fields (bench.sweep.fields names which field each
reads): one parser reads a field wherever it is given, sweep-wide or in one model's
entry in `models`, and every problem is one BadInput naming the file, the field and
what is allowed.

A parser is called as parse(field, value, fld, r, model): the table's Field (its
name, default and allowed values), the value given, the field's name as the message
says it, the sweep being read, and the model whose entry gives it (None: sweep-wide).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BadInput, shown
from bench.models.registry import ModelSpec
from bench.models.tiling import check_knob, check_strides, normalize_knobs
from bench.record.case import MAX_BATCH
from bench.record.series import label_problem
from bench.strict import MAX_SECONDS, Invalid, number

BOOLS = (False, True)  # what a switch allows: variant() checks these values' types too
DEVICE_RE = re.compile(r"^(auto|cpu|cuda|cuda:\d+|all)$")
GPU_RE = re.compile(r"^cuda:\d+$")
MAX_NAME = 64
# No sweep comes near these: a million calls a case, a day of timed calls.
MAX_CALLS = 1_000_000


@dataclass
class Reading:
    """One sweep being read: where it came from, the models the registry knows, the
    entries of `models` that set axes of their own (name: (position, entry)), and the
    fields read so far (a field reads only those above it in the table)."""

    src: str
    base: Path  # the folder a relative registry path is read from
    registry: dict[str, ModelSpec] = field(default_factory=dict)
    entries: dict[str, tuple[int, dict]] = field(default_factory=dict)
    got: dict[str, Any] = field(default_factory=dict)

    def bad(self, fld: str | None, why: str) -> BadInput:
        return BadInput(self.src, fld, why)

    def own(self, model: str, key: str) -> bool:
        """Whether `model`'s entry in `models` gives `key` itself."""
        return key in self.entries.get(model, (0, {}))[1]

    def where(self, model: str) -> str:
        return f"models[{self.entries[model][0]}]"


def as_list(value: Any, fld: str, r: Reading) -> list:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise r.bad(fld, "must not be empty")
    return items


def distinct(items) -> tuple:
    return tuple(dict.fromkeys(items))


def name(f, value, fld, r, model) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9._-]+", value):
        raise r.bad(fld, f"must be a word of letters, digits, '.', '_' or '-', got {shown(value)}")
    if len(value) > MAX_NAME:
        # It becomes part of the run folder's name, which the file system limits.
        raise r.bad(fld, f"must be at most {MAX_NAME} characters, got {len(value)}")
    return value


def models(f, value, fld, r, model) -> tuple[str, ...]:
    """The model names; the entries that set axes of their own (`{name: sdxl, dtype:
    float32}` rather than `sdxl`) are kept in `r.entries` for the per-model pass."""
    found: list[str] = []
    for i, item in enumerate(as_list(value, fld, r)):
        entry = item if isinstance(item, dict) else None
        named = entry.get("name") if entry is not None else item
        if not isinstance(named, str):
            where = f"models[{i}].name" if entry is not None else "models"
            raise r.bad(where, f"must be a model name, or a mapping with `name` and axes, got {shown(item)}")
        if named not in r.registry:
            raise r.bad("models", f"unknown model {shown(named)}; known: {', '.join(r.registry)}")
        if named in found:
            if entry is None and named not in r.entries:
                continue  # a plain name twice is the same model
            raise r.bad("models", f"{named} is listed twice; give its axes in one entry")
        found.append(named)
        if entry is not None:
            r.entries[named] = (i, entry)
    return tuple(found)


def name_list(f, value, fld, r, model) -> tuple[str, ...]:
    for item in as_list(value, fld, r):
        if not isinstance(item, str):
            raise r.bad(fld, f"must be a name or a list of names, got {shown(item)}")
        if item not in f.allowed:
            raise r.bad(fld, f"{shown(item)} is not allowed; allowed: {', '.join(f.allowed)}")
    return distinct(value if isinstance(value, list) else [value])


def batch(f, value, fld, r, model) -> tuple[int, ...]:
    return distinct(positive_int(b, fld, r, MAX_BATCH) for b in as_list(value, fld, r))


def tiled(f, value, fld, r, model) -> tuple[bool, ...]:
    items = as_list(value, fld, r)
    if not all(isinstance(t, bool) for t in items):
        raise r.bad(fld, "must be true, false or a list of them, e.g. [false, true]")
    return distinct(items)


def tiling(f, value, fld, r, model) -> dict[str, Any]:
    """Sweep-wide: model name -> tiling knobs; in a model's entry: its knobs."""
    if model:
        if model in (r.got["tiling"] or {}):
            raise r.bad(fld, f"{model}'s tiling is also given in `tiling`; give it in one place")
        return knobs(r.registry[model], value, fld, r)
    value = {} if value is None else value
    if not isinstance(value, dict):
        raise r.bad(fld, "must map model names to tiling knobs")
    out = {}
    for m, given in value.items():
        if m not in r.got["models"]:
            raise r.bad(f"{fld}.{m}", "overrides tiling for a model that is not in `models`")
        out[m] = knobs(r.registry[m], given, f"{fld}.{m}", r)
    return out


def knobs(spec: ModelSpec, given: Any, fld: str, r: Reading) -> dict[str, Any]:
    """Tiling knobs; a knob given as a list is an axis of the sweep (a tuple here)."""
    if not isinstance(given, dict):
        raise r.bad(fld, "must be a mapping of tiling knobs")
    out = {}
    for knob, value in given.items():
        values = value if isinstance(value, list) else [value]
        if not values:
            raise r.bad(f"{fld}.{knob}", "must not be an empty list")
        for v in values:
            why = check_knob(spec.tiling_kind, knob, v, spec.spatial_compression, spec.temporal_compression)
            if why:
                raise r.bad(f"{fld}.{knob}", why)
        typed = [normalize_knobs(spec.tiling_kind, {knob: v})[knob] for v in values]
        out[knob] = distinct(typed) if isinstance(value, list) else typed[0]
    for combo in knob_combinations(out):
        _check_strides(spec, combo, fld, r)
    return out


def knob_combinations(given: dict[str, Any]) -> list[dict[str, Any]]:
    """Every setting of the knobs, one per combination of those given as lists."""
    names = list(given)
    choices = [given[n] if isinstance(given[n], tuple) else (given[n],) for n in names]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*choices)]


def _check_strides(spec: ModelSpec, overrides: dict[str, Any], prefix: str, r: Reading) -> None:
    """A stride larger than its tile, with the registry's defaults filled in, is
    refused; the field named is the knob the sweep set (the stride if it set both)."""
    found = check_strides({**spec.tiling, **overrides})
    if not found:
        return
    stride, tile, why = found
    fld = stride if stride in overrides or tile not in overrides else tile
    defaults = [k for k in (stride, tile) if k not in overrides]
    if defaults:
        why += f" ({' and '.join(defaults)} {'is' if len(defaults) == 1 else 'are'} {spec.name}'s default)"
    raise r.bad(f"{prefix}.{fld}", why)


def variant(f, value, fld, r, model) -> tuple:
    """A variant axis: a value or a list of them, each of what the axis allows."""
    items = as_list(value, fld, r)
    if f.allowed == BOOLS:
        if not all(isinstance(v, bool) for v in items):
            raise r.bad(fld, f"must be true, false or a list of them, got {shown(value)}")
    for v in items:
        if v not in f.allowed:
            raise r.bad(fld, f"{shown(v)} is not allowed; allowed: {', '.join(f.allowed)}")
    return distinct(items)


def quality(f, value, fld, r, model) -> bool | str:
    if not isinstance(value, bool) and value != "float32":
        why = "true (reference in the case's dtype), float32 (reference in float32) or false"
        raise r.bad(fld, f"must be {why}, got {shown(value)}")
    return value


def warmup(f, value, fld, r, model) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CALLS:
        first = "the first call is stored apart"
        raise r.bad(fld, f"must be an integer >= 1 (at most {MAX_CALLS}; {first}), got {shown(value)}")
    return value


def repeats(f, value, fld, r, model) -> int | str:
    if value != "auto" and (
        isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CALLS
    ):
        raise r.bad(fld, f"must be auto or a positive integer (at most {MAX_CALLS}), got {shown(value)}")
    return value


MAX_THREADS = 4096


def threads(f, value, fld, r, model) -> int | str:
    if value != "auto" and (
        isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_THREADS
    ):
        raise r.bad(fld, f"must be auto or a number of threads from 1 to {MAX_THREADS}, got {shown(value)}")
    return value


def precision(f, value, fld, r, model) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise r.bad(fld, f"must be a fraction of the median in (0, 1), like 0.01, got {shown(value)}")
    return float(value)


def seconds(f, value, fld, r, model) -> float | str:
    """Seconds, or auto where the default is auto; max_time at least min_time."""
    auto = f.default == "auto"
    if auto and value == "auto":
        return "auto"
    try:
        seconds = number(value, fld, 0.0, MAX_SECONDS)
    except Invalid:
        allowed = "auto or " if auto else ""
        raise r.bad(
            fld, f"must be {allowed}a number of seconds from 0 to {MAX_SECONDS:g}, got {shown(value)}"
        ) from None
    least = r.got.get("min_time", "auto") if f.name == "max_time" else "auto"
    if f.name == "max_time" and (seconds <= 0 or (least != "auto" and least > seconds)):
        raise r.bad(fld, f"must be above 0 and at least min_time, got {shown(seconds)}")
    return seconds


def repeat_count(f, value, fld, r, model) -> int:
    """min_repeats, max_repeats: max_repeats at least min_repeats."""
    count = positive_int(value, fld, r, MAX_CALLS)
    least = r.got["min_repeats"] if f.name == "max_repeats" else 1
    if count < least:
        raise r.bad(fld, f"must be at least min_repeats ({least}), got {count}")
    return count


def positive_int(value: Any, fld: str, r: Reading, hi: int = MAX_CALLS) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
        raise r.bad(fld, f"must be a positive integer (at most {hi}), got {shown(value)}")
    return value


def device(f, value, fld, r, model) -> str:
    if not isinstance(value, str) or not DEVICE_RE.fullmatch(value):
        raise r.bad(fld, f"must be auto, cpu, cuda, cuda:N or all, got {shown(value)}")
    return value


def devices(f, value, fld, r, model) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise r.bad(fld, f"must be a list of GPUs, like [cuda:0, cuda:2], got {shown(value)}")
    for d in value:
        if not isinstance(d, str) or not GPU_RE.fullmatch(d):
            raise r.bad(fld, f"each must be cuda:N, got {shown(d)}")
    if len(set(value)) != len(value):
        raise r.bad(fld, f"names a GPU twice: {shown(value)}")
    one = r.got.get("device", "auto")
    if one != "auto":
        raise r.bad(fld, f"give device ({shown(one)}) or devices, not both")
    return tuple(value)


def device_label(f, value, fld, r, model) -> str | None:
    if value is None:
        return None
    why = label_problem(value)
    if why:
        raise r.bad(fld, why)
    several = r.got.get("devices")
    if r.got.get("device") == "all" or (several and len(several) > 1):
        raise r.bad(
            fld,
            "names one device; a sweep over several GPUs (device: all, or devices with more than "
            "one) cannot give them all one name",
        )
    return value.strip()


def choice(f, value, fld, r, model) -> str:
    if value not in f.allowed:
        raise r.bad(fld, f"must be one of {', '.join(f.allowed)}, got {shown(value)}")
    return value


def output(f, value, fld, r, model) -> str:
    if not isinstance(value, str) or not value:
        raise r.bad(fld, "must be a folder path")
    return value


def registry(f, value, fld, r, model) -> str | None:
    """A models.yaml, relative to the sweep file's folder; None: the bundled one."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise r.bad(fld, "must be a path to a models.yaml")
    path = (r.base / value).resolve()
    if path.is_dir():
        raise r.bad(fld, f"{path} is a folder; name the models.yaml file")
    if not path.exists():
        raise r.bad(fld, f"no such file {path}")
    return str(path)
