"""How a record (a cases.jsonl line) or a meta.json of an older format takes the
current shape before it is read: one named step per format, `upgrade_record_to_N` and
`upgrade_meta_to_N` (as asv's `update_to_N`), applied in order from the format a file
holds. A step only reshapes the JSON object; reading it stays strict (bench.strict),
after every step has run, and a format newer than this vae-bench's is refused before
any does (bench.record.run)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Step = Callable[[dict[str, Any]], dict[str, Any]]

# What format 2 writes that format 1 records lack, each null where nothing was measured.
_RECORD_NEW_IN_2 = (
    "variant",
    "error_phase",
    "warmup_calls",
    "warmup_s",
    "precision_met",
    "clocks",
    "quality",
    "setup_s",
    "measure_s",
    "quality_s",
)
_TIME_NEW_IN_2 = ("ci_low", "ci_high", "calls")
_MEM_NEW_IN_2 = ("first_call_allocated", "first_call_reserved", "first_call_process")
_META_NEW_IN_2 = ("resumed_at", "workers", "time_spent")


def upgrade_record_to_2(obj: dict[str, Any]) -> dict[str, Any]:
    """Format 2: records store their `format`. Format 1 (every record written before
    that) stored no interval of the median (`time_s.ci_low`, `ci_high`) nor the count
    of timed calls (`calls`); no variant; no phase a failure happened in; no warmup
    calls or seconds; no word on whether the median met the sweep's precision; no
    clocks and no quality; no split of the case's time (`setup_s`, `measure_s`,
    `quality_s`); no peaks of the first call alone (`mem.first_call_*`). Each becomes
    null, as format 2 writes a figure that was not measured; a field a late format-1
    record already holds is kept as it is."""
    out = {**dict.fromkeys(_RECORD_NEW_IN_2), **obj, "format": 2}
    for key, new in (("time_s", _TIME_NEW_IN_2), ("mem", _MEM_NEW_IN_2)):
        if isinstance(obj.get(key), dict):
            out[key] = {**dict.fromkeys(new), **obj[key]}
    return out


def upgrade_meta_to_2(obj: dict[str, Any]) -> dict[str, Any]:
    """Format 2: meta.json stores its `format`. Format 1 kept no list of resumes
    (`resumed_at`), of the workers started (`workers`) or of where each sweep's time
    went (`time_spent`): each becomes an empty list."""
    return {**{key: [] for key in _META_NEW_IN_2}, **obj, "format": 2}


RECORD_STEPS: dict[int, Step] = {2: upgrade_record_to_2}
META_STEPS: dict[int, Step] = {2: upgrade_meta_to_2}


def upgraded(obj: dict[str, Any], version: int, steps: dict[int, Step]) -> dict[str, Any]:
    """`obj`, of format `version`, through every step above it, in order (a new dict:
    the object read stays as it was)."""
    for to in sorted(n for n in steps if n > version):
        obj = steps[to](obj)
    return obj
