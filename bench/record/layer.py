"""A layered environment, as a run records it: `vae-bench matrix` and `bisect` run a
sweep in a virtualenv that holds only the packages asked for (`with`) and sees the
rest of the base environment through a .pth file. The layer's folder holds LAYER_FILE,
written when it was built; a run made by the layer's interpreter records it in
meta.json's environment as `layer`, with the version of every package the layer holds
(read from the layer's own site-packages as the run starts, so what is recorded is
what was imported, not what the base holds)."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from bench import files
from bench.errors import BadInput
from bench.strict import Invalid, Obj

# In the layer's folder (its sys.prefix).
LAYER_FILE = "vae-bench-layer.json"
LAYER_FORMAT = 1
KEY_RE = re.compile(r"[0-9a-f]{16,64}")
COMMIT_RE = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
MAX_PACKAGES = 1000


@dataclass(frozen=True)
class Layer:
    want: tuple[str, ...]  # the requirements, as given (`diffusers==0.41.0`, a path)
    key: str  # what the cache folder is named by: a hash of what the layer holds
    commit: str | None = None  # the commit a checkout was installed from
    label: str = ""  # how tables and history name it: `diffusers 0.41.0`, a short commit
    packages: tuple[tuple[str, str], ...] = ()  # (distribution, version) the layer holds

    def as_json(self) -> dict:
        return {
            "want": list(self.want),
            "key": self.key,
            "commit": self.commit,
            "label": self.label,
            "packages": dict(self.packages),
        }

    def version(self, package: str) -> str | None:
        wanted = _canonical(package)
        return next((v for name, v in self.packages if _canonical(name) == wanted), None)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read(o: Obj) -> Layer:
    """The layer section of a run's environment, or a layer's own file: strictly."""
    want = o.strs("want", max_len=4096)
    if not want:
        raise o.bad("want", "must name at least one requirement")
    packages = o.obj("packages")
    pairs: list[tuple[str, str]] = []
    if packages is not None:
        if len(packages.d) > MAX_PACKAGES:
            raise o.bad("packages", f"more than {MAX_PACKAGES} packages")
        pairs = [(name[:200], packages.str(name, required=True, max_len=200)) for name in packages.d]
    return Layer(
        want=want,
        key=o.str("key", required=True, pattern=KEY_RE),
        commit=o.str("commit", pattern=COMMIT_RE),
        label=o.str("label", max_len=200) or "",
        packages=tuple(pairs),
    )


def from_environment(environment: dict) -> Layer | None:
    """The `layer` of a meta.json's environment section (None for a run made in the
    base environment); a malformed one is Invalid, as any field of meta.json is."""
    section = environment.get("layer")
    if section is None:
        return None
    return read(Obj(section, "environment.layer"))


def read_file(folder: Path) -> Layer:
    """A layer's own LAYER_FILE, in its folder, strictly."""
    path = folder / LAYER_FILE
    try:
        return read(Obj(files.read_json(path, "layer file")))
    except Invalid as exc:
        raise BadInput(path, exc.field, exc.why) from None


def site_packages(prefix: Path) -> Path:
    return prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def current() -> Layer | None:
    """The layer this interpreter runs in (None in a base environment), with the
    versions its site-packages holds now."""
    prefix = Path(sys.prefix)
    if not files.regular_or_absent(prefix / LAYER_FILE, "layer file"):
        return None
    layer = read_file(prefix)
    found = metadata.distributions(path=[str(site_packages(prefix))])
    packages = sorted({(d.metadata["Name"], d.version) for d in found if d.metadata["Name"]})
    return Layer(layer.want, layer.key, layer.commit, layer.label, tuple(packages))
