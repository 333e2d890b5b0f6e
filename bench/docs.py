"""Update a documentation page in place: for each block of a spec, find the page's
`<details><summary>TITLE</summary>` block and replace the table inside it with one
rendered from the runs. Every other byte of the page stays as it was (line endings
included); the file is replaced atomically, and only when everything rendered.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.docspec import DocSpec
from bench.doctables import Measurements, render_block
from bench.errors import BadInput
from bench.pages import find_blocks, read_lines, strip_end, table_span


@dataclass(frozen=True)
class Update:
    page: Path
    changed: tuple[str, ...]  # titles of the blocks whose table changes
    text: str  # the page as it is after the update


def plan_update(page: str | Path, spec: DocSpec, data: Measurements, lang: str | None = None) -> Update:
    """The updated page, without writing it. Bad input for a block the page lacks (all
    of them named), a title found twice, a block without a table, or a table the
    runs cannot fill."""
    page = Path(page)
    lang = lang or spec.lang
    lines = read_lines(page)
    found: dict[str, list] = {}
    for block in find_blocks(lines):
        found.setdefault(block.title, []).append(block)
    missing = [b.title for b in spec.blocks if b.title not in found]
    if missing:
        raise BadInput(page, None, "no <details><summary> block titled " + ", ".join(map(repr, missing)))
    edits = []
    for bs in spec.blocks:
        if len(found[bs.title]) > 1:
            where = ", ".join(str(b.start + 1) for b in found[bs.title])
            raise BadInput(page, None, f"block {bs.title!r} appears more than once (lines {where})")
        block = found[bs.title][0]
        span = table_span(lines, block)
        if span is None:
            raise BadInput(page, f"line {block.start + 1}", f"block {bs.title!r} holds no table to replace")
        table = render_block(bs, data, lang, spec.dtype, spec.batch, strict=True)
        start, end = span
        eol = "\r\n" if lines[start].endswith("\r\n") else "\n"
        new = [line + eol for line in table.split("\n")]
        # the last line keeps its own ending (a page may end without a newline)
        last = lines[end - 1]
        new[-1] = new[-1][: -len(eol)] + last[len(strip_end(last)) :]
        edits.append((start, end, new, bs.title))
    changed = tuple(title for start, end, new, title in edits if lines[start:end] != new)
    for start, end, new, _ in sorted(edits, reverse=True):
        lines[start:end] = new
    return Update(page, changed, "".join(lines))


def update_page(
    page: str | Path, spec: DocSpec, data: Measurements, lang: str | None = None, check: bool = False
) -> Update:
    """Plan the update and, unless `check`, write it when anything changed."""
    update = plan_update(page, spec, data, lang)
    if update.changed and not check:
        write_atomic(update.page, update.text)
    return update


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` in one rename, keeping its permissions."""
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
