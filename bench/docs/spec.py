"""Table specs (configs/docs/*.yaml): which tables a documentation page holds.

For each `<details><summary>TITLE</summary>` block: the model and op it shows, the
table style, the header label variant (its words come from bench.docs.labels, per
language), which devices and resolutions, and the row order. Bad input stops here
with one line naming the file and field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.docs.labels import LANGS, VARIANTS
from bench.docs.styles import STYLES
from bench.errors import BadInput, shown
from bench.files import read_yaml
from bench.models.registry import load_registry
from bench.models.tiling import check_knob, normalize_knobs
from bench.record.case import DTYPES, OPS
from bench.record.series import SeriesKey, untiled_partner
from bench.shipped import SPECS_DIR, spec_path

ROW_ORDERS = ("device", "resolution")
SIZE_RE = re.compile(r"^(\d+)x(\d+)(?:x(\d+))?$")

_TOP = {"name", "lang", "dtype", "batch", "sweep", "registry", "blocks"}
_BLOCK = {"title", "model", "op", "style", "labels", "devices", "resolutions", "rows", "dtype", "tiling"}
_BLOCK_REQUIRED = ("title", "model", "op", "style")


@dataclass(frozen=True)
class BlockSpec:
    title: str
    model: str
    op: str
    style: str  # "encode" | "decode"
    labels: str = "default"  # header variant, see bench.docs.labels
    devices: tuple[str, ...] | None = None  # None: every device of the runs, in run order
    resolutions: tuple[str, ...] | None = None  # "WxH" or "WxHxF"; None: all, smallest first
    rows: str = "device"  # "device": each device's resolutions together; "resolution": the reverse
    # The setup the block's figures were made with: runs made otherwise are refused.
    dtype: str | None = None  # the block's own, else the spec's; None: the one the runs hold
    tiling: tuple[tuple[str, Any], ...] | None = None  # knobs its tiled figures ran with
    # A run's own tables (not a page's) have a block per variant: its axes (Case.axes)
    # and, for the tiled column, the tiling knobs a sweep swept (Case.swept_tiling).
    variant: tuple[tuple[str, Any], ...] | None = None
    swept: tuple[tuple[str, Any], ...] | None = None

    def series(self, dtype: str, batch: int, tiled: bool) -> SeriesKey:
        """The series of the block's tiled column, or of the untiled one beside it."""
        key = SeriesKey(self.model, self.op, dtype, batch, self.variant, self.swept, True)
        return key if tiled else untiled_partner(key)

    @property
    def tiling_dict(self) -> dict[str, Any]:
        return dict(self.tiling or ())


@dataclass(frozen=True)
class DocSpec:
    name: str
    lang: str
    dtype: str | None  # blocks without their own: None, the one dtype the runs hold
    batch: int
    blocks: tuple[BlockSpec, ...]
    sweep: Path | None = None  # the sweep behind the tables; `docs import` takes tiling from it
    registry: Path | None = None
    source: str | None = None


def size_key(label: str) -> tuple[int, int, int, int]:
    """Sort key of a resolution label: pixel count first."""
    m = SIZE_RE.match(label)
    if not m:
        return (0, 0, 0, 0)
    w, h, f = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    return (w * h * max(f, 1), w, h, f)


def load_spec(path: str | Path) -> DocSpec:
    """A spec file, or a shipped spec by its name (`hybrid-inference`) where `path` is text."""
    path = spec_path(path) if isinstance(path, str) else path
    raw = read_yaml(path, "table spec", follow=True)
    if not isinstance(raw, dict):
        raise BadInput(path, None, "must be a mapping with `blocks`")
    return from_dict(raw, source=path)


def from_dict(raw: dict[str, Any], source: str | Path | None = None) -> DocSpec:
    src = str(source) if source else "<spec>"
    base = Path(source).parent if source else Path.cwd()

    def bad(fld: str, why: str) -> BadInput:
        return BadInput(src, fld, why)

    for key in raw:  # `x-...` keys hold YAML anchors for the blocks to share
        if key not in _TOP and not str(key).startswith("x-"):
            raise bad(str(key), f"unknown key; allowed: {', '.join(sorted(_TOP))}, x-...")
    name = raw.get("name", Path(src).stem)
    if not isinstance(name, str) or not name:
        raise bad("name", "must be a word")
    lang = raw.get("lang", "en")
    if lang not in LANGS:
        raise bad("lang", f"must be one of {', '.join(LANGS)}, got {shown(lang)}")
    dtype = raw.get("dtype")
    if dtype is not None and dtype not in DTYPES:
        raise bad("dtype", f"must be one of {', '.join(DTYPES)}, got {shown(dtype)}")
    batch = raw.get("batch", 1)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise bad("batch", f"must be a positive integer, got {shown(batch)}")
    sweep = _path(raw.get("sweep"), base, "sweep", bad)
    registry_path = _path(raw.get("registry"), base, "registry", bad)
    registry = load_registry(registry_path)

    blocks_raw = raw.get("blocks")
    if not isinstance(blocks_raw, list) or not blocks_raw:
        raise bad("blocks", "missing: a list of blocks, each with title, model, op and style")
    blocks = []
    for i, b in enumerate(blocks_raw):
        where = f"blocks[{i}]"
        if not isinstance(b, dict):
            raise bad(where, "must be a mapping")
        for key in b:
            if key not in _BLOCK:
                raise bad(f"{where}.{key}", f"unknown key; allowed: {', '.join(sorted(_BLOCK))}")
        for key in _BLOCK_REQUIRED:
            if key not in b:
                raise bad(f"{where}.{key}", "missing (required)")
        title = b["title"]
        if not isinstance(title, str) or not title.strip():
            raise bad(f"{where}.title", "must be the block's <summary> text")
        if b["model"] not in registry:
            raise bad(f"{where}.model", f"unknown model {shown(b['model'])}; known: {', '.join(registry)}")
        if b["op"] not in OPS:
            raise bad(f"{where}.op", f"must be one of {', '.join(OPS)}, got {shown(b['op'])}")
        if b["style"] not in STYLES:
            raise bad(f"{where}.style", f"unknown style {shown(b['style'])}; known: {', '.join(STYLES)}")
        labels = b.get("labels", "default")
        if labels not in VARIANTS:
            raise bad(
                f"{where}.labels", f"unknown label variant {shown(labels)}; known: {', '.join(VARIANTS)}"
            )
        rows = b.get("rows", "device")
        if rows not in ROW_ORDERS:
            raise bad(f"{where}.rows", f"must be one of {', '.join(ROW_ORDERS)}, got {shown(rows)}")
        block_dtype = b.get("dtype", dtype)
        if block_dtype is not None and block_dtype not in DTYPES:
            raise bad(f"{where}.dtype", f"must be one of {', '.join(DTYPES)}, got {shown(block_dtype)}")
        knobs = _knobs(b.get("tiling"), registry[b["model"]], f"{where}.tiling", bad)
        blocks.append(
            BlockSpec(
                title=" ".join(title.split()),
                model=b["model"],
                op=b["op"],
                style=b["style"],
                labels=labels,
                devices=_devices(b.get("devices"), f"{where}.devices", bad),
                resolutions=_sizes(b.get("resolutions"), f"{where}.resolutions", bad),
                rows=rows,
                dtype=block_dtype,
                tiling=knobs,
            )
        )
    titles = [b.title for b in blocks]
    for t in titles:
        if titles.count(t) > 1:
            raise bad("blocks", f"title {shown(t)} appears twice; each block needs its own <summary>")
    return DocSpec(
        name=name,
        lang=lang,
        dtype=dtype,
        batch=batch,
        blocks=tuple(blocks),
        sweep=sweep,
        registry=registry_path,
        source=str(source) if source else None,
    )


def shipped_specs() -> list[Path]:
    return sorted(SPECS_DIR.glob("*.yaml"))


def specs_of_sweep(sweep_file: str | Path | None) -> list[Path]:
    """The shipped specs whose tables the runs of this sweep file fill (their `sweep`)."""
    if not sweep_file or not Path(sweep_file).is_file():
        return []
    target = Path(sweep_file).resolve()
    return [path for path in shipped_specs() if load_spec(path).sweep == target]


def _path(value: Any, base: Path, fld: str, bad) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise bad(fld, "must be a path")
    path = (base / value).resolve()
    if not path.is_file():
        raise bad(fld, f"no such file {path}")
    return path


def _knobs(value: Any, spec, fld: str, bad) -> tuple[tuple[str, Any], ...] | None:
    """Tiling knobs as the registry allows them for the block's model (those named
    only: the others are not checked)."""
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        raise bad(fld, "must be a mapping of tiling knobs, e.g. {tile_sample_min_size: 512}")
    for knob, v in value.items():
        why = check_knob(spec.tiling_kind, knob, v, spec.spatial_compression, spec.temporal_compression)
        if why:
            raise bad(f"{fld}.{knob}", why)
    return tuple(sorted(normalize_knobs(spec.tiling_kind, value).items()))


def _devices(value: Any, fld: str, bad) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(d, str) and d for d in value):
        raise bad(fld, "must be a list of device names as the runs record them")
    return tuple(dict.fromkeys(value))


def _sizes(value: Any, fld: str, bad) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise bad(fld, "must be a list of resolutions like 512, 768x512 or 512x320x61")
    labels = []
    for v in value:
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            labels.append(f"{v}x{v}")
        elif isinstance(v, str) and SIZE_RE.match(v.strip()):
            labels.append(v.strip())
        else:
            raise bad(fld, f"{shown(v)} is not a resolution; use 512, 768x512 (WxH) or 512x320x61 (WxHxF)")
    return tuple(dict.fromkeys(labels))
