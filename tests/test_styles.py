"""The two table styles, figure by figure: every published decode-style figure is
reproduced from its number, and the change rule holds at its edges."""

from __future__ import annotations

import pytest
import tabulate

from bench.docs.labels import label_set
from bench.docs.pages import split_row
from bench.docs.styles import (
    Cell,
    Row,
    change,
    parse_percent,
    parse_time,
    percent,
    render,
    short_time,
    tiled_time,
)
from tests.doc_helpers import DOCS, page_tables

EN = label_set("en")
ZH = label_set("zh")


def decode_rows() -> list[list[str]]:
    """Every data row of the published decode-style tables (both pages that have them)."""
    rows = []
    for page in ("overview.en.md", "vae_decode.en.md"):
        for table in page_tables(DOCS / page).values():
            lines = table.split("\n")
            if lines[1].startswith("| --- |"):
                rows += [split_row(line) for line in lines[2:]]
    return rows


DECODE_ROWS = decode_rows()


def test_the_fixtures_hold_every_published_decode_row():
    assert len(DECODE_ROWS) == 48  # 2 pages x 2 tables x 12 rows


@pytest.mark.parametrize("cells", DECODE_ROWS, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}")
def test_every_published_decode_figure_is_reproduced(cells):
    device, size, t_text, m_text, tt_text, tm_text = cells
    untiled_time, no_change = parse_time(t_text)
    tiled, published_change = parse_time(tt_text)
    assert no_change is None and published_change is not None
    untiled = Cell("ok", untiled_time, parse_percent(m_text))
    tiled_cell = Cell("ok", tiled, parse_percent(tm_text))
    assert short_time(untiled, EN) == t_text
    assert percent(untiled, EN) == m_text
    assert change(untiled_time, tiled) == published_change
    assert tiled_time(untiled, tiled_cell, EN) == tt_text
    assert percent(tiled_cell, EN) == tm_text


@pytest.mark.parametrize(
    "untiled, tiled, expected",
    [
        (0.100, 0.100, "0%"),
        (1.000, 1.0004, "0%"),  # both print as 1.000
        (2.000, 2.001, "+0.1%"),  # +0.05 exactly: half away from zero
        (2.000, 1.999, "-0.1%"),
        (1.000, 1.009, "+0.9%"),
        (1.000, 1.0095, "+1%"),  # 1.010 as printed: +1.0 -> whole number
        (0.200, 0.201, "+0.5%"),
        (0.200, 0.203, "+2%"),  # +1.5 -> +2
        (0.200, 0.197, "-2%"),
        (0.148, 0.301, "+103%"),
        (0.100, 1.000, "+900%"),
        (0.0001, 0.5, None),  # untiled prints as 0.000: no change to show
    ],
)
def test_change_rule(untiled, tiled, expected):
    assert change(untiled, tiled) == expected


def test_decode_style_oom_and_not_measured_cells():
    rows = [
        Row("GPU A", "512x512", Cell("oom"), Cell("ok", 1.8661, 44.47)),
        Row("GPU A", "1024x1024", Cell("ok", 0.5, 20.0), Cell("oom")),
        Row("GPU A", "2048x2048", Cell("error"), Cell("missing")),
    ]
    lines = render("decode", rows, ZH).split("\n")
    assert lines[0] == "| GPU | 分辨率 | 时间（秒） | 内存（%） | 分块时间（秒） | 分块内存（%） |"
    assert lines[1] == "| --- | --- | --- | --- | --- | --- |"
    assert lines[2] == "| GPU A | 512x512 | 内存不足 (OOM) | 内存不足 (OOM) | 1.866 | 44.47% |"
    assert lines[3] == "| GPU A | 1024x1024 | 0.5 | 20.00% | 内存不足 (OOM) | 内存不足 (OOM) |"
    assert lines[4] == "| GPU A | 2048x2048 | - | - | - | - |"


def test_encode_style_is_tabulate_pipe_with_the_oom_word_as_missing_value():
    rows = [
        Row("NVIDIA GeForce RTX 3080", "2048x2048", Cell("oom"), Cell("ok", 1.8661, 44.4717)),
        Row(
            "NVIDIA GeForce RTX 3080", "1024x1024", Cell("ok", 0.30249, 44.4308), Cell("ok", 0.3021, 44.4308)
        ),
    ]
    text = render("encode", rows, label_set("en", "consumed"))
    # aligned on the decimal point as tabulate aligns a missing value, as published
    assert "| 2048x2048    |          OOM     |" in text
    assert "|            0.302 |" in text  # rounded to milliseconds, then as tabulate prints


def test_encode_style_without_tiled_columns():
    text = render("encode", [Row("cpu", "128x128", Cell("ok", 0.2, 3.0))], EN, tiled=False)
    assert text.split("\n")[0] == "| GPU   | Resolution   |   Time (seconds) |   Memory (%) |"


def test_encode_style_pads_by_characters_whatever_tabulate_was_set_to():
    rows = [Row("GPU A", "512x512", Cell("ok", 0.1, 1.0), Cell("oom"))]
    saved = tabulate.WIDE_CHARS_MODE
    try:
        tabulate.WIDE_CHARS_MODE = True
        wide = render("encode", rows, ZH)
        assert tabulate.WIDE_CHARS_MODE is True  # restored
        tabulate.WIDE_CHARS_MODE = False
        narrow = render("encode", rows, ZH)
    finally:
        tabulate.WIDE_CHARS_MODE = saved
    assert wide == narrow
    header, delimiter = narrow.split("\n")[:2]
    assert len(header) == len(delimiter)  # one column per character


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0.05", (0.05, None)),
        ("0.301 (+103%)", (0.301, "+103%")),
        ("0.120 (-0.8%)", (0.12, "-0.8%")),
        ("OOM", None),
    ],
)
def test_parse_time(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    "text, expected", [("3.51901", 3.51901), ("5.60%", 5.6), ("内存不足 (OOM)", None), ("", None)]
)
def test_parse_percent(text, expected):
    assert parse_percent(text) == expected


def test_a_time_without_a_memory_figure_keeps_its_time():
    cell = Cell("ok", 0.25, None)
    decode = render("decode", [Row("cpu", "64x64", cell, cell)], EN).split("\n")[2]
    assert decode == "| cpu | 64x64 | 0.25 | - | 0.250 (0%) | - |"
    encode = render("encode", [Row("cpu", "64x64", cell, cell)], EN).split("\n")[2]
    assert "|             0.25 | -            |" in encode


def test_a_figure_beside_a_missing_one_is_written_as_the_others_are():
    """A case not measured ("-") in a column: its neighbours keep tabulate's `g`, not
    Python's full repr."""
    labels = label_set("en")
    rows = [
        Row("GPU", "512x512", Cell("ok", 0.0112, 0.5937581177867666), Cell("ok", 0.0113, 0.5937581177867666)),
        Row("GPU", "1024x1024", Cell("ok", 0.045, 3.130851), Cell("error")),
    ]
    table = render("encode", rows, labels)
    assert "0.5937581177867666" not in table and table.count("0.593758") == 2
    cells = [split_row(line) for line in table.splitlines()[2:]]
    assert cells[1][4:] == ["-", "-"] and cells[0][4:] == ["0.011", "0.593758"]
