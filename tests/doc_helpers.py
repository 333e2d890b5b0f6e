"""Helpers for the documentation-table tests: the fixture pages, and runs written by
hand in the run format of ARCHITECTURE.md."""

from __future__ import annotations

from pathlib import Path

from bench.docs.pages import find_blocks, read_lines, tables_in
from bench.record.case import Case
from bench.record.figures import Memory, Timing
from bench.record.run import CaseRecord, RunMeta
from bench.record.store import RunWriter
from tests.conftest import FIXTURES, ROOT

DOCS = FIXTURES / "docs"
SPECS = ROOT / "bench" / "configs" / "docs"
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
    tile: int = 512,
) -> CaseRecord:
    case = Case(
        model,
        op,
        width,
        height,
        frames,
        1,
        dtype,
        tiled,
        (("tile_sample_min_size", tile),) if tiled else None,
    )
    ok = status == "ok"
    mem = Memory(total=total, metric="reserved")
    if ok:
        peak = int(percent / 100 * total) if percent is not None else None
        mem = Memory(peak_reserved=peak, total=total, percent=percent, metric="reserved")
    return CaseRecord.new(
        case,
        weights="random",
        device="cuda:0",
        status=status,
        error=None if ok else status,
        warmup=1,
        repeats=3,
        first_call_s=median,
        time=Timing(median, median, median, median, 0.0, (median,)) if ok else None,
        mem=mem,
    )


def write_run(root: Path, name: str, device: str | None, records: list[CaseRecord]) -> Path:
    meta = RunMeta(name="t", device={"device": "cuda:0", "name": device} if device else {})
    writer = RunWriter.create(root, name, meta, unique=False)
    for r in records:
        writer.append(r)
    writer.close()
    return writer.dir
