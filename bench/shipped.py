"""What the package ships beside its code: the sweeps, the model registry and its
bundled configs, the docs table specs and cards.yaml (configs/), and the reference
runs measured on a real GPU (reference/). They are package data, found through
importlib.resources, so an installed wheel answers as a checkout does.

A shipped sweep or spec can be named without its path (`cpu`, `docs`,
`hybrid-inference`); a name with a slash or a .yaml ending is a path."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from bench.errors import BadInput, shown

# A package installed as files (a wheel, an editable install, a checkout on the path):
# the traversable is a real folder, and the readers take paths.
PACKAGE_DIR = Path(str(files("bench")))
CONFIGS_DIR = PACKAGE_DIR / "configs"
SPECS_DIR = CONFIGS_DIR / "docs"
REFERENCE_DIR = PACKAGE_DIR / "reference"

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def _is_name(text: str) -> bool:
    return bool(_NAME.fullmatch(text)) and not text.endswith((".yaml", ".yml"))


# configs/ holds two tables beside the sweeps
NOT_SWEEPS = ("cards", "models")


def names_in(folder: Path) -> list[str]:
    found = (p.stem for p in folder.glob("*.yaml") if p.is_file() and not p.is_symlink())
    return sorted(n for n in found if folder != CONFIGS_DIR or n not in NOT_SWEEPS)


def resolve(text: str, folder: Path, what: str, field: str) -> Path:
    """A path as given, or the shipped file a bare name means (`cpu` is
    configs/cpu.yaml): a bare name that is not shipped is bad input naming those that
    are, never a file of that name in the current folder read by accident."""
    if not _is_name(text):
        return Path(text)
    path = folder / f"{text}.yaml"
    if text in names_in(folder):
        return path
    shipped = ", ".join(names_in(folder))
    raise BadInput(
        None, field, f"{shown(text)} is not a shipped {what} ({shipped}) nor a path to a .yaml file"
    )


def sweep_path(text: str, field: str = "config") -> Path:
    return resolve(text, CONFIGS_DIR, "sweep", field)


def spec_path(text: str, field: str = "--spec") -> Path:
    return resolve(text, SPECS_DIR, "table spec", field)


@dataclass(frozen=True)
class Reference:
    """A run the package ships, and what it is the default for."""

    run_id: str
    what: str

    @property
    def path(self) -> Path:
        return REFERENCE_DIR / self.run_id


# The docs sweep as shipped (SD v1 float16, SDXL float32, 256-2048, tiled and untiled)
# and the variants sweep (dtypes, tile sizes, attention, channels_last, with quality).
DOCS_RUN = Reference("20261126-054619-nvidia-h200-docs", "configs/docs.yaml on an NVIDIA H200")
VARIANTS_RUN = Reference(
    "20261126-054842-nvidia-h200-variants-lease",
    "configs/variants.yaml on an NVIDIA H200, 87 of 144 cases, with quality",
)
REFERENCES = (DOCS_RUN, VARIANTS_RUN)


def used(ref: Reference, role: str = "") -> str:
    """The one line a command prints when it falls back on a shipped run."""
    role = f" {role}" if role else ""
    return (
        f"using the shipped reference run {ref.run_id}{role} ({ref.what}, random weights); "
        "give RUN_DIR for your own"
    )
