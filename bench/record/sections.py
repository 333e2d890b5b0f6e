"""meta.json's sections, each read strictly: the device, the models, the time spent, and
as types the two a run holds only where a sweep made it so, `host` (one sweep over
several GPUs of a host, bench.sweep.host) and `fleet` (one kind's run of a fleet,
bench.sweep.fleet).

A typed section writes the JSON it was read from byte for byte: the keys it held, in
their order (a null among them stays null), then any set since, in field order (the
order today's writers set them in); keys of a later vae-bench are kept as they were.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any

from bench.errors import shown as _shown
from bench.files import RUN_NAME_RULE, is_plain_name
from bench.record import layer
from bench.record.series import label_problem
from bench.strict import MAX_SECONDS, Invalid, Obj, scalar

DEVICE_RE = re.compile(r"^(cpu|cuda:[0-9]{1,3})$")
WEIGHT_KINDS = ("pretrained", "random")


def in_order(values: dict[str, Any], held: tuple[str, ...]) -> dict[str, Any]:
    """`values` as a JSON object: the keys a file held first, in its order, then the rest."""
    first = {k: values[k] for k in held if k in values}
    return {**first, **{k: v for k, v in values.items() if k not in first}}


class _Section:
    """What a typed section shares: its JSON from its fields, in the order described above."""

    other: dict[str, Any]
    held: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        names = [f.name for f in fields(self) if f.name not in ("other", "held")]  # type: ignore[arg-type]
        values = {n: getattr(self, n) for n in names if getattr(self, n) is not None or n in self.held}
        return in_order({**values, **self.other}, self.held)


@dataclass
class HostSection(_Section):
    """meta.json's `host`: the runs of one sweep over several GPUs of a host, side by side
    in one folder, each of the (model, dtype) groups dealt to it; and what else was on
    those GPUs (their processes, the load) at the start, at each resume and at the end."""

    devices: list[str] | None = None
    runs: list[str] | None = None  # every run of the sweep, by folder name (plain names)
    assigned: list[list[str]] | None = None  # this run's groups, [model, dtype] each
    dealt_by: str | None = None  # "case count", or the runs whose case times dealt them
    at_start: dict | None = None
    at_resume: dict | None = None
    at_end: dict | None = None
    other: dict[str, Any] = field(default_factory=dict)  # keys of a later version
    held: tuple[str, ...] = ()  # the keys meta.json held, in its order

    @classmethod
    def from_json(cls, value: Any, path: str = "host") -> HostSection:
        if value is None:
            raise Invalid(path, "missing")
        host = Obj(value, path)
        for i, run in enumerate(host.strs("runs", max_len=255)):
            if not is_plain_name(run):
                raise host.bad(f"runs[{i}]", f"{_shown(run)} is not {RUN_NAME_RULE}")
        for i, device in enumerate(host.strs("devices", max_len=16)):
            if not DEVICE_RE.fullmatch(device):
                raise host.bad(f"devices[{i}]", f"{_shown(device)} is not a device such as cuda:0")
        for i, group in enumerate(host.list("assigned")):
            if not (isinstance(group, list) and len(group) == 2 and all(isinstance(g, str) for g in group)):
                raise host.bad(f"assigned[{i}]", "must be [model, dtype]")
        host.str("dealt_by")
        for key in ("at_start", "at_resume", "at_end"):
            host.obj(key)
        return _typed(cls, host.d)


@dataclass
class FleetSection(_Section):
    """meta.json's `fleet`: which kind of node made the run, on which Ray cluster (null:
    the one Ray found), and the node's processes and command line."""

    address: str | None = None
    kind: str | None = None
    node_pid: int | None = None
    sweep_pid: int | None = None
    host: str | None = None  # the node's host name
    node_command: str | None = None
    other: dict[str, Any] = field(default_factory=dict)  # keys of a later version: scalars
    held: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, value: Any, path: str = "fleet") -> FleetSection:
        o = Obj(value, path)
        for key, item in o.d.items():
            scalar(item, o.name(key))
        for key in ("address", "kind", "host", "node_command"):
            o.str(key)
        for key in ("node_pid", "sweep_pid"):
            o.int(key)
        return _typed(cls, o.d)


def _typed(cls, d: dict[str, Any]):
    names = {f.name for f in fields(cls)} - {"other", "held"}
    return cls(
        **{k: v for k, v in d.items() if k in names},
        other={k: v for k, v in d.items() if k not in names},
        held=tuple(d),
    )


# -- the untyped sections, checked where they are read ------------------------------


def informational(o: Obj, key: str) -> dict:
    """A section only printed and compared (the environment): an object, its values any
    JSON (versions, flags, lists of processes)."""
    section = o.obj(key)
    return dict(section.d) if section is not None else {}


def environment(o: Obj) -> dict:
    """The environment: informational, but for the layer a run was made in, typed."""
    section = informational(o, "environment")
    layer.from_environment(section)
    return section


def device(o: Obj) -> dict:
    device = o.obj("device")
    if device is None:
        return {}
    device.str("device", pattern=DEVICE_RE)
    for key in ("name", "label"):
        value = device.str(key, max_len=1000)
        why = label_problem(value) if value is not None else None
        if why:
            raise device.bad(key, why)
    device.int("total_memory", lo=1)
    return dict(device.d)


def models(o: Obj) -> dict:
    models = o.obj("models")
    if models is None:
        return {}
    for name in models.d:
        entry = models.obj(name, required=True)
        for key in ("class", "repo", "subfolder", "config", "config_sha256"):
            entry.str(key)
        entry.int("params", hi=10**15)
        kwargs = entry.obj("decode_kwargs")  # what decode was called with beside the latent
        for key in kwargs.d if kwargs is not None else ():
            scalar(kwargs.d[key], f"{kwargs.name(key)}")
        weights = entry.obj("weights")
        if weights is not None:
            weights.str("kind", choices=WEIGHT_KINDS)
            for key in ("path", "source", "revision", "note"):
                weights.str(key)
    return dict(models.d)


def seconds(o: Obj) -> dict:
    return {k: o.num(k, hi=10 * MAX_SECONDS) for k in o.d}


def load(o: Obj) -> dict:
    """One sample of how busy the host was (bench.measure.environment.host_load)."""
    out = {"at": o.str("at", choices=("start", "resume", "end")), "time": o.str("time", max_len=64)}
    avg = o.nums("loadavg", hi=1e6) if o.d.get("loadavg") is not None else None
    out["loadavg"] = list(avg) if avg is not None else None
    out["cpu_count"] = o.int("cpu_count", hi=1_000_000)
    out["other_running"] = o.int("other_running", hi=10**7)
    if "gpu_processes" in o.d:
        gpu = o.d["gpu_processes"]
        out["gpu_processes"] = (
            [p.d for p in o.objs("gpu_processes")] if isinstance(gpu, list) else o.str("gpu_processes")
        )
    return out


def busy(load: list[dict]) -> str | None:
    """Why the host looked busy while a run was made, with the figures, from its `load`
    samples; None where it did not (or nothing was sampled). Other processes running
    count at every sample; the load average only before the sweep's own work (at a
    start or a resume), where it is above the host's CPU count."""
    said = []
    for i, s in enumerate(load):
        # an end a resume follows is where an interrupted sweep stopped
        at = "stop" if s["at"] == "end" and i < len(load) - 1 else s["at"]
        others = s.get("other_running") or 0
        if others:
            said.append(f"{others} other process(es) running at its {at}")
        avg, cpus = s.get("loadavg"), s.get("cpu_count")
        if s["at"] != "end" and avg and cpus and avg[0] > cpus:
            said.append(f"load average {avg[0]:g} on {cpus} CPUs at its {at}")
        gpu = s.get("gpu_processes")
        if isinstance(gpu, list) and gpu:
            said.append(f"{len(gpu)} other process(es) on the GPU at its {at}")
    return "made on a busy host: " + "; ".join(said) if said else None
