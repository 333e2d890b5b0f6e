"""Which autoencoder classes of the installed diffusers the registry measures: each
class found by walking diffusers.models.autoencoders (every ModelMixin subclass a
module there defines; no list of ours), as registered (by which entries), excluded
(with the registry's reason) or new. A diffusers release that adds a VAE shows up as
new, by name, until the registry takes it or says why not."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from pathlib import Path

from bench.models.registry import load_exclusions, load_registry

STATUSES = ("registered", "excluded", "new", "gone")


@dataclass(frozen=True)
class Coverage:
    cls: str
    module: str | None  # None: named by the registry, not in the installed diffusers
    status: str  # one of STATUSES
    detail: str  # the entries that measure it, or why it is excluded
    entries: tuple[str, ...] = ()


def autoencoder_classes() -> dict[str, str]:
    """Class name -> module, for every model class diffusers' autoencoder modules define."""
    import diffusers.models.autoencoders as package
    from diffusers.models.modeling_utils import ModelMixin

    found: dict[str, str] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, ModelMixin) and obj.__module__ == module.__name__:
                found[name] = module.__name__
    return dict(sorted(found.items()))


def coverage(registry: str | Path | None = None) -> list[Coverage]:
    specs = load_registry(registry)
    excluded = load_exclusions(registry)
    by_class: dict[str, list[str]] = {}
    for spec in specs.values():
        if not spec.outside_diffusers:
            by_class.setdefault(spec.cls, []).append(spec.name)
    found = autoencoder_classes()
    rows = []
    for cls, module in found.items():
        if cls in by_class:
            rows.append(Coverage(cls, module, "registered", ", ".join(by_class[cls]), tuple(by_class[cls])))
        elif cls in excluded:
            rows.append(Coverage(cls, module, "excluded", excluded[cls]))
        else:
            rows.append(Coverage(cls, module, "new", "neither registered nor excluded"))
    # what the registry names that this diffusers lacks (an older release, or a class gone)
    for cls in sorted({*by_class, *excluded} - set(found)):
        where = ", ".join(by_class[cls]) if cls in by_class else excluded[cls]
        rows.append(Coverage(cls, None, "gone", f"not in the installed diffusers ({where})"))
    return rows
