"""Stored runs -> documentation tables.

Several runs, typically one per GPU, merge into one set of measurements; a table has
one row per device x resolution, the device named as its run recorded it (meta.json
`device.label` where the sweep gave one, else `device.name`), the untiled and tiled
cases of the same size side by side. Figures: `time_s.median` and `mem.percent`;
status `oom` is the OOM word. Reads the store only."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bench.analysis.summary import drift_words
from bench.docs.labels import LabelSet, label_set
from bench.docs.spec import BlockSpec, DocSpec, size_key
from bench.docs.styles import Cell, Row, render
from bench.errors import BadInput, shown
from bench.files import write_atomic
from bench.record.run import CaseRecord
from bench.record.series import SeriesKey, series_key, table_groups, table_title
from bench.record.store import TABLES as TABLES_MD
from bench.record.store import Run, open_run


@dataclass(frozen=True)
class Key:
    """One cell's case: a device, a series (bench.record.series) and a size."""

    device: str
    series: SeriesKey
    size: str  # Case.size_label: WxH, or WxHxF for video

    @property
    def model(self) -> str:
        return self.series.model

    @property
    def op(self) -> str:
        return self.series.op

    @property
    def dtype(self) -> str:
        return self.series.dtype

    @property
    def batch(self) -> int:
        return self.series.batch

    @property
    def tiled(self) -> bool:
        return self.series.tiled


class Measurements:
    """Every case of several runs, by device name and case parameters; which run each
    came from, and which runs a rendering has used."""

    def __init__(self, run_dirs: Sequence[str | Path | Run]):
        if not run_dirs:
            raise BadInput(None, "runs", "give at least one run folder")
        self.records: dict[Key, CaseRecord] = {}
        self.devices: list[str] = []  # in the order the runs were given
        self.runs: list[Run] = []
        self.owner: dict[Key, Path] = {}
        self.used: set[Path] = set()  # runs a rendered row took a figure from
        # an update: the devices each block's table on the page has rows of, in its order
        self.page_order: dict[str, list[str]] = {}
        for run_dir in run_dirs:
            # a Run is taken as it was opened (a sweep's writer holds the one it wrote)
            run = run_dir if isinstance(run_dir, Run) else open_run(run_dir, strict=True)
            device = run.meta.device_label
            field = "device.label" if run.meta.device.get("label") else "device.name"
            if not device:
                raise BadInput(run.path / "meta.json", field, "missing: the run does not name its device")
            self.runs.append(run)
            self.add(device, run.records, run.path, field)
            for note in (run.unfinished, run.meta.busy and f"{run.run_id}: {run.meta.busy}"):
                if note:
                    warnings.warn(note, stacklevel=2)

    def add(
        self, device: str, records: Sequence[CaseRecord], source: Path, field: str = "device.name"
    ) -> None:
        """A device's records, from a run folder or (docs update) from the page itself;
        either reader has checked that its name can stand in a table cell."""
        if device not in self.devices:
            self.devices.append(device)
        for rec in records:
            key = Key(device, series_key(rec.case), rec.case.size_label)
            if key in self.owner and self.owner[key] != source:
                raise BadInput(
                    source,
                    None,
                    f"devices collide: {self.owner[key]} holds the same case on {shown(device)} "
                    f"({rec.label}); give one run per device and case, or runs of one card in two "
                    "setups a device_label each (vae-bench run --device-label)",
                )
            self.owner[key] = source
            self.records[key] = rec

    def groups(self) -> list[tuple[str, str, str, int, tuple | None, tuple | None]]:
        """(model, op, dtype, batch, variant axes, swept tiling) of every table the runs
        can fill, in stored order: one per variant, and one per tiling swept."""
        return table_groups(rec.case for rec in self.records.values())

    def dtypes(self, model: str, op: str, batch: int) -> list[str]:
        return list(
            dict.fromkeys(k.dtype for k in self.records if (k.model, k.op, k.batch) == (model, op, batch))
        )

    def get(self, key: Key) -> CaseRecord | None:
        rec = self.records.get(key)
        if rec is not None:
            self.used.add(self.owner[key])
        return rec


def check_setup(block: BlockSpec, data: Measurements, batch: int) -> None:
    """Bad input for a run whose cases of the block's model and op were made in another
    dtype, or tiled with other knobs, than the block says its figures were."""
    if block.dtype is None and not block.tiling:
        return
    for run in data.runs:
        mine = [
            r
            for r in run.records
            if (r.case.model, r.case.op, r.case.batch, r.case.variant) == (block.model, block.op, batch, None)
        ]
        if not mine:
            continue
        where = f"block {block.title!r}"
        dtypes = sorted({r.case.dtype for r in mine})
        if block.dtype is not None and block.dtype not in dtypes:
            raise BadInput(
                run.path,
                None,
                f"{where}: this run made {block.model} {block.op} in {', '.join(dtypes)}; the block's "
                f"figures were made in {block.dtype} (see the spec)",
            )
        for r in mine:
            if not r.case.tiled or (block.dtype is not None and r.case.dtype != block.dtype):
                continue
            knobs = r.case.tiling_dict or {}
            for knob, value in block.tiling_dict.items():
                if knobs.get(knob) != value:
                    raise BadInput(
                        run.path,
                        None,
                        f"{where}: this run tiled {block.model} {block.op} with {knob} "
                        f"{shown(knobs.get(knob))}; the block's figures were made with {value}",
                    )


def in_block(k: Key, block: BlockSpec, dtype: str, batch: int) -> bool:
    return k.series == block.series(dtype, batch, k.tiled)


def cell(rec: CaseRecord | None) -> Cell:
    if rec is None:
        return Cell("missing")
    return Cell(rec.status, rec.median, rec.percent, rec.interval)


def block_rows(
    block: BlockSpec,
    data: Measurements,
    dtype: str | None,
    batch: int,
    strict: bool,
    only_listed: bool = False,
) -> tuple[list[Row], bool]:
    """The rows of one table, and whether it has tiled columns.

    `strict` (docs pages): every device and resolution the block names must be there,
    each case measured (ok or oom). Otherwise the block's devices and resolutions only
    order the rows, and what is missing shows as not measured."""
    dtype = dtype or _only_dtype(block, data, batch)
    keys = [k for k in data.records if in_block(k, block, dtype, batch)]
    present_devices = [d for d in data.devices if any(k.device == d for k in keys)]
    present_sizes = sorted({k.size for k in keys}, key=size_key)
    if strict:
        listed = list(block.devices or ())
        sizes = list(block.resolutions or present_sizes)
        for d in listed:
            if d not in present_devices:
                known = ", ".join(repr(x) for x in present_devices) or "none"
                raise BadInput(
                    None,
                    f"block {block.title!r}",
                    f"no run holds {block.model} {block.op} ({dtype}) on {d!r}; runs given have: {known}",
                )
        # A device the spec does not list still gets its rows, after the listed ones:
        # those the page has first, where they stand on it, then those new to it.
        on_page = [
            d for d in data.page_order.get(block.title, ()) if d in present_devices and d not in listed
        ]
        new = [d for d in present_devices if d not in listed and d not in on_page]
        if block.devices:
            new = [] if only_listed else new
            for d in new:
                warnings.warn(
                    f"block {block.title!r}: {d} is not among the spec's devices; its rows go last",
                    stacklevel=2,
                )
        devices = listed + on_page + new
    else:
        devices = _ordered(block.devices, present_devices)
        sizes = _ordered(block.resolutions, present_sizes)
    tiled = True if strict else any(k.tiled for k in keys)

    pairs = (
        [(d, s) for d in devices for s in sizes]
        if block.rows == "device"
        else [(d, s) for s in sizes for d in devices]
    )
    rows = []
    for device, size in pairs:
        recs = [data.get(Key(device, block.series(dtype, batch, t), size)) for t in (False, True)]
        if not strict and all(r is None for r in recs):
            continue
        if strict:
            for rec, t in zip(recs, (False, True), strict=True):
                figures = cell(rec)
                if figures.status == "ok" and (figures.time is None or figures.percent is None):
                    state = "no time or memory figure"
                elif figures.status not in ("ok", "oom"):
                    state = "no record" if rec is None else f"status {rec.status}"
                else:
                    continue
                raise BadInput(
                    None,
                    f"block {block.title!r}",
                    f"{device} {size} {'tiled' if t else 'untiled'}: {state}; "
                    "a published table needs every case ok (with its figures) or oom",
                )
        rows.append(Row(device, size, cell(recs[0]), cell(recs[1]) if tiled else None))
    return rows, tiled


def doubts(
    block: BlockSpec, data: Measurements, dtype: str | None, batch: int, only_listed: bool = False
) -> list[str]:
    """One line per figure of a block that is less sure than it looks (a median wider
    than its run asked for, calls that drifted, a GPU that throttled), of every row
    the block shows: a device the spec does not list gets rows too, unless `only_listed`."""
    dtype = dtype or _only_dtype(block, data, batch)
    found = []
    for k, rec in data.records.items():
        if not in_block(k, block, dtype, batch):
            continue
        if (only_listed and block.devices and k.device not in block.devices) or (
            block.resolutions and k.size not in block.resolutions
        ):
            continue
        why = []
        if rec.ok and rec.precision_met is False and rec.half_width is not None and rec.median:
            why.append(f"precision not met (interval ±{rec.half_width / rec.median * 100:.1f}%)")
        if rec.drifting:
            why.append(f"not stationary ({drift_words(rec.time.drift)})")
        if rec.throttled:
            why.append(f"throttled ({rec.throttled})")
        if why:
            where = f"{k.device} {k.size} {'tiled' if k.tiled else 'untiled'}"
            found.append(f"{block.title!r}: {where}: {'; '.join(why)}")
    return found


def _only_dtype(block: BlockSpec, data: Measurements, batch: int) -> str:
    dtypes = data.dtypes(block.model, block.op, batch)
    if len(dtypes) == 1:
        return dtypes[0]
    if not dtypes:
        raise BadInput(None, f"block {block.title!r}", f"the runs hold no {block.model} {block.op} case")
    raise BadInput(
        None,
        f"block {block.title!r}",
        f"the runs hold several dtypes ({', '.join(dtypes)}); name one with `dtype` in the spec",
    )


def _ordered(wanted: Sequence[str] | None, present: list[str]) -> list[str]:
    """The spec's order first, then whatever else the runs hold."""
    first = [x for x in (wanted or ()) if x in present]
    return first + [x for x in present if x not in first]


def labels_for(block: BlockSpec, lang: str) -> LabelSet:
    return label_set(lang, block.labels)


def render_block(
    block: BlockSpec,
    data: Measurements,
    lang: str,
    dtype: str | None = None,
    batch: int = 1,
    strict: bool = False,
    only_listed: bool = False,
) -> str:
    rows, tiled = block_rows(block, data, dtype, batch, strict, only_listed)
    return render(block.style, rows, labels_for(block, lang), tiled=tiled)


def default_blocks(
    data: Measurements, lang: str, style: str | None = None
) -> list[tuple[BlockSpec, str, int]]:
    """One block per (model, op, dtype, batch) the runs hold: (block, dtype, batch)."""
    labels = label_set(lang)
    blocks = []
    for model, op, dtype, batch, axes, swept in data.groups():
        verb = labels.encoding if op == "encode" else labels.decoding
        block = BlockSpec("", model, op, style or op, variant=axes, swept=swept)
        title = table_title(f"{verb} - {model}, {dtype}", batch, block.series(dtype, batch, True).variant)
        blocks.append((replace(block, title=title), dtype, batch))
    return blocks


def details(title: str, table: str) -> str:
    return f"<details><summary>{title}</summary>\n\n{table}\n\n</details>\n"


def tables_markdown(
    run_dirs: Sequence[str | Path | Run],
    spec: DocSpec | None = None,
    lang: str | None = None,
    style: str | None = None,
) -> str:
    """Every table of the runs (or of a spec) as <details> blocks, ready to paste."""
    data = Measurements(run_dirs)
    lang = lang or (spec.lang if spec else "en")
    if spec is None:
        blocks = default_blocks(data, lang, style)
    else:
        blocks = [(replace(b, style=style) if style else b, b.dtype, spec.batch) for b in spec.blocks]
    if not blocks:
        return "(no cases stored)\n"
    return "\n".join(
        details(block.title, render_block(block, data, lang, dtype, batch)) for block, dtype, batch in blocks
    )


def tables_data(
    run_dirs: Sequence[str | Path | Run], spec: DocSpec | None = None, lang: str | None = None
) -> list[dict]:
    """The cells tables_markdown renders, as data: per block its rows, each cell's status,
    median time in seconds and memory as a fraction of the card."""

    def as_data(c: Cell | None) -> dict | None:
        if c is None:
            return None
        share = None if c.percent is None else c.percent / 100
        return {"status": c.status, "time_s": c.time, "interval_s": c.interval, "memory_fraction": share}

    data = Measurements(run_dirs)
    lang = lang or (spec.lang if spec else "en")
    blocks = default_blocks(data, lang) if spec is None else [(b, b.dtype, spec.batch) for b in spec.blocks]
    out = []
    for block, dtype, batch in blocks:
        rows, _ = block_rows(block, data, dtype, batch, strict=False)
        cells = [
            {
                "device": r.device,
                "size": r.resolution,
                "untiled": as_data(r.untiled),
                "tiled": as_data(r.tiled),
            }
            for r in rows
        ]
        out.append(
            {"title": block.title, "model": block.model, "op": block.op, "dtype": dtype, "rows": cells}
        )
    return out


def write_run_tables(run: str | Path | Run, lang: str = "en") -> Path:
    """The run's tables.md, written next to its cases.jsonl: the tables in the styles
    of the docs, then every case with the precision of its median. A Run is used as it
    is (the end of a sweep reads nothing again); a folder is opened once."""
    from bench.analysis.summary import summary_table

    if not isinstance(run, Run):
        run = open_run(run, strict=True)
    run_dir = run.path
    path = Path(run_dir) / TABLES_MD
    text = tables_markdown([run], lang=lang)
    records = run.records
    if records:
        text += (
            "\n## Every case\n\nEach median with its 95% interval (distribution-free, as a share of "
            "the median), the calls timed, and what makes a figure less sure: an interval wider than "
            "the sweep's precision, a GPU held back by its clocks.\n\n"
            + summary_table(records, "pipe")
            + "\n"
        )

    write_atomic(path, text, root=run_dir)
    return path
