"""What a sweep will run, and where: everything that can be wrong with it is found
here, before a run folder exists. For a resume, also whether the stored run may be
continued here, through this registry, with these weights. And what meta.json says
of a new run.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import BadInput, shown
from bench.measure.protocol import Protocol
from bench.models.build import Weights, check_class, resolve_weights
from bench.models.registry import ModelSpec
from bench.record.case import Case
from bench.record.run import RunMeta
from bench.record.series import as_label
from bench.record.store import META, Run
from bench.shipped import CONFIGS_DIR
from bench.sweep import config
from bench.sweep.cases import expand
from bench.sweep.config import Sweep
from bench.sweep.fields import VARIANT_AXES

GIB = 1024**3


@dataclass
class Plan:
    sweep: Sweep
    device: str  # "cpu", "cuda:0", ...
    device_name: str
    specs: dict[str, ModelSpec]
    weights: dict[str, Weights]
    cases: list[Case]
    warnings: list[str] = field(default_factory=list)
    resume: Path | None = None  # the run folder it continues
    trust_code: bool = False  # the command line's --trust-code (see bench.models.build.model_class)

    @property
    def protocol(self) -> Protocol:
        return protocol_for(self.sweep, self.device)

    def meta(self, started_at: str) -> RunMeta:
        """meta.json of a new run of this plan (the worker adds what only a CUDA
        context can tell)."""
        from bench.measure.environment import capture, gpu_summary

        device = {"device": self.device, "name": self.device_name}
        if self.sweep.device_label:
            device["label"] = self.sweep.device_label
        if self.device.startswith("cuda"):
            index = int(self.device.split(":")[1])
            device.update({f"nvml_{k}": v for k, v in gpu_summary(index).items()})
        return RunMeta(
            name=self.sweep.name,
            status="running",
            started_at=started_at,
            command=" ".join(["vae-bench", *sys.argv[1:]]),
            config_file=self.sweep.source,
            overrides=list(self.sweep.overrides) or None,
            config=self.sweep.to_dict(),
            environment=capture(self.device),
            device=device,
            models={name: model_entry(spec, self.weights[name]) for name, spec in self.specs.items()},
            cases_planned=len(self.cases),
        )

    @property
    def named(self) -> str:
        """The device as the sweep's messages name it: `cuda:0 (NVIDIA H200)`, and its
        label where the sweep gave one."""
        label = f', as "{self.sweep.device_label}"' if self.sweep.device_label else ""
        return f"{self.device} ({self.device_name}{label})"

    def run_id_slug(self) -> str:
        """A CPU run's folder says "cpu"; its meta.json names the processor. A labelled
        device's folder says its label, so that two rows' runs tell apart."""
        if self.sweep.device_label:
            return self.sweep.device_label
        return "cpu" if self.device == "cpu" else self.device_name


# `auto` in a sweep: no warmup_time (a GPU's clock is waited for, and what is still
# warming up after `warmup` calls the stationarity check drops); a GPU's calls are
# quick, a CPU's slower and noisier.
MIN_TIME = {"cuda": 1.0, "cpu": 2.0}


def device_type(device: str) -> str:
    """`cpu` or `cuda`, as torch.device(...).type says it: what the rules for a device
    (auto's figures, the workers' environment) go by."""
    return "cpu" if device == "cpu" else "cuda"


def protocol_for(sweep: Sweep, device: str) -> Protocol:
    """The sweep's warmup and stop rules on this device, `auto` resolved."""
    kind = device_type(device)
    return Protocol(
        warmup=sweep.warmup,
        warmup_time=0.0 if sweep.warmup_time == "auto" else sweep.warmup_time,
        repeats=None if sweep.repeats == "auto" else sweep.repeats,
        precision=sweep.precision,
        min_repeats=sweep.min_repeats,
        min_time=MIN_TIME[kind] if sweep.min_time == "auto" else sweep.min_time,
        max_time=sweep.max_time,
        max_repeats=sweep.max_repeats,
    )


def model_entry(spec: ModelSpec, weights: Weights) -> dict:
    """What meta.json says of one model: enough to refuse a resume through another."""
    entry = {
        "class": spec.cls,
        "repo": spec.repo,
        "subfolder": spec.subfolder,
        "config": _relative(spec.config_path),
        "config_sha256": spec.config_hash,
        "weights": weights.to_dict(),
    }
    if spec.decode_kwargs:
        entry["decode_kwargs"] = spec.decode_kwargs
    return entry


def _relative(path: Path) -> str:
    """Paths inside the project are stored relative to it, so runs move between machines."""
    try:
        return str(path.relative_to(CONFIGS_DIR.parent))
    except ValueError:
        return str(path)


def resolve_device(sweep: Sweep) -> tuple[str, str, int | None]:
    """(device, its name, its total memory in bytes where known), or bad input when the
    sweep asks for a GPU that is not here."""
    import torch

    where = sweep.source or "<sweep>"
    want = sweep.device
    if want == "cpu" or (want == "auto" and not torch.cuda.is_available()):
        if sweep.memory_metric not in ("auto", "process"):
            raise BadInput(
                where,
                "memory_metric",
                f"{shown(sweep.memory_metric)} needs a CUDA device; on cpu use auto or process",
            )
        from bench.measure.environment import cpu_name

        return "cpu", as_label(cpu_name()), os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if not torch.cuda.is_available():
        raise BadInput(
            where, "device", f"{shown(want)} asked for, but torch sees no CUDA device here; use auto or cpu"
        )
    index = int(want.split(":")[1]) if ":" in want else 0
    count = torch.cuda.device_count()
    if index >= count:
        raise BadInput(where, "device", f"{shown(want)} asked for, but only cuda:0..cuda:{count - 1} exist")
    from bench.measure.environment import gpu_summary

    # NVML, not torch: the runner must not make a CUDA context of its own on the card.
    summary = gpu_summary(index)
    name = summary.get("name") or torch.cuda.get_device_name(index)
    return f"cuda:{index}", as_label(name), summary.get("total_memory")


def make_plan(
    sweep: Sweep, resolve: bool = True, pinned: dict[str, Weights] | None = None, trust_code: bool = False
) -> Plan:
    """The device, each model's class and config, cases that cannot fit the device,
    and weights that cannot be had: all checked here.

    Without `resolve` (a dry run) weights are not looked for, so nothing is downloaded,
    and a class outside diffusers is not imported (even with `trust_code`: a dry run
    runs no code a file names); `pinned` gives the weights of a run being resumed, which
    are not looked for again.
    """
    from bench.models.workloads import io_bytes

    device, device_name, total = resolve_device(sweep)
    specs = sweep.specs()
    notes: list[str] = []
    classes = {}
    for name, spec in specs.items():
        if spec.outside_diffusers and not resolve:
            notes.append(f"{name}: {spec.cls} is not imported by a dry run (a run needs --trust-code)")
            classes[name] = None
            continue
        classes[name] = check_class(spec, trust_code)
    _check_variants(sweep, specs, classes, device)
    cases = expand(sweep, specs)
    for name, spec in specs.items():
        if not spec.tiles and True in sweep.axis(name, "tiled"):
            if not any(c.model == name for c in cases):
                raise BadInput(
                    sweep.source or "<sweep>",
                    "tiled",
                    f"{name} ({spec.cls}) has no tiling: give it tiled: false",
                )
            notes.append(f"{name}: {spec.cls} has no tiling; its tiled cases are left out")
    if total:
        for case in cases:
            need = io_bytes(case, specs[case.model])
            if need > total:
                raise BadInput(
                    sweep.source or "<sweep>",
                    None,
                    f"{case.label}: its input and output alone take {need / GIB:.1f} GiB, more than "
                    f"the {total / GIB:.1f} GiB of {device_name}; leave out this resolution, frame "
                    "count or batch",
                )
    weights = {name: Weights(sweep.weights) for name in specs}
    for name, spec in specs.items() if resolve else ():
        if pinned and name in pinned:
            weights[name] = pinned[name]
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            weights[name] = resolve_weights(spec, sweep.weights, where=f"{sweep.source}: weights")
        notes.extend(str(w.message) for w in caught)
    return Plan(sweep, device, device_name, specs, weights, cases, notes, trust_code=trust_code)


def _check_variants(sweep: Sweep, specs: dict[str, ModelSpec], classes: dict, device: str) -> None:
    """Each variant axis's values against each model that takes them, on this device
    (what a class allows, where its class was imported)."""
    from bench.models.variants import refusal

    for i, (name, spec) in enumerate(specs.items()):
        cls = classes[name]
        for axis in VARIANT_AXES:
            own = axis in sweep.per_model.get(name, {})
            for value in sweep.axis(name, axis):
                why = refusal(spec, cls, axis, value, device)
                if why:
                    raise BadInput(sweep.source or "<sweep>", f"models[{i}].{axis}" if own else axis, why)


# -- resuming a stored run ---------------------------------------------------------------


def resume_plan(
    run: Run, config_path: str | Path | None, resolve: bool = True, trust_code: bool = False
) -> Plan:
    """The plan that continues `run` (as the resume read it, once): its stored sweep (or
    `config_path`, which must be the same sweep), on the device it was made on, through
    the registry classes and configs it was made with, with the weights it used."""
    run_dir, meta = run.path, run.meta
    if meta.config is None:
        raise BadInput(run_dir / META, "config", "missing: cannot resume this run")
    if config_path:
        sweep = config.load_sweep(config_path)
        _check_same_sweep(sweep.to_dict(), config.with_defaults(meta.config), config_path, run_dir)
    else:
        sweep = config.from_dict(meta.config, source=run_dir / META)
    plan = make_plan(sweep, resolve=resolve, pinned=_pinned_weights(meta), trust_code=trust_code)
    _check_resumable(meta, run_dir, plan, weights=resolve)
    plan.resume = run_dir
    return plan


def _check_same_sweep(new: dict, stored: dict, config_path, run_dir) -> None:
    """A resumed run must measure the same sweep it started with."""
    for key in sorted(set(new) | set(stored)):
        if key in ("output", "registry"):
            continue
        if new.get(key) != stored.get(key):
            raise BadInput(
                config_path,
                key,
                f"differs from the sweep stored in {run_dir} "
                f"({shown(new.get(key))} vs {shown(stored.get(key))}); resume without a config "
                "to use the stored one",
            )


def _check_resumable(meta: RunMeta, run_dir: Path, plan: Plan, weights: bool = True) -> None:
    """Only a run measured here, on this very device, with the same models, may be
    continued here."""
    if meta.imported is not None:
        raise BadInput(
            run_dir, "imported", "this run was imported from published tables; it cannot be resumed"
        )
    if meta.device_kind and meta.device_kind != plan.device:
        raise BadInput(
            run_dir,
            "device",
            f"this run was made on {meta.device_kind}; it cannot be resumed on {plan.device}",
        )
    if meta.device_name and meta.device_name != plan.device_name:
        raise BadInput(
            run_dir, "device", f"this run was made on a {meta.device_name}; this is a {plan.device_name}"
        )
    for name, spec in plan.specs.items():
        now = model_entry(spec, plan.weights[name])
        then = meta.models.get(name)  # an entry is a mapping (bench.record.run read it)
        if then is None:
            raise BadInput(run_dir, f"models.{name}", "not recorded in meta.json; this run cannot be resumed")
        for key in ("class", "repo", "subfolder", "config_sha256", "decode_kwargs"):
            if (key in then or key in now) and then.get(key) != now.get(key):
                raise BadInput(
                    run_dir,
                    f"models.{name}.{key}",
                    f"the run was made with {shown(then[key])}, the registry now gives {shown(now[key])}; "
                    "resume with the registry the run was made with, or start a new run",
                )
        old, new = then.get("weights") or {}, now["weights"]
        for key in ("kind", "source", "revision") if weights else ():
            if key in old and old[key] != new[key]:
                raise BadInput(
                    run_dir,
                    f"models.{name}.weights.{key}",
                    f"the run was made with {shown(old[key])}, now it would be {shown(new[key])}; "
                    "one run holds the cases of one set of weights: start a new run",
                )


def _pinned_weights(meta: RunMeta) -> dict[str, Weights]:
    """The random weights a run was made with stay random on resume, even when the hub
    can be reached now: one run measures one set of weights."""
    pinned = {}
    for name, entry in meta.models.items():  # entries and their weights are mappings (bench.record.run)
        w = entry.get("weights")
        if w and w.get("kind") == "random":
            pinned[name] = Weights(**{k: w.get(k) for k in ("kind", "path", "source", "revision", "note")})
    return pinned
