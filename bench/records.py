"""What a stored run and its case records say, read the same way by compare,
history and plot: the case's label and size, its median time, its memory peak."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.cases import Case
from bench.errors import BadInput
from bench.measure.stats import MEM_FIELD, peak_of  # noqa: F401  (MEM_FIELD: for readers)
from bench.store import CASES, read_cases, read_meta

MIB = 1024**2


def open_run(run_dir: str | Path) -> tuple[dict, list[dict]]:
    """meta.json and every case of one run, or bad input: a missing folder, a
    corrupt meta.json or case line, a run with no case stored."""
    meta = read_meta(run_dir)
    records = read_cases(run_dir, strict=True)
    if not records:
        raise BadInput(Path(run_dir) / CASES, None, "no case stored in this run")
    return meta, records


def run_id(meta: dict, run_dir: str | Path) -> str:
    return str(meta.get("run_id") or Path(run_dir).name)


def device_kind(meta: dict, records: Sequence[dict] = ()) -> str:
    """ "cuda:0", "cpu", ...: what the run measured on."""
    kind = (meta.get("device") or {}).get("device")
    if not kind and records:
        kind = records[0].get("device")
    return str(kind or "unknown")


def device_name(meta: dict) -> str:
    device = meta.get("device") or {}
    return str(device.get("name") or device.get("device") or "unknown device")


def is_gpu(meta: dict, records: Sequence[dict] = ()) -> bool:
    return device_kind(meta, records).startswith("cuda")


def case_of(record: dict) -> Case:
    return Case.from_params(record)


def label(record: dict) -> str:
    return case_of(record).label


def size_label(record: dict) -> str:
    """`WxH`, or `WxHxF` for video."""
    return case_of(record).size_label


def megapixels(record: dict) -> float:
    return record["width"] * record["height"] * (record.get("frames") or 1) / 1e6


def samples(record: dict) -> list[float]:
    return list((record.get("time_s") or {}).get("samples") or [])


def median_time(record: dict) -> float | None:
    if record.get("status") != "ok":
        return None
    return (record.get("time_s") or {}).get("median")


def peak_bytes(record: dict) -> int | None:
    """The peak of the record's own memory metric (nvml: the card's peak use minus
    what it used before the worker started), or None where it was not measured."""
    if record.get("status") != "ok":
        return None
    mem = record.get("mem") or {}
    return peak_of(mem, mem.get("metric"))


def mem_metric(record: dict) -> str | None:
    return (record.get("mem") or {}).get("metric")
