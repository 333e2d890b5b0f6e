"""Lint the tables of a markdown page.

The page: every <details> closed, and no block with a benchmark table and another
table beside it (an update could not tell which one to regenerate).
Every table: a delimiter row under the header, each row with the header's cell
count, no row split over two lines, no row cut off. Benchmark tables (headers from a
label set, in any language) also: one OOM word per table, every figure a number,
tiled change figures that agree with their times; with a language, headers and the
OOM word of that language's label set only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bench.docs.labels import COLUMNS, all_headers, headers_of, label_set, oom_words
from bench.docs.pages import (
    Table,
    find_blocks,
    find_tables,
    is_delimiter_row,
    read_lines,
    split_row,
    tables_in,
    unbalanced_details,
    without_code_spans,
)
from bench.docs.styles import change, parse_percent, parse_time
from bench.errors import shown
from bench.record.series import label_problem

_HTML = re.compile(r"<(?:[/!?]?[A-Za-z]|!--)|&[A-Za-z#][A-Za-z0-9]*;")


@dataclass(frozen=True)
class Problem:
    line: int  # 1-based
    what: str


def check_page(path: str | Path, lang: str | None = None) -> list[Problem]:
    return check_lines(read_lines(path), lang)


def check_lines(lines: list[str], lang: str | None = None) -> list[Problem]:
    problems = [Problem(i + 1, what) for i, what in unbalanced_details(lines)]
    for block in find_blocks(lines):
        tables = tables_in(lines, block) if block.closed else []
        if len(tables) > 1 and any(is_benchmark(t.header) for t in tables):
            starts = ", ".join(str(t.start + 1) for t in tables)
            problems.append(
                Problem(
                    tables[1].start + 1,
                    f"block {block.title!r} holds {len(tables)} tables (at lines {starts}); "
                    "`docs update` regenerates a block's only table",
                )
            )
    for table in find_tables(lines):
        problems.extend(check_table(table, lang))
    return sorted(problems, key=lambda p: p.line)


def is_benchmark(header: list[str]) -> bool:
    return len(set(header) & all_headers()) >= 2


def check_table(table: Table, lang: str | None = None) -> list[Problem]:
    first = table.start + 1  # the header's line number
    header = table.header
    n = len(header)
    if len(table.lines) < 2 or not is_delimiter_row(table.lines[1]):
        return [Problem(first, "a `|` line with no delimiter row (| --- |) under it: not a table")]
    problems = []
    if len(split_row(table.lines[1])) != n:
        problems.append(
            Problem(first + 1, f"delimiter row has {len(split_row(table.lines[1]))} cells, the header {n}")
        )

    complete: list[tuple[int, list[str]]] = []  # (line number, cells) of whole rows
    rows = list(enumerate(table.lines[2:], first + 2))
    i = 0
    while i < len(rows):
        line_no, text = rows[i]
        cells = split_row(text)
        closed = text.rstrip().endswith("|")
        if len(cells) == n and closed:
            complete.append((line_no, cells))
        elif i + 1 < len(rows) and closed and len(cells) + len(split_row(rows[i + 1][1])) == n:
            problems.append(
                Problem(
                    line_no, f"row split over lines {line_no}-{line_no + 1}: it must be one line of {n} cells"
                )
            )
            i += 1
        elif not closed:
            problems.append(Problem(line_no, f"row cut off: {len(cells)} of {n} cells and no closing |"))
        else:
            problems.append(Problem(line_no, f"row has {len(cells)} cells, the header {n}"))
        i += 1

    if is_benchmark(header):  # the tables vae-bench writes and reads; a page's other tables are its own
        problems.extend(_check_html(table))
        problems.extend(_check_figures(complete, header))
        problems.extend(_check_words(table, complete, header, lang))
    return problems


def _check_html(table: Table) -> list[Problem]:
    """A tag in a cell (outside a code span) is HTML the page renders, not a figure or a
    name: a device label made to inject it, or a paste gone wrong."""
    problems = []
    for line_no, text in enumerate(table.lines, table.start + 1):
        for cell in split_row(text):
            tag = _HTML.search(without_code_spans(cell))
            if tag:
                problems.append(Problem(line_no, f"raw HTML in a table cell: {shown(cell)}"))
    return problems


def _roles(header: list[str]) -> list[str]:
    return list(COLUMNS[: len(header)]) if len(header) in (4, 6) else []


def _check_figures(rows: list[tuple[int, list[str]]], header: list[str]) -> list[Problem]:
    problems = []
    roles = _roles(header)
    if not roles:
        return []
    words = oom_words()
    for line_no, cells in rows:
        values = {}
        for role, name, text in zip(roles, header, cells, strict=False):
            why = label_problem(text) if role == "device" and not _HTML.search(text) else None
            if why:  # what `docs update` and `docs import` refuse to read as a card's name
                problems.append(Problem(line_no, f"{shown(name)}: {why}"))
            if role in ("device", "resolution") or text in words:
                continue
            parsed = parse_time(text) if role.endswith("time") else parse_percent(text)
            if parsed is None:
                what = "a time above 0 s" if role.endswith("time") else "a share of the card from 0"
                problems.append(Problem(line_no, f"{shown(name)}: {shown(text)} is not a number ({what})"))
                continue
            values[role] = parsed
        untiled, tiled = values.get("time"), values.get("tiled_time")
        if tiled and tiled[1] is not None:
            expected = change(untiled[0], tiled[0]) if untiled else None
            if untiled is None and cells[2] in words:
                problems.append(Problem(line_no, f"tiled change {tiled[1]} without an untiled time"))
            elif expected is not None and expected != tiled[1] and not _rounding(untiled[0], tiled):
                problems.append(
                    Problem(
                        line_no,
                        f"tiled change {tiled[1]} does not agree with its times "
                        f"({untiled[0]:g} s untiled, {tiled[0]:.3f} s tiled: {expected})",
                    )
                )
    return problems


def _rounding(untiled: float, tiled: tuple[float, str | None]) -> bool:
    """`0%` beside times one millisecond apart: two medians the same within their
    precision, which rounding to milliseconds split (see bench.docs.styles)."""
    return tiled[1] == "0%" and abs(round(untiled - tiled[0], 6)) <= 0.001


def _check_words(
    table: Table, rows: list[tuple[int, list[str]]], header: list[str], lang: str | None
) -> list[Problem]:
    problems = []
    words = oom_words()
    seen: dict[str, int] = {}  # OOM word -> first line
    for line_no, cells in rows:
        for text in cells[2:]:
            if text in words:
                seen.setdefault(text, line_no)
    if len(seen) > 1:
        listed = ", ".join(f"{w!r} (line {ln})" for w, ln in seen.items())
        problems.append(Problem(min(seen.values()), f"more than one OOM word in a table: {listed}"))
    if lang:
        allowed = headers_of(lang)
        foreign = [h for h in header if h not in allowed]
        if foreign:
            problems.append(
                Problem(
                    table.start + 1,
                    f"headers not in the {lang} label set: {', '.join(map(repr, foreign))}",
                )
            )
        oom = label_set(lang).oom
        for word, line_no in seen.items():
            if word != oom:
                problems.append(Problem(line_no, f"OOM word {word!r} is not the {lang} one, {oom!r}"))
    return problems
