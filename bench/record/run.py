"""The run format as types: one case as measured (`CaseRecord`, a cases.jsonl line) and
where and how a run was made (`RunMeta`, meta.json), with the rules every reader of a
record shares: which peak it names, when its median can be used.

Records in memory are these objects; dicts exist only as their JSON. `from_json`
reads every format written so far and `to_json` writes FORMAT_VERSION, in the field order of
ARCHITECTURE.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bench.record import sections
from bench.record.case import CASE_ID_RE, Case, read_case
from bench.record.figures import Clocks, Measured, Memory, Quality, Timing
from bench.record.sections import DEVICE_RE, WEIGHT_KINDS, FleetSection, HostSection
from bench.record.series import interval
from bench.strict import MAX_SECONDS, Invalid, Newer, Obj, printable_tree

# 1: runs written before records and meta.json stored a version; 2: both store it.
FORMAT_VERSION = 2
STATUSES = ("ok", "oom", "error", "skipped")
RUN_STATUSES = ("running", "complete", "interrupted")
PHASE_RE = re.compile(r"^[a-z_]{1,32}$")


def newer_format(found: int) -> str:
    return (
        f"made by a newer vae-bench (format {found}; this one reads formats up to {FORMAT_VERSION}): "
        "update vae-bench"
    )


def _version(o: Obj) -> int:
    """The format `o` was written in (1 stored none); Newer for one past FORMAT_VERSION."""
    version = o.int("format", lo=1, hi=2**31) or 1
    if version > FORMAT_VERSION:
        raise Newer("format", newer_format(version))
    printable_tree(o.d)
    return version


# Keys a record has on disk, in order; `approximate` and `source` only in imported runs.
_RECORD_HEAD = ("case_id", "model", "weights", "op", "height", "width", "frames", "batch", "dtype")


@dataclass
class CaseRecord:
    """One case as measured: one cases.jsonl line."""

    case: Case
    case_id: str  # as stored: older measurement versions hash to other ids
    weights: str | None
    device: str | None
    status: str
    error: str | None = None
    error_phase: str | None = None  # setup | first_call | warmup | timed: where it failed
    warmup: int | None = None
    repeats: int | str | None = None
    first_call_s: float | None = None
    warmup_calls: int | None = None  # the first call included
    warmup_s: float | None = None
    time: Timing | None = None
    precision_met: bool | None = None  # the median's interval is within the precision, stationary
    mem: Memory = field(default_factory=Memory)
    clocks: Clocks | None = None
    quality: Quality | None = None  # where the sweep asked for it
    setup_s: float | None = None  # building the input, setting tiling
    measure_s: float | None = None  # every call, warmup and timed, with what is between
    quality_s: float | None = None  # the output's call and the reference's, compared
    started_at: str | None = None
    ended_at: str | None = None
    approximate: bool = False  # imported from a published table
    source: str | None = None  # where on that page
    format: int = FORMAT_VERSION

    @classmethod
    def new(cls, case: Case, measured: Measured | None = None, **values: Any) -> CaseRecord:
        """A record of `case`: what a backend measured of it taken whole (`measured`,
        its fields under the same names), and the other fields by name."""
        if measured is not None:
            values = {**measured.values(), **values}
        return cls(case=case, case_id=case.case_id, **values)

    # -- the rules every reader uses -------------------------------------------------

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def median(self) -> float | None:
        """The median time, where it can be used: the case ran (`ok`) and was timed."""
        return self.time.median if self.ok and self.time is not None else None

    @property
    def samples(self) -> list[float]:
        return list(self.time.samples) if self.time is not None else []

    @property
    def peak(self) -> int | None:
        """The peak of the record's own memory metric, where the case ran."""
        return self.mem.peak if self.ok else None

    @property
    def percent(self) -> float | None:
        return self.mem.percent if self.ok else None

    @property
    def metric(self) -> str | None:
        return self.mem.metric

    @property
    def throttled(self) -> str | None:
        """Why the GPU ran slower than it could during the timed calls, in words."""
        return self.clocks.throttled if self.clocks is not None else None

    @property
    def drifting(self) -> bool:
        """The timed calls were not stationary (`time.drift` says how far apart)."""
        return self.ok and self.time is not None and self.time.drifting

    @property
    def precise(self) -> bool:
        """Met its precision with stationary samples (older records: the first alone)."""
        return bool(self.precision_met) and not self.drifting

    @property
    def half_width(self) -> float | None:
        return self.time.half_width if self.ok and self.time is not None else None

    @property
    def interval(self) -> tuple[float, float] | None:
        """The median's 95% interval, where the case ran and it met the precision
        (bench.record.series.interval)."""
        return interval(self)

    # -- the case, for short (its other parameters: record.case.model, ...) -----------

    @property
    def label(self) -> str:
        return self.case.label

    @property
    def size_label(self) -> str:
        return self.case.size_label

    @property
    def megapixels(self) -> float:
        return self.case.megapixels

    # -- JSON ----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        params = self.case.params()
        d: dict[str, Any] = {"case_id": self.case_id, "model": params["model"], "weights": self.weights}
        for key in _RECORD_HEAD[3:]:
            d[key] = params[key]
        if "seconds" in params:  # audio
            d["seconds"] = params["seconds"]
        d.update(
            tiled=params["tiled"],
            tiling=params["tiling"],
            variant=params.get("variant"),
            device=self.device,
            status=self.status,
            error=self.error,
            error_phase=self.error_phase,
            warmup=self.warmup,
            repeats=self.repeats,
            first_call_s=self.first_call_s,
            warmup_calls=self.warmup_calls,
            warmup_s=self.warmup_s,
            time_s=self.time.to_json() if self.time is not None else None,
            precision_met=self.precision_met,
            mem=self.mem.to_json(),
            clocks=self.clocks.to_json() if self.clocks is not None else None,
            quality=self.quality.to_json() if self.quality is not None else None,
            setup_s=self.setup_s,
            measure_s=self.measure_s,
            quality_s=self.quality_s,
            started_at=self.started_at,
            ended_at=self.ended_at,
        )
        if self.approximate:
            d.update(approximate=True, source=self.source)
        d["format"] = FORMAT_VERSION
        return d

    @classmethod
    def from_json(cls, d: Any) -> CaseRecord:
        """Any format written so far, read strictly: Invalid (naming the field) for a
        value that is not what the format says, and for a format newer than this one."""
        o = Obj(d)
        version = _version(o)
        repeats = o.d.get("repeats")
        if repeats is not None and repeats != "auto":
            repeats = o.int("repeats", lo=1, hi=10**9)
        status = o.str("status", required=True, choices=STATUSES)
        time = Timing.from_json(o.d.get("time_s"))
        if status == "ok" and (time is None or not time.median):
            raise Invalid("time_s.median", "missing or 0: a case that ran (status ok) took a time above 0")
        return cls(
            case=read_case(o),
            case_id=o.str("case_id", required=True, pattern=CASE_ID_RE),
            weights=o.str("weights", choices=WEIGHT_KINDS),
            device=o.str("device", pattern=DEVICE_RE),
            status=status,
            error=o.str("error"),
            error_phase=o.str("error_phase", pattern=PHASE_RE),
            warmup=o.int("warmup", hi=10**9),
            repeats=repeats,
            first_call_s=o.num("first_call_s", hi=MAX_SECONDS),
            warmup_calls=o.int("warmup_calls", hi=10**9),
            warmup_s=o.num("warmup_s", hi=MAX_SECONDS),
            time=time,
            precision_met=o.bool("precision_met"),
            mem=Memory.from_json(o.d.get("mem")),
            clocks=Clocks.from_json(o.d.get("clocks")),
            quality=Quality.from_json(o.d.get("quality")),
            setup_s=o.num("setup_s", hi=MAX_SECONDS),
            measure_s=o.num("measure_s", hi=MAX_SECONDS),
            quality_s=o.num("quality_s", hi=MAX_SECONDS),
            started_at=o.str("started_at", max_len=64),
            ended_at=o.str("ended_at", max_len=64),
            approximate=bool(o.bool("approximate")),
            source=o.str("source"),
            format=version,
        )

    def flat(self) -> dict[str, Any]:
        """One row of the DataFrame view: `time_s` and `mem` spread into
        `time_s.median`, `mem.percent`, ...; `tiling` stays one dict, since it is a
        parameter of the case, not a measurement."""
        d = self.to_json()
        flat = {k: v for k, v in d.items() if k not in ("time_s", "mem", "clocks", "quality", "format")}
        for key in ("time_s", "mem", "clocks", "quality"):
            for sub, value in (d[key] or {}).items():
                flat[f"{key}.{sub}"] = value
        return flat


# meta.json's keys in the order they are written; the others a run may hold (older
# formats, fields of later versions) are kept as they are, after these.
_META_KEYS = (
    "run_id",
    "name",
    "status",
    "started_at",
    "ended_at",
    "command",
    "config_file",
    "overrides",
    "imported",
    "approximate",
    "config",
    "environment",
    "device",
    "models",
    "cases_planned",
    "warnings",
    "resumed_at",
    "workers",
    "time_spent",
    "load",
    "format",
)


@dataclass
class RunMeta:
    """meta.json: where and how a run was made."""

    run_id: str | None = None
    name: str | None = None
    status: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    command: str | None = None
    config_file: str | None = None
    overrides: list[str] | None = None  # `vae-bench run SWEEP key=value ...`, as given
    imported: dict | None = None  # {page, spec, blocks} of a run read from published tables
    approximate: str | None = None  # why its figures are approximate
    config: dict | None = None  # the resolved sweep
    environment: dict = field(default_factory=dict)
    device: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)
    cases_planned: int | None = None
    warnings: list[str] = field(default_factory=list)
    resumed_at: list[str] = field(default_factory=list)
    # one per worker started: model, dtype, start_to_ready_s (imports, CUDA init and
    # the build), build_s, pid
    workers: list[dict] = field(default_factory=list)
    # one per sweep into the run (the first, then each resume): where its wall time went
    time_spent: list[dict] = field(default_factory=list)
    # how busy the host was at each sweep's start ("start", "resume") and end
    load: list[dict] = field(default_factory=list)
    format: int = FORMAT_VERSION
    host: HostSection | None = None  # a run of one sweep over several GPUs of a host
    fleet: FleetSection | None = None  # a run a fleet node made
    extra: dict = field(default_factory=dict)  # sections of a later version, kept as they are
    held: tuple[str, ...] = ()  # the keys after _META_KEYS that meta.json held, in its order

    @property
    def device_kind(self) -> str | None:
        """ "cuda:0", "cpu", ...: what the run measured on."""
        return self.device.get("device")

    @property
    def device_name(self) -> str | None:
        """What the driver calls the device."""
        return self.device.get("name")

    @property
    def device_label(self) -> str | None:
        """What tables, docs and history call it: the sweep's device_label, else its name."""
        return self.device.get("label") or self.device_name

    @property
    def busy(self) -> str | None:
        """Why the host looked busy while the run was made (sections.busy)."""
        return sections.busy(self.load)

    def add_warnings(self, messages) -> bool:
        """Add the messages not yet known; whether any was new."""
        new = [m for m in messages if m and m not in self.warnings]
        self.warnings.extend(new)
        return bool(new)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for key in _META_KEYS:
            value = getattr(self, key)
            if key in ("imported", "approximate", "config_file", "overrides") and value is None:
                continue
            if key in ("resumed_at", "workers", "time_spent", "load") and not value:
                continue
            d[key] = FORMAT_VERSION if key == "format" else value
        tail = {k: v.to_json() for k, v in (("host", self.host), ("fleet", self.fleet)) if v is not None}
        tail.update((k, v) for k, v in self.extra.items() if k not in d)
        d.update(sections.in_order(tail, self.held))
        return d

    @classmethod
    def from_json(cls, d: Any) -> RunMeta:
        """Any meta.json written so far, read strictly: Invalid (naming the field) for a
        value that is not what the format says, and for a format newer than this one.
        Sections this version does not know are kept as they are, for the next writer."""
        o = Obj(d)
        version = _version(o)
        config = o.obj("config")
        imported = o.obj("imported")
        if imported is not None:
            for key in ("page", "spec"):
                imported.str(key)
            imported.strs("blocks")
        extra = {k: v for k, v in o.d.items() if k not in _META_KEYS}
        host = HostSection.from_json(extra.pop("host")) if "host" in extra else None
        # a null fleet stays what it was, a key of no run made by a fleet
        fleet = FleetSection.from_json(extra.pop("fleet")) if extra.get("fleet") is not None else None
        return cls(
            run_id=o.str("run_id", max_len=255),
            name=o.str("name", max_len=255),
            status=o.str("status", choices=RUN_STATUSES),
            started_at=o.str("started_at", max_len=64),
            ended_at=o.str("ended_at", max_len=64),
            command=o.str("command", max_len=100_000),
            config_file=o.str("config_file"),
            overrides=list(o.strs("overrides", max_len=2000)) if o.d.get("overrides") is not None else None,
            imported=imported.d if imported is not None else None,
            approximate=o.str("approximate"),
            config=config.d if config is not None else None,
            environment=sections.environment(o),
            device=sections.device(o),
            models=sections.models(o),
            cases_planned=o.int("cases_planned", hi=10**9),
            warnings=list(o.strs("warnings", max_len=100_000)),
            resumed_at=list(o.strs("resumed_at", max_len=64)),
            workers=[w.d for w in o.objs("workers")],
            time_spent=[sections.seconds(t) for t in o.objs("time_spent")],
            load=[sections.load(t) for t in o.objs("load")] if "load" in o.d else [],
            format=version,
            host=host,
            fleet=fleet,
            extra=extra,
            held=tuple(k for k in o.d if k not in _META_KEYS),
        )
