"""Sweep files: read a YAML sweep into a `Sweep`, field by field through the table of
bench.sweep.fields, against the model registry, which is read once.

Every problem stops here with one line naming the file, the field and what is
allowed, before anything is built or written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.errors import BadInput
from bench.files import read_yaml
from bench.models.registry import ModelSpec, load_registry
from bench.shipped import sweep_path
from bench.sweep import overrides as overrides_of
from bench.sweep.fields import AXES, FIELDS, REQUIRED_FIELDS, VARIANT_AXES, defaults
from bench.sweep.parsers import Reading

__all__ = ["Sweep", "from_dict", "load_sweep", "overridden", "with_defaults"]

DEFAULT = defaults()
# The order a model's own axes are read in and stored in meta.json (the order they
# always had there).
OWN_ORDER = ("ops", "dtype", "resolutions", "batch", "tiled", *VARIANT_AXES, "frames", "seconds", "tiling")


@dataclass(frozen=True)
class Sweep:
    """A sweep file, read: each field is the parsed value of FIELDS' field of that name
    (in the table's order), and a field the file leaves out is the table's default."""

    name: str
    models: tuple[str, ...]
    ops: tuple[str, ...]
    resolutions: tuple[tuple[int, int], ...] = ()  # (width, height); none for audio models alone
    frames: tuple[int, ...] | None = DEFAULT["frames"]  # pixel frames, for video models only
    seconds: tuple[float, ...] | None = DEFAULT["seconds"]  # audio lengths, for audio models only
    batch: tuple[int, ...] = DEFAULT["batch"]
    dtype: tuple[str, ...] = DEFAULT["dtype"]
    tiled: tuple[bool, ...] = DEFAULT["tiled"]
    # model -> tiling knobs; a knob's value may be a tuple: an axis
    tiling: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels_last: tuple[bool, ...] = DEFAULT["channels_last"]
    compile: tuple[str, ...] = DEFAULT["compile"]
    attention: tuple[str, ...] = DEFAULT["attention"]
    cudnn_benchmark: tuple[bool, ...] = DEFAULT["cudnn_benchmark"]
    slicing: tuple[bool, ...] = DEFAULT["slicing"]
    # compare each output with the untiled, plain case's (PSNR): true for a reference in
    # the case's own dtype, "float32" for one in float32
    quality: bool | str = DEFAULT["quality"]
    warmup: int = DEFAULT["warmup"]
    warmup_time: float | str = DEFAULT["warmup_time"]  # seconds per case; auto: none
    repeats: int | str = DEFAULT["repeats"]  # a fixed count, or auto: until `precision` is met
    precision: float = DEFAULT["precision"]  # of the median, for its 95% interval
    min_repeats: int = DEFAULT["min_repeats"]
    min_time: float | str = DEFAULT["min_time"]  # seconds; auto: 1 on CUDA, 2 on CPU
    max_time: float = DEFAULT["max_time"]  # seconds of timed calls per case
    max_repeats: int = DEFAULT["max_repeats"]
    device: str = DEFAULT["device"]  # or "all": every GPU of the host, one run each
    devices: tuple[str, ...] | None = DEFAULT["devices"]  # these GPUs of the host, one run each
    # the name tables, docs and history give the device in place of the driver's: two
    # rows for one model of card (a power cap, another host); meta.json keeps both
    device_label: str | None = DEFAULT["device_label"]
    weights: str = DEFAULT["weights"]
    memory_metric: str = DEFAULT["memory_metric"]
    output: str = DEFAULT["output"]
    registry: str | None = DEFAULT["registry"]  # None: the bundled configs/models.yaml
    threads: int | str = DEFAULT["threads"]  # a worker's intra-op threads; auto: from its affinity
    source: str | None = field(default=None, compare=False)
    overrides: tuple[str, ...] = field(default=(), compare=False)  # key=value, as given
    # Axes given for one model in `models` ({name: sdxl, dtype: float32}), parsed like
    # the sweep-wide ones; a model's other axes are the sweep-wide ones.
    per_model: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The registry's models as read with the sweep, so that nothing reads it again.
    known: dict[str, ModelSpec] | None = field(default=None, compare=False, repr=False)

    def axis(self, model: str, name: str) -> Any:
        """One of AXES for one model: its own value, or the sweep's."""
        own = self.per_model.get(model, {})
        if name == "tiling":
            return own.get("tiling", self.tiling.get(model))
        return own.get(name, getattr(self, name))

    def to_dict(self) -> dict[str, Any]:
        """The resolved sweep as stored in meta.json (and read back by from_dict)."""
        d = {}
        for name, f in FIELDS.items():
            value = getattr(self, name)
            if value or f.stored_unset:  # a sweep on one device stores what it always stored
                d[name] = f.dump(value, None)
        d["models"] = [m if m not in self.per_model else {"name": m, **self._own(m)} for m in self.models]
        return d

    def _own(self, model: str) -> dict[str, Any]:
        own = self.per_model[model]
        return {key: FIELDS[key].dump(own[key], model) for key in OWN_ORDER if key in own}

    def specs(self) -> dict[str, ModelSpec]:
        known = self.known if self.known is not None else load_registry(self.registry)
        return {name: known[name] for name in self.models}


def with_defaults(stored: dict[str, Any]) -> dict[str, Any]:
    """A sweep as a meta.json stored it, with each field added since at its default as
    to_dict writes it, to compare with the to_dict of a sweep read now."""
    added = {
        name: f.dump(DEFAULT[name], None)
        for name, f in FIELDS.items()
        if name not in stored and name in DEFAULT and f.stored_unset
    }
    return {**added, **stored}


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
    return from_dict(raw, source=sweep.source, known=sweep.known)


def load_sweep(path: str | Path, overrides: tuple[str, ...] = ()) -> Sweep:
    """A sweep file, or a shipped sweep by its name (`cpu`, `docs`) where `path` is text,
    with the command line's `key=value` overrides in place (bench.sweep.overrides)."""
    path = sweep_path(path) if isinstance(path, str) else path
    raw = read_yaml(path, "sweep file", follow=True)
    if raw is None:
        raise BadInput(
            path,
            None,
            "empty file; a sweep needs at least "
            + ", ".join(REQUIRED_FIELDS)
            + ", and resolutions (image and video models) or seconds (audio models)",
        )
    if not isinstance(raw, dict):
        raise BadInput(path, None, "must be a mapping of sweep fields")
    if not overrides:
        return from_dict(raw, source=path)
    try:
        sweep = from_dict(overrides_of.apply(raw, list(overrides)), source=path)
    except BadInput as exc:
        # a field the command line set is the command line's mistake, not the file's
        given = {overrides_of.parse(o)[0][0] for o in overrides}
        if "models" in given:  # what the file gives per model no longer matches them
            given |= {"frames", "seconds", "resolutions", "tiling"}
        if exc.field and exc.field.split(".")[0] in given:
            raise BadInput(None, f"override {exc.field}", exc.why) from None
        raise
    return replace(sweep, overrides=tuple(overrides))


def from_dict(
    raw: dict[str, Any], source: str | Path | None = None, known: dict[str, ModelSpec] | None = None
) -> Sweep:
    """The sweep `raw` gives; `known`: the models of its registry, where they were read
    already (a sweep read again)."""
    src = str(source) if source else "<sweep>"
    for key in raw:
        if key not in FIELDS:
            raise BadInput(src, str(key), f"unknown key; allowed: {', '.join(sorted(FIELDS))}")
    for key in REQUIRED_FIELDS:
        if key not in raw:
            raise BadInput(src, key, "missing (required)")
    r = Reading(src, Path(source).parent if source else Path.cwd())

    def read(name: str) -> None:
        f = FIELDS[name]
        r.got[name] = f.read(raw.get(name, f.default), name, r)

    read("name")
    read("registry")  # the models are checked against it
    # a FIFO or a device there: the file layer says so
    r.registry = known if known is not None else load_registry(r.got["registry"])
    for name in FIELDS:
        if name not in r.got:
            read(name)
    per_model = {m: _own_axes(m, entry, r) for m, (_, entry) in r.entries.items()}
    return Sweep(
        **r.got,
        source=src if source else None,
        per_model={m: own for m, own in per_model.items() if own},
        known=r.registry,
    )


def _own_axes(model: str, entry: dict, r: Reading) -> dict[str, Any]:
    """The axes a model's entry in `models` sets, each read by the sweep-wide field's
    parser for this one model."""
    where = r.where(model)
    for key in entry:
        if key != "name" and key not in AXES:
            raise r.bad(f"{where}.{key}", f"not an axis a model can set; allowed: {', '.join(AXES)}")
    return {
        key: FIELDS[key].read(entry[key], f"{where}.{key}", r, model) for key in OWN_ORDER if key in entry
    }
