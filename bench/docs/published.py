"""Published tables -> runs in the store's format, one run per device, so that a run of
one's own GPU can be held against the published figures (and the tables rendered
again from them).

A published table has only the median time, the memory percentage and the status.
The absolute bytes are that percentage of the card's nominal memory (a small table
below): approximate, and marked so in meta.json and in every record. Case parameters
(dtype, batch, tiling in force) come from the spec and the sweep it names, so the
imported case_ids are those a run of that sweep stores.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.cards import card_mib, load_cards
from bench.docs.labels import oom_words
from bench.docs.pages import (
    block_table,
    find_blocks,
    is_delimiter_row,
    read_lines,
    split_row,
    strip_end,
    tables_in,
)
from bench.docs.spec import SIZE_RE, BlockSpec, DocSpec, load_spec, shipped_specs
from bench.docs.styles import parse_percent, parse_time
from bench.errors import BadInput, shown
from bench.files import slug
from bench.models.registry import load_registry
from bench.record.case import MAX_SIDE, Case
from bench.record.figures import Memory, Timing
from bench.record.run import CaseRecord, RunMeta
from bench.record.series import label_problem
from bench.record.store import RunWriter
from bench.sweep.cases import tiling_in_force
from bench.sweep.config import load_sweep

MIB = 2**20
APPROXIMATE = (
    "imported from a published table: time_s holds only the median; mem.peak_reserved is "
    "mem.percent of the card's total memory in configs/cards.yaml (mem.total), approximate"
)


@dataclass(frozen=True)
class Published:
    """One published cell pair: a device's case, as the page shows it."""

    device: str
    case: Case
    status: str
    time: float | None
    percent: float | None
    where: str  # page:line


def read_page(page: str | Path, spec: DocSpec) -> list[Published]:
    """Every case of the spec's blocks on the page; bad input for a block the page
    lacks or a row that does not parse (nothing is read halfway)."""
    page = Path(page)
    lines = read_lines(page)
    blocks = {}
    for b in find_blocks(lines):
        blocks.setdefault(b.title, b)
    missing = [b.title for b in spec.blocks if b.title not in blocks]
    if missing:
        raise BadInput(page, None, "no <details><summary> block titled " + ", ".join(map(repr, missing)))
    setups = block_setups(spec)
    found = []
    for bs in spec.blocks:
        table = block_table(page, lines, blocks[bs.title])
        found += read_table(page, lines, table, bs, spec.batch, *setups[bs.title])
    return found


def read_table(
    page: Path,
    lines: list[str],
    table,
    bs: BlockSpec,
    batch: int,
    dtype: str,
    tiling: dict,
    skip: Callable[[str], bool] | None = None,
    broken: list[int] | None = None,
) -> list[Published]:
    """The cells of one block's table, as cases of the block's setup. `skip`: devices
    whose rows are passed over unread; `broken`: where the 1-based line numbers of rows
    that are not whole (split, cut off) go, instead of refusing the table."""
    start, end = table.start, table.end
    header = split_row(lines[start])
    n = len(header)
    if n not in (4, 6) or end - start < 2 or not is_delimiter_row(lines[start + 1]):
        raise BadInput(page, f"line {start + 1}", "not a table of 4 or 6 columns with a delimiter row")
    found = []
    for i in range(start + 2, end):
        where = f"{page}:{i + 1}"
        cells = split_row(lines[i])
        if len(cells) != n or not strip_end(lines[i]).rstrip().endswith("|"):
            if broken is not None:
                broken.append(i + 1)
                continue
            raise BadInput(
                page,
                f"line {i + 1}",
                f"row has {len(cells)} cells, the header {n}; see `vae-bench docs check`",
            )
        device, size = cells[0], cells[1]
        if skip is not None and skip(device):
            continue
        why = label_problem(device)
        if why:
            raise BadInput(page, f"line {i + 1}", f"device: {why}")
        m = SIZE_RE.match(size)
        sides = [int(g) for g in m.groups() if g is not None] if m and len(size) < 40 else []
        if not sides or not all(1 <= x <= MAX_SIDE for x in sides):
            raise BadInput(page, f"line {i + 1}", f"{shown(size)} is not a resolution like 512x512")
        w, h = sides[0], sides[1]
        frames = sides[2] if len(sides) > 2 else None
        for tiled, (t_text, m_text) in zip((False, True), (cells[2:4], cells[4:6]), strict=False):
            case = Case(
                model=bs.model,
                op=bs.op,
                width=w,
                height=h,
                frames=frames,
                batch=batch,
                dtype=dtype,
                tiled=tiled,
                tiling=tuple(tiling.items()) if tiled else None,
            )
            found.append(_published(device, case, t_text, m_text, where))
    return found


def _published(device: str, case: Case, t_text: str, m_text: str, where: str) -> Published:
    words = oom_words()
    if t_text in words or m_text in words:
        return Published(device, case, "oom", None, None, where)
    time = parse_time(t_text)
    pct = parse_percent(m_text)
    if time is None or pct is None:
        bad, what = (t_text, "a time above 0 s") if time is None else (m_text, "a share of the card from 0")
        raise BadInput(where, None, f"{shown(bad)} is neither {what} nor an OOM word")
    return Published(device, case, "ok", time[0], pct, where)


def block_setups(spec: DocSpec) -> dict[str, tuple[str, dict]]:
    """(dtype, tiling knobs in force) of each block's figures: what the block states,
    then what the sweep behind the spec says for the model, then the registry's
    defaults (and float16)."""
    sweep = load_sweep(spec.sweep) if spec.sweep is not None else None
    registry = load_registry(sweep.registry if sweep else spec.registry)
    setups = {}
    for b in spec.blocks:
        overrides = {**((sweep.axis(b.model, "tiling") or {}) if sweep else {}), **b.tiling_dict}
        dtypes = sweep.axis(b.model, "dtype") if sweep and b.model in sweep.models else ()
        dtype = b.dtype or (dtypes[0] if len(dtypes) == 1 else "float16")
        setups[b.title] = (dtype, tiling_in_force(registry[b.model], overrides))
    return setups


def card_total(device: str, cards: dict | None = None) -> int | None:
    """The card's total memory in bytes, from `cards` (configs/cards.yaml read once by
    the caller; read here where not given), or None."""
    mib = card_mib(cards if cards is not None else load_cards(), device)
    return round(mib * MIB) if mib is not None else None


def record(p: Published, cards: dict) -> CaseRecord:
    """A published cell pair as a case record, marked approximate, with where it stands
    (`cards`: configs/cards.yaml as load_cards read it)."""
    total = card_total(p.device, cards)
    ok = p.status == "ok"
    mem = Memory(
        peak_reserved=round(p.percent / 100 * total) if ok and total else None,
        total=total,
        percent=p.percent if ok else None,
        metric="reserved",
    )
    return CaseRecord.new(
        p.case,
        weights="pretrained",
        device="cuda:0",
        status=p.status,
        time=Timing(median=p.time) if ok else None,
        mem=mem,
        approximate=True,
        source=p.where,
    )


def import_page(page: str | Path, spec: DocSpec, out: str | Path, command: str | None = None) -> list[Path]:
    """Write one run folder per device under `out`; returns them. Refuses to overwrite."""
    published = read_page(page, spec)
    devices = list(dict.fromkeys(p.device for p in published))
    out = Path(out)
    run_ids = {d: f"{slug(d)}-{slug(spec.name)}" for d in devices}
    named: dict[str, str] = {}
    for d, run_id in run_ids.items():
        if run_id in named:
            raise BadInput(
                page,
                None,
                f"devices {named[run_id]!r} and {d!r} would share the run folder {run_id}; "
                "rename one on the page",
            )
        named[run_id] = d
        if (out / run_id).exists():
            raise BadInput(out / run_id, None, "exists; remove it or import into another --out")
    sweep = load_sweep(spec.sweep).to_dict() if spec.sweep else None
    # every record made before any folder is: a figure that cannot be one stops the
    # import with nothing written
    cards = load_cards()
    records = {d: [record(p, cards) for p in published if p.device == d] for d in devices}
    written = []
    for d in devices:
        total = card_total(d, cards)
        warnings = [] if total else [f"{d}: not in configs/cards.yaml; mem.total and byte figures are null"]
        meta = RunMeta(
            name=spec.name,
            status="complete",
            command=command or " ".join(["vae-bench", *sys.argv[1:]]),
            imported={"page": str(page), "spec": spec.source, "blocks": [b.title for b in spec.blocks]},
            approximate=APPROXIMATE,
            config=sweep,
            device={"device": "cuda:0", "name": d, "total_memory": total},
            cases_planned=sum(1 for p in published if p.device == d),
            warnings=warnings,
        )
        writer = RunWriter.create(out, run_ids[d], meta, unique=False)
        for rec in records[d]:
            writer.append(rec)
        writer.close()
        written.append(writer.dir)
    return written


def spec_for_page(page: str | Path) -> DocSpec:
    """The one shipped spec whose blocks the page holds, each table in the spec's style
    (a tabulate delimiter row `|:---` for "encode", `| --- |` for "decode")."""
    lines = read_lines(page)
    titled = {}
    for b in find_blocks(lines):
        tables = tables_in(lines, b) if b.closed else []
        if len(tables) == 1 and len(tables[0].lines) >= 2 and b.title not in titled:
            titled[b.title] = "encode" if ":" in tables[0].lines[1] else "decode"
    matches = []
    for path in shipped_specs():
        spec = load_spec(path)
        if all(titled.get(b.title) == b.style for b in spec.blocks):
            matches.append(spec)
    if len(matches) == 1:
        return matches[0]
    why = (
        "no shipped spec matches its blocks"
        if not matches
        else ("several shipped specs match: " + ", ".join(Path(s.source).name for s in matches))
    )
    raise BadInput(page, None, f"{why}; name one with --spec")
