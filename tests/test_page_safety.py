"""`docs update` never damages a page: it changes only the lines of the tables it
regenerates, or refuses and leaves every byte as it was. Blocks that do not say where
their table ends (never closed, two tables, a table fused with a tag) are refused
with their line; `docs check` reports them; links are written through, read-only
pages refused."""

from __future__ import annotations

import errno
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bench import cli
from bench.docs import update as docs_module
from bench.docs.spec import from_dict
from bench.docs.tables import Measurements, render_block
from tests.doc_helpers import DOCS, SPECS, record, write_run

SPEC = {
    "dtype": "float16",
    "blocks": [
        {"title": "Encoding", "model": "sd-v1", "op": "encode", "style": "encode"},
        {"title": "Decoding", "model": "sd-v1", "op": "decode", "style": "decode"},
    ],
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A spec file and one run that fills both of its tables."""
    root = tmp_path_factory.mktemp("safety")
    spec = root / "spec.yaml"
    spec.write_text(
        "dtype: float16\nblocks:\n"
        "  - {title: Encoding, model: sd-v1, op: encode, style: encode}\n"
        "  - {title: Decoding, model: sd-v1, op: decode, style: decode}\n"
    )
    recs = [record(op=op, tiled=t, median=0.1 + t) for op in ("encode", "decode") for t in (False, True)]
    run = write_run(root, "run", "GPU A", recs)
    data = Measurements([run])
    spec_obj = from_dict(SPEC)
    rendered = {b.title: render_block(b, data, "en", "float16", 1, strict=True) for b in spec_obj.blocks}
    return spec, run, rendered


def update(capsys, page, spec, run, *extra) -> tuple[int, str, str]:
    code = cli.main(["docs", "update", str(page), "--spec", str(spec), str(run), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, page, spec, run, says: str) -> str:
    before = page.read_bytes()
    code, out, err = update(capsys, page, spec, run)
    assert code == 2 and out == "", err
    assert err.count("\n") == 1 and says in err, err
    assert page.read_bytes() == before
    return err


STALE = "| old | table |\n|---|---|\n| 1 | 2 |\n"


def block(title: str, body: str, close: bool = True) -> str:
    return f"<details><summary>{title}</summary>\n\n{body}\n" + ("</details>\n" if close else "")


# -- the reproductions of the issue ------------------------------------------------------


def test_an_unclosed_block_is_refused_and_the_overview_keeps_every_line(setup, tmp_path, capsys):
    spec, run, _ = setup
    page = tmp_path / "overview.md"
    text = (DOCS / "overview.en.md").read_text()
    lines = text.splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if line.strip() == "</details>")
    page.write_text("".join(lines[:cut] + lines[cut + 1 :]))
    err = refused(capsys, page, SPECS / "hybrid-inference.yaml", run, "never closed")
    assert "line " in err


def test_a_block_with_a_note_and_a_legend_table_is_refused(setup, tmp_path, capsys):
    spec, run, _ = setup
    page = tmp_path / "p.md"
    legend = "| mark | meaning |\n|---|---|\n| * | tiled |\n"
    note = "\nNote: see the legend.\n\n"
    page.write_text(block("Encoding", STALE + note + legend) + block("Decoding", STALE))
    err = refused(capsys, page, spec, run, "holds 2 tables")
    assert "line 9" in err


def test_a_table_fused_with_a_closing_tag_is_refused(setup, tmp_path, capsys):
    spec, run, _ = setup
    page = tmp_path / "p.md"
    page.write_text(
        "<details><summary>Encoding</summary>\n\n| a | b |\n|---|---|\n| 1 | 2 |</details>\n"
        + block("Decoding", STALE)
    )
    refused(capsys, page, spec, run, "runs into a <details> or <summary> tag")


def test_a_stray_closing_tag_is_refused(setup, tmp_path, capsys):
    spec, run, _ = setup
    page = tmp_path / "p.md"
    page.write_text(block("Encoding", STALE) + "</details>\n" + block("Decoding", STALE))
    refused(capsys, page, spec, run, "closes no <details> block")


def test_nested_blocks_that_share_a_table_are_refused(setup, tmp_path, capsys):
    spec, run, _ = setup
    page = tmp_path / "p.md"
    page.write_text(block("Encoding", block("Decoding", STALE)))
    refused(capsys, page, spec, run, "share one table")


def test_check_reports_unclosed_blocks_and_extra_tables(tmp_path, capsys):
    page = tmp_path / "p.md"
    table = (DOCS / "vae_decode.en.md").read_text().split("<details><summary>SDXL</summary>\n\n")[1]
    table = table.split("\n\n")[0] + "\n"
    legend = "| mark | meaning |\n|---|---|\n| * | tiled |\n"
    page.write_text(block("A", table + "\n" + legend) + block("B", table, close=False))
    code = cli.main(["docs", "check", str(page)])
    out = capsys.readouterr().out
    assert code == 1
    assert "holds 2 tables" in out and "<details> is never closed" in out


def test_a_symlinked_page_is_updated_through_its_link(setup, tmp_path, capsys):
    spec, run, rendered = setup
    real = tmp_path / "real.md"
    real.write_text(block("Encoding", STALE) + block("Decoding", STALE))
    link = tmp_path / "link.md"
    link.symlink_to(real)
    code, out, err = update(capsys, link, spec, run)
    assert code == 0, err
    assert link.is_symlink() and rendered["Encoding"] in real.read_text()


def test_a_read_only_page_is_refused(setup, tmp_path, capsys):
    spec, run, _ = setup
    page = tmp_path / "p.md"
    page.write_text(block("Encoding", STALE) + block("Decoding", STALE))
    page.chmod(0o444)
    refused(capsys, page, spec, run, "has no write permission")
    code, out, _ = update(capsys, page, spec, run, "--check")  # reading it is fine
    assert code == 1 and "would change" in out


def test_a_read_only_mount_is_one_line(setup, tmp_path, capsys, monkeypatch):
    spec, run, _ = setup
    page = tmp_path / "p.md"
    page.write_text(block("Encoding", STALE) + block("Decoding", STALE))

    def read_only(path, data, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(docs_module, "write_atomic", read_only)
    err = refused(capsys, page, spec, run, "Read-only file system")
    assert str(page) in err


@pytest.mark.parametrize(
    "name", ["GPU | B", "<img src=x onerror=alert(1)>", "GPU\nB", "[RTX](javascript:x)", "A &amp; B"]
)
@pytest.mark.parametrize("field", ["name", "label"])
def test_a_device_name_that_would_break_the_table_is_refused(setup, tmp_path, capsys, name, field):
    spec, _, _ = setup
    run = write_run(tmp_path, "odd", "GPU B", [record(tiled=t) for t in (False, True)])
    meta = json.loads((run / "meta.json").read_text())
    meta["device"][field] = name  # as a hostile meta.json would hold it
    (run / "meta.json").write_text(json.dumps(meta))
    page = tmp_path / "p.md"
    page.write_text(block("Encoding", STALE) + block("Decoding", STALE))
    err = refused(capsys, page, spec, run, "which a docs table cell cannot show as it is")
    assert f"device.{field}" in err


# -- the property: the bytes outside the regenerated tables, or no change at all --------


@dataclass
class Page:
    segments: list[tuple[str, str]]  # (spec title whose table this is, or "", text)
    well_formed: bool


_WORDS = st.sampled_from(["word", "GPU", "x | y", "OOM", "#", "`code`", "512x512", "<b>", "0.5", "  "])
_PROSE = st.lists(_WORDS, min_size=1, max_size=4).map(lambda ws: " ".join(ws).strip() or "text")


@st.composite
def prose(draw) -> str:
    return "".join(draw(_PROSE).lstrip("|#`~<") + "\n" for _ in range(draw(st.integers(1, 2))))


@st.composite
def code_fence(draw, closed: bool) -> str:
    inner = draw(
        st.sampled_from(["| a | b |\n", "<details><summary>Encoding</summary>\n", "</details>\n", "x\n"])
    )
    return "```\n" + inner + ("```\n" if closed else "")


@st.composite
def table(draw) -> str:
    rows = draw(st.integers(0, 3))
    cols = draw(st.integers(1, 4))
    return "".join(
        "|" + "|".join(f" {draw(_WORDS).replace('|', '/')} " for _ in range(cols)) + "|\n"
        for _ in range(rows + 2)
    )


@st.composite
def pages(draw) -> Page:
    segments: list[tuple[str, str]] = []
    well_formed = True
    titles = ["Encoding", "Decoding"]
    order = draw(st.permutations(titles))
    extra_blocks = draw(st.lists(st.sampled_from(["Other", "Code"]), max_size=2))
    items = [*order, *extra_blocks]
    items = draw(st.permutations(items))
    for item in items:
        for _ in range(draw(st.integers(0, 2))):
            kind = draw(st.sampled_from(["prose", "heading", "fence", "blank"]))
            if kind == "prose":
                segments.append(("", draw(prose())))
            elif kind == "heading":
                segments.append(("", "## A heading\n"))
            elif kind == "blank":
                segments.append(("", "\n"))
            else:
                closed = draw(st.integers(0, 9)) > 0
                well_formed &= closed
                segments.append(("", draw(code_fence(closed))))
        closed = draw(st.integers(0, 9)) > 0
        well_formed &= closed
        segments.append(("", f"<details><summary>{item}</summary>\n\n"))
        extra = draw(st.sampled_from(["", "", "", "", "note", "note", "table", "note+table"]))
        if item in titles:
            well_formed &= "table" not in extra
            segments.append((item, draw(table())))
        else:
            segments.append(("", draw(table())))
        if "note" in extra:
            segments.append(("", "\n" + draw(prose())))
        if "table" in extra:
            segments.append(("", "\n" + draw(table())))
        if closed:
            segments.append(("", "\n</details>\n"))
    if draw(st.booleans()):
        segments.append(("", draw(prose())))
    return Page(segments, well_formed)


def _text(segments, crlf: bool, final_newline: bool) -> str:
    text = "".join(t for _, t in segments)
    if not final_newline:
        text = text.rstrip("\n")
    return text.replace("\n", "\r\n") if crlf else text


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(page=pages(), crlf=st.booleans(), final_newline=st.booleans())
def test_update_changes_only_its_tables_or_nothing(setup, capsys, page, crlf, final_newline):
    spec, run, rendered = setup
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "page.md"
        before = _text(page.segments, crlf, final_newline).encode()
        path.write_bytes(before)
        code, out, err = update(capsys, path, spec, run)
        event("updated" if code == 0 else "refused: " + err.split(": ")[-1][:40])
        after = path.read_bytes()
        if code == 0:
            eol = "\n"
            expected = [(t, rendered[t] + eol if t else text) for t, text in page.segments]
            assert after == _text(expected, crlf, final_newline).encode(), (out, err)
        else:
            assert code == 2 and err.count("\n") == 1, err
            assert after == before
            assert not page.well_formed, err
        assert sorted(p.name for p in Path(tmp).iterdir()) == ["page.md"]


def test_the_property_generator_makes_both_kinds_of_page():
    """The property above is only worth something if both outcomes occur."""
    seen = set()

    @settings(max_examples=200, deadline=None)
    @given(page=pages())
    def collect(page):
        seen.add(page.well_formed)

    collect()
    assert seen == {True, False}


def test_copy_of_published_pages_round_trip_through_the_checker(tmp_path):
    for name in ("overview.en.md", "vae_encode.en.md", "vae_decode.en.md"):
        shutil.copyfile(DOCS / name, tmp_path / name)
        assert cli.main(["docs", "check", str(tmp_path / name)]) == 0
