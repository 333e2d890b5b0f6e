"""A matplotlib figure as SVG written into a page: text as text (a tenth of the size of
glyphs drawn as paths, and searchable), no metadata, ids salted per chart so that
several charts on one page never share a clip path, and no fixed size (a chart fits
its column)."""

from __future__ import annotations

import io
import re

import matplotlib
from matplotlib.figure import Figure

from bench.site.html import esc

_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.S)
_SIZE = re.compile(r'<svg([^>]*?) width="[^"]*" height="[^"]*"')
_NAMESPACES = re.compile(r' xmlns(:xlink)?="[^"]*"')  # an HTML page needs neither
# matplotlib names every group (figure_1, axes_1, ...), alike in every chart; only the
# hashed ids of markers and clip paths are referred to.
_GROUP_ID = re.compile(r' id="(?![mp][0-9a-f]{10}")[^"]*"')


def svg(fig: Figure, name: str, caption: str = "") -> str:
    """The figure inside a <figure>, with `caption` beneath and as its accessible name.
    `name` must be unique on the page (it salts the figure's ids)."""
    buffer = io.StringIO()
    rc = {"svg.fonttype": "none", "svg.hashsalt": name, "svg.image_inline": True}
    with matplotlib.rc_context(rc):
        fig.savefig(
            buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None}
        )
    text = _PROLOGUE.sub("", buffer.getvalue(), count=1)
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    text = _GROUP_ID.sub("", _NAMESPACES.sub("", text))
    text = _SIZE.sub(
        lambda m: f'<svg{m.group(1)} role="img" aria-label="{esc(caption or name)}"', text, count=1
    )
    below = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure class="chart" data-chart="{esc(name)}">{text}{below}</figure>'
