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

from bench.docs.pages import block_table, find_blocks, read_lines, strip_end, unbalanced_details
from bench.docs.spec import DocSpec
from bench.docs.tables import Measurements, doubts, render_block
from bench.errors import BadInput
from bench.files import write_atomic


@dataclass(frozen=True)
class Update:
    page: Path
    changed: tuple[str, ...]  # titles of the blocks whose table changes
    text: str  # the page as it is after the update


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


def plan_update(page: str | Path, spec: DocSpec, data: Measurements, lang: str | None = None) -> Update:
    """The updated page, without writing it. Bad input for anything `_spans` refuses, a
    table the runs cannot fill, and an update that would touch a byte outside the
    tables it regenerates."""
    page = Path(page)
    lang = lang or spec.lang
    lines = read_lines(page)
    titles = [b.title for b in spec.blocks]
    spans = _spans(page, lines, titles)
    new_lines = list(lines)
    changed = []
    for bs, (start, end) in sorted(zip(spec.blocks, spans, strict=True), key=lambda x: -x[1][0]):
        table = render_block(bs, data, lang, spec.dtype, spec.batch, strict=True)
        eol = "\r\n" if lines[start].endswith("\r\n") else "\n"
        new = [line + eol for line in table.split("\n")]
        # the last line keeps its own ending (a page may end without a newline)
        last = lines[end - 1]
        new[-1] = new[-1][: -len(eol)] + last[len(strip_end(last)) :]
        if new != lines[start:end]:
            changed.append(bs.title)
        new_lines[start:end] = new
    for bs in spec.blocks:
        for doubt in doubts(bs, data, spec.dtype, spec.batch):
            warnings.warn(doubt, stacklevel=2)
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
    return Update(page, tuple(sorted(changed, key=order.get)), text)


def update_page(
    page: str | Path, spec: DocSpec, data: Measurements, lang: str | None = None, check: bool = False
) -> Update:
    """Plan the update and, unless `check`, write it when anything changed: through a
    symlink to the file it names, and never over a page without write permission."""
    update = plan_update(page, spec, data, lang)
    if update.changed and not check:
        _check_writable(update.page)
        write_atomic(update.page, update.text)
    return update


def _check_writable(page: Path) -> None:
    target = Path(os.path.realpath(page))
    # The mode bits as well as access(): root may write anything, but a page made
    # read-only was made so on purpose.
    if not target.stat().st_mode & 0o222 or not os.access(target, os.W_OK):
        raise BadInput(page, None, "has no write permission; the page is left as it was")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise BadInput(target.parent, None, "cannot be written (the new page is made there first)")
