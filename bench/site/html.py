"""What every page of the site shares: escaping, the page around a body (its style
and its one script, inline, so that a page opened alone from file:// is whole), tables
sortable by column, and links between pages.

Every text that comes from a run (labels, versions, errors, warnings) is escaped here:
a run folder is another machine's file. A Content-Security-Policy in each page lets
the browser load nothing from outside the page itself."""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1400px; padding: 0 20px 40px; }
nav { padding: 10px 0; border-bottom: 1px solid #ddd; margin-bottom: 12px; }
nav a { margin-right: 14px; }
h1 { font-size: 22px; margin: 12px 0 4px; }
h2 { font-size: 18px; margin: 26px 0 8px; border-bottom: 1px solid #eee; }
h3 { font-size: 15px; margin: 18px 0 6px; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th { background: #f4f4f4; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[aria-sort=ascending]::after { content: " \\25B2"; }
table.sortable th[aria-sort=descending]::after { content: " \\25BC"; }
tr.oom td, tr.error td { background: #fdecea; }
.regression { background: #f8d0cc; }
.improvement { background: #d3f0d0; }
.trade-off { background: #fde7c2; }
.unchanged { background: #f2f2f2; }
.untested { background: #fff; color: #777; }
.warn { color: #9a3b00; }
.muted { color: #666; }
pre { background: #f7f7f7; border: 1px solid #e3e3e3; padding: 8px; overflow-x: auto; font-size: 12px; }
figure { margin: 10px 0 18px; }
figure svg { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 12px; }
.charts { display: flex; flex-wrap: wrap; gap: 10px; }
.charts figure { flex: 1 1 560px; max-width: 900px; }
dl.kv { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; }
dl.kv dt { color: #555; }
dl.kv dd { margin: 0; font-family: ui-monospace, monospace; font-size: 12px; word-break: break-all; }
"""

# Click a column's header to sort by it; a cell's data-v, where it has one, is what
# sorts (the number behind "0.0123" or "12%"), and an empty one goes last.
SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var up = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", up ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var cell = row.cells[col];
        var v = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent.trim();
        if (v === "" || v === "-") { return null; }
        var n = Number(v);
        return isNaN(n) ? v : n;
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null || y === null) { return x === y ? 0 : (x === null ? 1 : -1); }
        var c = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
        return up ? c : -c;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


# Nothing but the page's own style and its one script, named by its hash: were a text
# from a run ever to reach a page unescaped, a script in it would not run.
POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    f"script-src 'sha256-{base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()}'"
)


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


@dataclass(frozen=True)
class Cell:
    """A table cell: its text, what it sorts by, and its class (num: a figure)."""

    text: str
    sort: float | str | None = None
    cls: str = ""
    raw: bool = False  # `text` is markup made here (a link), not text from a run


def num(value: float | None, fmt: str) -> Cell:
    """A figure right-aligned, sorted by its value; "-" and last where there is none."""
    if value is None:
        return Cell("-", "", "num")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return Cell(str(value), "", "num")  # what a run wrote where a figure belongs, as written
    if isinstance(value, float) and fmt.endswith("d"):
        fmt = ".0f"
    return Cell(format(value, fmt), value, "num")


def link(href: str, text: str) -> Cell:
    return Cell(f'<a href="{esc(href)}">{esc(text)}</a>', text, raw=True)


def _td(cell: Cell | str | None) -> str:
    if not isinstance(cell, Cell):
        cell = Cell("-" if cell is None or cell == "" else str(cell))
    attrs = f' class="{esc(cell.cls)}"' if cell.cls else ""
    if cell.sort is not None:
        attrs += f' data-v="{esc(cell.sort)}"'
    return f"<td{attrs}>{cell.text if cell.raw else esc(cell.text)}</td>"


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Cell | str | None]],
    sortable: bool = True,
    row_classes: Sequence[str] | None = None,
    id: str | None = None,
) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{esc(row_classes[i])}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{cls}>{''.join(_td(c) for c in row)}</tr>")
    attrs = (' class="sortable"' if sortable else "") + (f' id="{esc(id)}"' if id else "")
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def key_values(pairs: Iterable[tuple[str, object]]) -> str:
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in pairs if v not in (None, "", [], {}))
    return f'<dl class="kv">{items}</dl>' if items else '<p class="muted">(not recorded)</p>'


def items(texts: Iterable[str], cls: str = "") -> str:
    listed = "".join(f"<li>{esc(t)}</li>" for t in texts)
    attrs = f' class="{cls}"' if cls else ""
    return f"<ul{attrs}>{listed}</ul>" if listed else ""


def page(title: str, body: str, depth: int = 0, generated: str = "") -> str:
    """A whole page; `depth` is how many folders below the site's root it lies, for
    the links back to the index."""
    up = "../" * depth
    nav = (
        f'<nav><a href="{up}index.html">vae-bench report</a><span class="muted">{esc(generated)}</span></nav>'
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>\n"
        f"<body>{nav}<h1>{esc(title)}</h1>\n{body}\n<script>{SCRIPT}</script></body></html>\n"
    )
