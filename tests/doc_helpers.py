"""Helpers for the documentation-table tests: the fixture pages, and runs written by
hand in the run format of DESIGN.md."""

from __future__ import annotations

import json
from pathlib import Path

from bench.cases import Case
from bench.pages import find_blocks, read_lines, tables_in
from tests.conftest import FIXTURES, ROOT

DOCS = FIXTURES / "docs"
SPECS = ROOT / "configs" / "docs"
# fixture page -> the shipped spec of its tables
PAGES = {
    "overview.en.md": "hybrid-inference.yaml",
    "vae_encode.en.md": "vae-encode.yaml",
    "vae_decode.en.md": "vae-decode.yaml",
}
GIB = 2**30


def page_tables(path: Path) -> dict[str, str]:
    """Block title -> the table inside it, exactly as on the page (no final newline)."""
    lines = read_lines(path)
    tables = {}
    for block in find_blocks(lines):
        found = tables_in(lines, block)
        if len(found) == 1:
            t = found[0]
            tables[block.title] = "".join(lines[t.start : t.end]).rstrip("\r\n")
    return tables


def record(
    model: str = "sd-v1",
    op: str = "encode",
    width: int = 512,
    height: int = 512,
    frames: int | None = None,
    tiled: bool = False,
    status: str = "ok",
    median: float | None = 0.1,
    percent: float | None = 10.0,
    dtype: str = "float16",
    total: int = 24 * GIB,
) -> dict:
    case = Case(
        model, op, width, height, frames, 1, dtype, tiled, (("tile_sample_min_size", 512),) if tiled else None
    )
    ok = status == "ok"
    return {
        "case_id": case.case_id,
        "model": model,
        "weights": "random",
        "op": op,
        "height": height,
        "width": width,
        "frames": frames,
        "batch": 1,
        "dtype": dtype,
        "tiled": tiled,
        "tiling": case.tiling_dict,
        "device": "cuda:0",
        "status": status,
        "error": None if ok else status,
        "warmup": 1,
        "repeats": 3,
        "first_call_s": median,
        "time_s": {
            "median": median,
            "mean": median,
            "min": median,
            "max": median,
            "iqr": 0.0,
            "samples": [median],
        }
        if ok
        else None,
        "mem": {
            "peak_allocated": None,
            "peak_reserved": int(percent / 100 * total) if ok and percent is not None else None,
            "nvml_peak_used": None,
            "nvml_baseline_used": None,
            "process_peak": None,
            "total": total,
            "percent": percent if ok else None,
            "metric": "reserved",
        },
        "started_at": None,
        "ended_at": None,
    }


def write_run(root: Path, name: str, device: str | None, records: list[dict]) -> Path:
    run = root / name
    run.mkdir(parents=True)
    meta = {"run_id": name, "name": "t", "device": {"device": "cuda:0", "name": device} if device else {}}
    (run / "meta.json").write_text(json.dumps(meta))
    (run / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return run
