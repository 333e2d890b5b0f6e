"""Reading a markdown page: its `<details><summary>TITLE</summary>` blocks and the pipe
tables in it, by line, so that a caller can replace a table and keep every other byte.

Lines keep their line endings (`read_lines`); indexes are 0-based, and reports add 1.
Lines inside fenced code blocks are never tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bench.files import read_text

_DETAILS_OPEN = re.compile(r"<details\b[^>]*>", re.IGNORECASE)
_DETAILS_CLOSE = re.compile(r"</details\s*>", re.IGNORECASE)
_SUMMARY = re.compile(r"^\s*(?:<details\b[^>]*>\s*)?<summary\b[^>]*>(.*?)</summary>", re.IGNORECASE)
_FENCE = re.compile(r"^\s*(```|~~~)")
_DELIMITER_CELL = re.compile(r"^:?-+:?$")


@dataclass(frozen=True)
class Block:
    title: str
    start: int  # the line with <details>
    end: int  # the line with the matching </details>, or len(lines) when never closed


@dataclass(frozen=True)
class Table:
    start: int  # first line
    end: int  # one past the last line
    lines: tuple[str, ...]  # without line endings

    @property
    def header(self) -> list[str]:
        return split_row(self.lines[0])


def read_lines(path: str | Path) -> list[str]:
    """The page's lines with their endings (\\n, \\r\\n) exactly as on disk."""
    return read_text(path, "markdown page", newline="").splitlines(keepends=True)


def strip_end(line: str) -> str:
    return line.rstrip("\r\n")


def code_lines(lines: list[str]) -> set[int]:
    """Indexes of lines inside fenced code blocks (the fences included)."""
    inside: set[int] = set()
    fence = None
    for i, line in enumerate(lines):
        m = _FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)
            inside.add(i)
        elif fence is not None:
            inside.add(i)
            if line.strip().startswith(fence):
                fence = None
    return inside


def find_blocks(lines: list[str]) -> list[Block]:
    """Every <details> block that has a <summary>, outside code, nested ones included."""
    code = code_lines(lines)
    blocks: list[Block] = []
    stack: list[list] = []  # [start, title]
    for i, line in enumerate(lines):
        if i in code:
            continue
        opens = len(_DETAILS_OPEN.findall(line))
        for _ in range(opens):
            stack.append([i, None])
        m = _SUMMARY.match(line)
        if m and stack and stack[-1][1] is None and i - stack[-1][0] <= 1:
            stack[-1][1] = " ".join(m.group(1).split())
        for _ in range(len(_DETAILS_CLOSE.findall(line))):
            if stack:
                start, title = stack.pop()
                if title is not None:
                    blocks.append(Block(title, start, i))
    for start, title in stack:  # never closed: runs to the end of the page
        if title is not None:
            blocks.append(Block(title, start, len(lines)))
    return sorted(blocks, key=lambda b: b.start)


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


def table_span(lines: list[str], block: Block) -> tuple[int, int] | None:
    """From the first to one past the last `|` line inside a block: the whole table,
    even when a broken row in it does not start with `|`."""
    rows = [i for i in range(block.start + 1, block.end) if is_table_line(lines[i])]
    code = code_lines(lines)
    rows = [i for i in rows if i not in code]
    return (rows[0], rows[-1] + 1) if rows else None


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
