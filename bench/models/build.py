"""Turn a registry entry into a model on a device: pretrained weights when they can
be had (safetensors only), otherwise the same architecture with random weights.

Time and memory do not depend on the weight values, so a random-weight run measures
the same thing; the run records which one it used.
"""

from __future__ import annotations

import importlib
import inspect
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.errors import BadInput
from bench.models.registry import ModelSpec


@dataclass(frozen=True)
class Weights:
    kind: str  # "pretrained" | "random"
    path: str | None = None  # local folder to load from
    source: str | None = None  # the hub repo or folder the registry names
    revision: str | None = None  # resolved hub commit, when known
    note: str | None = None  # why we fell back to random weights

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_weights(spec: ModelSpec, policy: str, where: str = "weights") -> Weights:
    """Decide, before any run folder exists, where this model's weights come from.

    `pretrained` that cannot be had is bad input; `auto` falls back to random with a
    warning that says why.
    """
    if policy == "random":
        return Weights("random")
    try:
        return _find_pretrained(spec)
    except LookupError as exc:
        if policy == "pretrained":
            raise BadInput(
                where,
                spec.name,
                f"pretrained weights not reachable: {exc}; "
                "use weights: auto or random to measure with random weights",
            ) from None
        note = f"{spec.name}: pretrained weights not reachable ({exc}); using random weights"
        warnings.warn(note, stacklevel=2)
        return Weights("random", source=spec.repo, note=note)


def _find_pretrained(spec: ModelSpec) -> Weights:
    if not spec.repo:
        raise LookupError("the registry names no repo or folder")
    local = Path(spec.repo).expanduser()
    if local.is_dir():
        folder = local / spec.subfolder if spec.subfolder else local
        _check_folder(folder)
        return Weights("pretrained", path=str(local), source=spec.repo)
    if spec.repo.startswith((".", "/", "~")):
        raise LookupError(f"no folder {spec.repo}")

    from huggingface_hub import snapshot_download

    prefix = f"{spec.subfolder}/" if spec.subfolder else ""
    try:
        path = snapshot_download(
            spec.repo,
            revision=spec.revision,
            allow_patterns=[
                f"{prefix}config.json",
                f"{prefix}*.safetensors",
                f"{prefix}*.safetensors.index.json",
            ],
        )
    except Exception as exc:  # the hub client raises many types: offline, gated, missing
        raise LookupError(f"{spec.repo}: {type(exc).__name__}: {_first_line(exc)}") from None
    folder = Path(path) / spec.subfolder if spec.subfolder else Path(path)
    _check_folder(folder)
    # Snapshot folders are named by the commit they hold.
    revision = Path(path).name if Path(path).parent.name == "snapshots" else spec.revision
    return Weights("pretrained", path=path, source=spec.repo, revision=revision)


# What diffusers' from_pretrained(use_safetensors=True) reads: one file, or the index of
# a sharded one.
WEIGHTS_FILE = "diffusion_pytorch_model.safetensors"
WEIGHTS_INDEX = WEIGHTS_FILE + ".index.json"


def _check_folder(folder: Path) -> None:
    """A folder from_pretrained will load, checked before any run exists (a stray file
    would otherwise fail in the worker, after the run folder is made): a config.json
    that is a JSON object, and the safetensors weights diffusers reads, whose header
    reads. Hub snapshots link their files to the cache's blobs: those links are the
    hub client's, and followed."""
    from bench.errors import BadInput
    from bench.files import read_json

    if not (folder / "config.json").is_file():
        raise LookupError(f"no config.json in {folder}")
    try:
        config = read_json(folder / "config.json", "model config", follow=True)
    except BadInput as exc:
        raise LookupError(str(exc)) from None
    if not isinstance(config, dict):
        raise LookupError(f"{folder / 'config.json'} does not hold a JSON object")
    weights = folder / WEIGHTS_FILE
    if (folder / WEIGHTS_INDEX).is_file():
        return
    if not weights.is_file():
        found = sorted(p.name for p in folder.glob("*.safetensors"))
        said = f" (it has {', '.join(found[:3])}, which diffusers does not load)" if found else ""
        raise LookupError(f"no {WEIGHTS_FILE} in {folder}{said}; only safetensors weights are loaded")
    try:
        from safetensors import safe_open

        with safe_open(str(weights), framework="pt"):
            pass
    except Exception as exc:  # safetensors raises its own error types for a bad header
        raise LookupError(f"{weights} is not a safetensors file ({type(exc).__name__})") from None


TRUST_HINT = "vae-bench imports it only when the command line says --trust-code"


def model_class(spec: ModelSpec, trust_code: bool = False):
    """The registry entry's class: diffusers' by name, or, with `trust_code` (the command
    line's --trust-code, never a file's), `module:Class`, whose import runs that module.
    A config file or a run folder can name any module; importing it is running it."""
    if spec.outside_diffusers:
        if not trust_code:
            raise BadInput(
                spec.registry_path or "registry",
                f"{spec.name}.class",
                f"{spec.cls!r} is code outside diffusers; {TRUST_HINT}",
            )
        module, name = spec.cls.split(":", 1)
        return getattr(importlib.import_module(module), name)
    import diffusers

    return getattr(diffusers, spec.cls)


def check_class(spec: ModelSpec, trust_code: bool = False) -> type:
    """Bad input, before any run exists, for a registry class that may not be imported
    (see model_class), cannot be found or is not a diffusers model (a ModelMixin: not a
    pipeline), and for a bundled config that its __init__ would not take: a key it has
    no parameter for (the config of another class), or a parameter without a default
    that the config lacks. Returns the class."""
    from diffusers import ModelMixin

    where = spec.registry_path or "registry"
    try:
        cls = model_class(spec, trust_code)
    except (ImportError, AttributeError, ValueError, TypeError) as exc:
        raise BadInput(
            where,
            f"{spec.name}.class",
            f"{spec.cls!r} cannot be found: {type(exc).__name__}: {_first_line(exc)}",
        ) from None
    if not isinstance(cls, type) or not issubclass(cls, ModelMixin):
        raise BadInput(
            where, f"{spec.name}.class", f"{spec.cls!r} is not a diffusers model class (a ModelMixin)"
        )
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return cls
    names = {p.name for p in params}
    unknown = [k for k in spec.config if not k.startswith("_") and k not in names]
    lacking = [
        p.name
        for p in params
        if p.default is p.empty
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and p.name not in spec.config
    ]
    if unknown or lacking:
        said = []
        if unknown:
            said.append(
                f"has {', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}, which it does not take"
            )
        if lacking:
            said.append(f"lacks {', '.join(lacking)}, which it needs")
        raise BadInput(
            spec.config_path,
            None,
            f"not a config of {cls.__name__} ({spec.name}'s class): it {' and '.join(said)}",
        )
    return cls


def build(spec: ModelSpec, weights: Weights, device: str, dtype: str, trust_code: bool = False):
    """The model in eval mode on `device` in `dtype`."""
    import torch

    cls = model_class(spec, trust_code)
    dt = getattr(torch, dtype)
    if weights.kind == "pretrained":
        # torch_dtype, not .to(): diffusers then keeps the modules a model marks
        # as float32-only in float32, as a pipeline would.
        model = cls.from_pretrained(
            weights.path, subfolder=spec.subfolder, use_safetensors=True, torch_dtype=dt
        )
    else:
        torch.manual_seed(0)
        # Built where it runs: on a GPU, random weights never pass through the host
        # (the slow part of starting a worker, when built on the CPU and copied).
        with torch.device(device):
            model = cls.from_config(spec.config)
        with _diffusers_quiet():
            # diffusers warns about float32-only modules on any .to(dtype), even
            # when the model has none; those it has are put back just below.
            model.to(dtype=dt)
        keep = getattr(model, "_keep_in_fp32_modules", None) or []
        for name, module in model.named_modules():
            if keep and any(k in name.split(".") for k in keep):
                module.to(dtype=torch.float32)
    return model.to(device=device).eval()


@contextmanager
def _diffusers_quiet():
    from diffusers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(level)


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
