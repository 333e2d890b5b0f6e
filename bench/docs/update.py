"""Update a documentation page in place: for each block of a spec, find the page's
`<details><summary>TITLE</summary>` block and replace the one table inside it with one
rendered from the runs.

Only the lines of those tables change, and this is checked, not assumed: the page
is read again from the new text, and every byte outside its tables must be the
bytes it had (line endings included). Otherwise, or for a page whose blocks do not
say where their tables end, nothing is written. The file is replaced atomically.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from bench.cards import load_cards
from bench.docs.check import is_benchmark
from bench.docs.pages import (
    Table,
    block_table,
    find_blocks,
    read_lines,
    split_row,
    strip_end,
    unbalanced_details,
)
from bench.docs.published import block_setups, read_table, record
from bench.docs.spec import DocSpec
from bench.docs.tables import Measurements, check_setup, doubts, render_block
from bench.errors import BadInput
from bench.files import Lock, write_atomic


@dataclass(frozen=True)
class Update:
    page: Path
    changed: tuple[str, ...]  # titles of the blocks whose table changes
    text: str  # the page as it is after the update
    before: str  # the page as it was read


# How long an update waits for another one on the same page before it says who holds it.
PAGE_LOCK_WAIT_S = 60.0


def _spans(page: Path, lines: list[str], titles: list[str]) -> list[tuple[int, int]]:
    """(start, end) of the table of each titled block, in page order. Bad input for a
    page whose <details> tags do not balance, a block the page lacks (all of them
    named) or holds twice, and a block whose table cannot be told apart."""
    for i, what in unbalanced_details(lines)[:1]:
        raise BadInput(
            page, f"line {i + 1}", f"{what}; an update needs every block closed to know where its table ends"
        )
    found: dict[str, list] = {}
    for block in find_blocks(lines):
        found.setdefault(block.title, []).append(block)
    missing = [t for t in titles if t not in found]
    if missing:
        raise BadInput(page, None, "no <details><summary> block titled " + ", ".join(map(repr, missing)))
    spans = []
    for title in titles:
        if len(found[title]) > 1:
            where = ", ".join(str(b.start + 1) for b in found[title])
            raise BadInput(page, None, f"block {title!r} appears more than once (lines {where})")
        table = block_table(page, lines, found[title][0])
        if (table.start, table.end) in spans:
            other = titles[spans.index((table.start, table.end))]
            raise BadInput(
                page,
                f"line {table.start + 1}",
                f"blocks {other!r} and {title!r} share one table (one is inside the other)",
            )
        spans.append((table.start, table.end))
    return spans


def _outside(lines: list[str], spans: list[tuple[int, int]]) -> list[str]:
    """The text between and around the tables."""
    cuts = [0, *(x for span in sorted(spans) for x in span), len(lines)]
    return ["".join(lines[a:b]) for a, b in zip(cuts[::2], cuts[1::2], strict=True)]


def plan_update(
    page: str | Path,
    spec: DocSpec,
    data: Measurements,
    lang: str | None = None,
    only_listed: bool = False,
) -> Update:
    """The updated page, without writing it.

    Each block's rows: the runs' devices, the spec's listed ones first, in its order,
    then (unless `only_listed`) the others, each said in a warning; a listed device no
    run holds keeps the rows the page has for it. Bad input for anything `_spans`
    refuses, a CPU run, a run made in another setup than a block states, a run that
    fills no cell, a table the runs cannot fill, and an update that would touch a byte
    outside the tables it regenerates."""
    page = Path(page)
    lang = lang or spec.lang
    lines = read_lines(page)
    titles = [b.title for b in spec.blocks]
    spans = _spans(page, lines, titles)
    for run in data.runs:
        if not run.is_gpu:
            raise BadInput(
                run.path,
                None,
                f"made on {run.device_name} ({run.device_kind}); the documentation tables are of GPUs",
            )
    for bs in spec.blocks:
        check_setup(bs, data, spec.batch)
    _keep_page_rows(page, lines, spec, data, dict(zip(titles, spans, strict=True)))
    new_lines = list(lines)
    changed = []
    for bs, (start, end) in sorted(zip(spec.blocks, spans, strict=True), key=lambda x: -x[1][0]):
        table = render_block(bs, data, lang, bs.dtype, spec.batch, strict=True, only_listed=only_listed)
        eol = "\r\n" if lines[start].endswith("\r\n") else "\n"
        new = [line + eol for line in table.split("\n")]
        # the last line keeps its own ending (a page may end without a newline)
        last = lines[end - 1]
        new[-1] = new[-1][: -len(eol)] + last[len(strip_end(last)) :]
        if new != lines[start:end]:
            changed.append(bs.title)
        new_lines[start:end] = new
    for bs in spec.blocks:
        for doubt in doubts(bs, data, bs.dtype, spec.batch, only_listed):
            warnings.warn(doubt, stacklevel=2)
    _say_unused(data, spec, only_listed)
    text = "".join(new_lines)
    try:
        new_spans = _spans(page, text.splitlines(keepends=True), titles)
    except BadInput:
        new_spans = None
    if new_spans is None or _outside(text.splitlines(keepends=True), new_spans) != _outside(lines, spans):
        raise BadInput(
            page,
            None,
            "the new tables would change the page outside their own lines (a figure or device "
            "name that breaks the table?); the page is left as it was",
        )
    order = {t: i for i, t in enumerate(titles)}
    return Update(page, tuple(sorted(changed, key=order.get)), text, "".join(lines))


def _keep_page_rows(page: Path, lines: list[str], spec: DocSpec, data: Measurements, spans: dict) -> None:
    """For each block, the page's own rows of every device that no run holds, as records
    of the block's setup: maintainers with different cards update one page in turn, and
    an update with one card's run keeps every other card's rows as they are."""
    setups = block_setups(spec)
    cards = load_cards()  # once: a page holds hundreds of rows
    for bs in spec.blocks:
        dtype, tiling = setups[bs.title]
        held = {
            k.device
            for k in data.records
            if (k.model, k.op, k.dtype, k.batch) == (bs.model, bs.op, dtype, spec.batch)
        }
        start, end = spans[bs.title]
        if not is_benchmark(split_row(lines[start])):
            continue  # not a table of figures (yet): nothing on it to keep
        broken: list[int] = []
        try:
            cells = read_table(
                page, lines, Table(start, end, ()), bs, spec.batch, dtype, tiling, held.__contains__, broken
            )
        except BadInput as exc:
            raise BadInput(
                page,
                f"block {bs.title!r}",
                f"the page's own rows cannot be read ({exc.why}), so the rows of cards no run holds "
                "could not be kept; mend the table (see `vae-bench docs check`)",
            ) from None
        for line in broken:
            warnings.warn(
                f"{page}:{line}: block {bs.title!r}: not a whole row (split or cut off); "
                "the regenerated table leaves it out",
                stacklevel=3,
            )
        for device in dict.fromkeys(p.device for p in cells):
            data.add(device, [record(p, cards) for p in cells if p.device == device], page)
        whole = [split_row(lines[i]) for i in range(start + 2, end) if i + 1 not in broken]
        data.page_order[bs.title] = list(dict.fromkeys(cells[0] for cells in whole))


def _say_unused(data: Measurements, spec: DocSpec, only_listed: bool) -> None:
    """Every given run must fill a cell: one that fills none is said, never passed over."""
    for run in data.runs:
        if run.path in data.used:
            continue
        listed = {d for b in spec.blocks for d in b.devices or ()}
        if only_listed and run.device_label not in listed:
            warnings.warn(
                f"{run.path}: not used: {run.device_label} is not among the spec's devices (--only-listed)",
                stacklevel=3,
            )
            continue
        holds = sorted({f"{r.case.model} {r.case.op} {r.case.dtype}" for r in run.records})
        needs = sorted({f"{b.model} {b.op} {b.dtype}" for b in spec.blocks})
        raise BadInput(
            run.path,
            None,
            f"fills no cell of the spec's tables: it holds {', '.join(holds) or 'no case'}; "
            f"the tables need {', '.join(needs)}",
        )


def update_page(
    page: str | Path,
    spec: DocSpec,
    data: Measurements,
    lang: str | None = None,
    check: bool = False,
    only_listed: bool = False,
) -> Update:
    """Plan the update and, unless `check`, write it when anything changed: through a
    symlink to the file it names, and never over a page without write permission.

    Maintainers update one page in turn, sometimes at once: a write holds the page's
    lock (`.PAGE.lock` beside it, removed again) from reading the page to replacing it,
    so a second update waits and lands on top of the first (or, after PAGE_LOCK_WAIT_S,
    is refused naming the holder); a page an editor saved meanwhile is refused, not
    overwritten."""
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        update = plan_update(page, spec, data, lang, only_listed)
    if check or not update.changed:
        for w in said:
            warnings.warn(w.message, stacklevel=2)
        return update
    _check_writable(update.page)
    target = Path(os.path.realpath(page))
    lock = Lock(
        target.parent / f".{target.name}.lock",
        "another vae-bench docs update is writing this page",
        wait=PAGE_LOCK_WAIT_S,
        remove=True,
    )
    try:
        # again, under the lock: an update that held it may have changed the page
        update = plan_update(page, spec, data, lang, only_listed)
        if update.changed:
            if "".join(read_lines(page)) != update.before:
                raise BadInput(page, None, "changed while the update ran; run the update again")
            write_atomic(update.page, update.text, follow=True)
    finally:
        lock.release()
    return update


def _check_writable(page: Path) -> None:
    target = Path(os.path.realpath(page))
    # The mode bits as well as access(): root may write anything, but a page made
    # read-only was made so on purpose.
    if not target.stat().st_mode & 0o222 or not os.access(target, os.W_OK):
        raise BadInput(page, None, "has no write permission; the page is left as it was")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise BadInput(target.parent, None, "cannot be written (the new page is made there first)")
