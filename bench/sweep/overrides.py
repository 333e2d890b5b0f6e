"""`vae-bench run SWEEP key=value ...`: a one-off change to a sweep without a new file.
Each override replaces one field of the file as read (a dotted key reaches into a
mapping: `tiling.sd-v1.tile_sample_min_size=256`), before the sweep is checked, so
an override is held to the same rules as the file; a comma makes a list
(`models=sdxl,sd-v1`), and each value reads as YAML reads a scalar (`repeats=5` is
a number, `tiled=false` a flag). `models=...` drops the file's `tiling` of the models
it leaves out; tiling given on the command line is kept whole."""

from __future__ import annotations

import re
from typing import Any

from bench.errors import BadInput, shown

_KEY = re.compile(r"[a-z_]{1,40}(\.[A-Za-z0-9_.-]{1,80})?")
MAX_VALUE = 1000


def parse(text: str) -> tuple[list[str], Any]:
    """`key=value` as (the key's path, the value)."""
    import yaml

    key, eq, value = text.partition("=")
    if not eq or not _KEY.fullmatch(key):
        raise BadInput(
            None, "override", f"{shown(text)} is not key=value (e.g. ops=decode, resolutions=512,1024)"
        )
    if len(value) > MAX_VALUE:
        raise BadInput(None, key, f"the override's value is longer than {MAX_VALUE} characters")
    parts = key.split(".", 1)
    path = [parts[0], *(parts[1].rsplit(".", 1) if len(parts) > 1 else [])]

    def scalar(item: str) -> Any:
        try:
            got = yaml.safe_load(item) if item.strip() else None
        except yaml.YAMLError:
            got = item
        if isinstance(got, (dict, list)) or got is None:
            raise BadInput(None, key, f"{shown(item)}: give a value, or values separated by commas")
        return got

    return path, [scalar(v) for v in value.split(",")] if "," in value else scalar(value)


def apply(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """The file's fields with the overrides in place (the file's dict is left as read)."""
    import copy

    out = copy.deepcopy(raw)
    for text in overrides:
        path, value = parse(text)
        at = out
        for step in path[:-1]:
            inner = at.get(step)
            if inner is None:
                inner = at[step] = {}
            if not isinstance(inner, dict):
                raise BadInput(None, ".".join(path), f"{step} is not a mapping in the sweep: give {step}=...")
            at = inner
        at[path[-1]] = value
    given = {parse(text)[0][0] for text in overrides}
    if "models" in given and "tiling" not in given and isinstance(out.get("tiling"), dict):
        # the file's tiling of a model the command line left out is no longer the sweep's
        kept = set(out["models"]) if isinstance(out["models"], list) else {out["models"]}
        out["tiling"] = {m: knobs for m, knobs in out["tiling"].items() if m in kept}
    return out
