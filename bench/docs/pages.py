"""Reading a markdown page: its `<details><summary>TITLE</summary>` blocks and the pipe
tables in it, by line, so that a caller can replace a table and keep every other byte.

Lines keep their line endings (`read_lines`); indexes are 0-based, and reports add 1.
Lines inside fenced code blocks are never tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BadInput
from bench.files import MAX_TEXT_BYTES, read_text

_DETAILS_OPEN = re.compile(r"<details\b[^>]*>", re.IGNORECASE)
_DETAILS_TAG = re.compile(r"<(/?)details\b[^>]*>", re.IGNORECASE)
_SUMMARY = re.compile(r"^\s*(?:<details\b[^>]*>\s*)?<summary\b[^>]*>(.*?)</summary>", re.IGNORECASE)
_BLOCK_TAG = re.compile(r"</?(?:details|summary)\b", re.IGNORECASE)
# A fence opens with three or more backticks or tildes and closes with at least as many
# of the same (CommonMark), so a ```` fence can show a ``` one.
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")
_BACKTICKS = re.compile(r"`+")
_DELIMITER_CELL = re.compile(r"^:?-+:?$")


@dataclass(frozen=True)
class Block:
    title: str
    start: int  # the line with <details>
    end: int  # the line with the matching </details>, or len(lines) when never closed
    closed: bool = True


@dataclass(frozen=True)
class Table:
    start: int  # first line
    end: int  # one past the last line
    lines: tuple[str, ...]  # without line endings

    @property
    def header(self) -> list[str]:
        return split_row(self.lines[0])


def read_lines(path: str | Path) -> list[str]:
    """The page's lines with their endings (\\n, \\r\\n) exactly as on disk. A page is
    named on the command line, so a link to it is followed (the one file vae-bench
    reads through a link); it is still a regular file of at most MAX_TEXT_BYTES."""
    text = read_text(path, "markdown page", newline="", limit=MAX_TEXT_BYTES, follow=True)
    return text.splitlines(keepends=True)


def strip_end(line: str) -> str:
    return line.rstrip("\r\n")


def code_lines(lines: list[str]) -> set[int]:
    """Indexes of lines inside fenced code blocks (the fences included)."""
    inside: set[int] = set()
    fence = None
    for i, line in enumerate(lines):
        m = _FENCE.match(strip_end(line))
        if fence is None:
            # a backtick fence's info string holds no backtick: "```x```" is a code span
            if m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
                fence = m.group(1)
                inside.add(i)
            continue
        inside.add(i)
        run = m.group(1) if m else ""
        if run[:1] == fence[0] and len(run) >= len(fence) and not m.group(2).strip():
            fence = None
    return inside


def without_code_spans(text: str) -> str:
    """The text with each inline code span blanked (same length): a tag shown as code,
    `` `<details>` ``, is not a tag. A span runs from a run of backticks to the next run
    of the same length (CommonMark); found in one pass over the runs, since a hostile
    line of runs of every length would make a backtracking pattern quadratic."""
    runs = [(m.start(), m.end()) for m in _BACKTICKS.finditer(text)]
    closer: list[int | None] = [None] * len(runs)
    seen: dict[int, int] = {}  # run length -> the index of the next run of that length
    for i in range(len(runs) - 1, -1, -1):
        n = runs[i][1] - runs[i][0]
        closer[i] = seen.get(n)
        seen[n] = i
    out, i, at = [], 0, 0
    while i < len(runs):
        j = closer[i]
        if j is None:
            i += 1
            continue
        out += [text[at : runs[i][0]], " " * (runs[j][1] - runs[i][0])]
        at, i = runs[j][1], j + 1
    return "".join(out) + text[at:]


def find_blocks(lines: list[str]) -> list[Block]:
    """Every <details> block that has a <summary>, outside code, nested ones included."""
    code = code_lines(lines)
    blocks: list[Block] = []
    stack: list[list] = []  # [start, title]
    for i, line in enumerate(lines):
        if i in code:
            continue
        # Tags are found where code spans are blanked (same length); a title is read
        # from the line as written, code spans included.
        blanked = without_code_spans(line)

        def title(m: re.Match, at: int = 0, line: str = line) -> str:
            return " ".join(line[at + m.start(1) : at + m.end(1)].split())

        m = _SUMMARY.match(blanked)
        if (
            m
            and stack
            and stack[-1][1] is None
            and stack[-1][0] == i - 1
            and not _DETAILS_OPEN.match(blanked.strip())
        ):
            stack[-1][1] = title(m)
        # Tags in the order they stand on the line: `</details><details>` closes first.
        for tag in _DETAILS_TAG.finditer(blanked):
            if not tag.group(1):
                stack.append([i, None])
                m = _SUMMARY.match(blanked[tag.start() :])
                if m:
                    stack[-1][1] = title(m, tag.start())
            elif stack:
                start, title = stack.pop()
                if title is not None:
                    blocks.append(Block(title, start, i))
    for start, title in stack:  # never closed: where it ends is anyone's guess
        if title is not None:
            blocks.append(Block(title, start, len(lines), closed=False))
    return sorted(blocks, key=lambda b: b.start)


def unbalanced_details(lines: list[str]) -> list[tuple[int, str]]:
    """(line index, what) of every <details> never closed and every </details> that
    closes none, outside code."""
    code = code_lines(lines)
    opened: list[int] = []
    found = []
    for i, line in enumerate(lines):
        if i in code:
            continue
        # Tags in the order they stand on the line: `</details><details>` closes first.
        for tag in _DETAILS_TAG.finditer(without_code_spans(line)):
            if not tag.group(1):
                opened.append(i)
            elif opened:
                opened.pop()
            else:
                found.append((i, "</details> closes no <details> block"))
    found += [(i, "<details> is never closed (no </details>)") for i in opened]
    return sorted(found)


def is_table_line(line: str) -> bool:
    return line.lstrip().startswith("|")


def find_tables(lines: list[str], start: int = 0, end: int | None = None) -> list[Table]:
    """Runs of consecutive `|` lines outside code, within [start, end)."""
    end = len(lines) if end is None else end
    code = code_lines(lines)
    tables = []
    i = start
    while i < end:
        if i not in code and is_table_line(lines[i]):
            j = i
            while j < end and j not in code and is_table_line(lines[j]):
                j += 1
            tables.append(Table(i, j, tuple(strip_end(x) for x in lines[i:j])))
            i = j
        else:
            i += 1
    return tables


def tables_in(lines: list[str], block: Block) -> list[Table]:
    return find_tables(lines, block.start + 1, block.end)


def block_table(page: str | Path, lines: list[str], block: Block) -> Table:
    """The one table of a block, which an update may replace line for line; bad input,
    naming the line, for a block that does not say where its table ends: a block never
    closed, a block with no table or more than one (a note's legend, say), a table
    whose lines carry the tags of a block."""
    where = f"line {block.start + 1}"
    if not block.closed:
        raise BadInput(
            page,
            where,
            f"block {block.title!r} is never closed (no </details>), so where its table ends "
            "is not known; close it",
        )
    tables = tables_in(lines, block)
    if not tables:
        raise BadInput(page, where, f"block {block.title!r} holds no table")
    if len(tables) > 1:
        starts = ", ".join(str(t.start + 1) for t in tables)
        raise BadInput(
            page,
            f"line {tables[1].start + 1}",
            f"block {block.title!r} holds {len(tables)} tables (at lines {starts}); one table per "
            "block can be regenerated: move the others out of the block",
        )
    table = tables[0]
    # A table row that carries the block's own <details> or </details> line goes on
    # past the block: the lines before and after the table belong to it too.
    around = [i for i in (table.start - 1, table.end) if 0 <= i < len(lines) and is_table_line(lines[i])]
    for i in [*range(table.start, table.end), *around]:
        if _BLOCK_TAG.search(without_code_spans(lines[i])):
            raise BadInput(
                page,
                f"line {i + 1}",
                f"the table of block {block.title!r} runs into a <details> or <summary> tag; "
                "put the tag on a line of its own",
            )
    return table


def split_row(line: str) -> list[str]:
    """The cells of a table row, stripped; `\\|` is a pipe inside a cell."""
    text = line.strip()
    if text.startswith("|"):
        text = text[1:]
    if text.endswith("|") and not text.endswith("\\|"):
        text = text[:-1]
    cells = re.split(r"(?<!\\)\|", text)
    return [c.strip() for c in cells]


def is_delimiter_row(line: str) -> bool:
    cells = split_row(line)
    return bool(cells) and all(_DELIMITER_CELL.match(c.replace(" ", "")) for c in cells)
