"""`docs update` never damages a page: it changes only the lines of the tables it
regenerates, or refuses and leaves every byte as it was. Blocks that do not say where
their table ends (never closed, two tables, a table fused with a tag) are refused
with their line; `docs check` reports them; links are written through, read-only
pages refused."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bench import cli
from bench.docs import update as docs_module
from bench.docs.spec import from_dict, load_spec
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
    spec_obj = from_dict(SPEC)

    def tables(*runs) -> dict[str, str]:
        data = Measurements(list(runs))
        return {b.title: render_block(b, data, "en", "float16", 1, strict=True) for b in spec_obj.blocks}

    rendered = tables(run)
    # A page that already holds another card's rows (GPU Z): an update keeps them, before GPU A's.
    other = write_run(root, "other", "GPU Z", [replace(r, case=r.case) for r in recs])
    rendered.update({("Z", t): text for t, text in tables(other).items()})
    rendered.update({("Z+A", t): text for t, text in tables(other, run).items()})
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


# -- maintainers with different cards update one page, in turn and at once -------------


def _run_of(root: Path, device: str, median: float = 0.1) -> Path:
    recs = [record(op=op, tiled=t, median=median + t) for op in ("encode", "decode") for t in (False, True)]
    name = f"{device.lower().replace(' ', '-')}-{len(list(root.iterdir()))}"
    return write_run(root, name, device, recs)


def _devices_on(page: Path) -> list[str]:
    rows = [line.split("|")[1].strip() for line in page.read_text().splitlines() if line.startswith("|")]
    return list(dict.fromkeys(r for r in rows if r.startswith("GPU ")))


def test_a_later_update_keeps_the_rows_of_an_earlier_card(setup, tmp_path, capsys):
    spec, run_a, _ = setup
    page = tmp_path / "p.md"
    page.write_text(block("Encoding", STALE) + block("Decoding", STALE))
    assert update(capsys, page, spec, run_a)[0] == 0
    code, out, err = update(capsys, page, spec, _run_of(tmp_path, "GPU B"))
    assert code == 0, err
    assert _devices_on(page) == ["GPU A", "GPU B"]
    code, _, err = update(capsys, page, spec, _run_of(tmp_path, "GPU C"))
    assert code == 0, err
    assert _devices_on(page) == ["GPU A", "GPU B", "GPU C"]
    assert cli.main(["docs", "check", str(page)]) == 0


def test_the_spec_orders_the_rows_and_a_new_run_replaces_its_own_card(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "dtype: float16\nblocks:\n"
        "  - {title: Encoding, model: sd-v1, op: encode, style: encode, devices: [GPU L]}\n"
        "  - {title: Decoding, model: sd-v1, op: decode, style: decode, devices: [GPU L]}\n"
    )
    page = tmp_path / "p.md"
    page.write_text(block("Encoding", STALE) + block("Decoding", STALE))
    assert update(capsys, page, spec, _run_of(tmp_path, "GPU Z"))[0] == 2  # the listed card is missing
    assert update(capsys, page, spec, _run_of(tmp_path, "GPU L"))[0] == 0
    assert update(capsys, page, spec, _run_of(tmp_path, "GPU Z"))[0] == 0
    assert update(capsys, page, spec, _run_of(tmp_path, "GPU B"))[0] == 0
    assert _devices_on(page) == ["GPU L", "GPU Z", "GPU B"]
    before = page.read_text()
    assert update(capsys, page, spec, _run_of(tmp_path, "GPU Z", median=0.2))[0] == 0
    assert _devices_on(page) == ["GPU L", "GPU Z", "GPU B"] and page.read_text() != before
    assert "0.2" in page.read_text()


def test_two_updates_at_once_both_land(setup, tmp_path, capsys, monkeypatch):
    """The first update is held between reading the page and writing it while a second
    one runs: the second waits for the first and lands on top of it."""
    import threading

    spec, run_a, _ = setup
    page = tmp_path / "p.md"
    page.write_text(block("Encoding", STALE) + block("Decoding", STALE))
    run_b, run_c = _run_of(tmp_path, "GPU B"), _run_of(tmp_path, "GPU C")
    real_write = docs_module.write_atomic
    first_waits, second_done = threading.Event(), threading.Event()

    def held_write(path, data, **kw):
        if threading.current_thread().name == "first":
            first_waits.set()
            second_done.wait(timeout=1)  # the second update cannot finish while we hold the page
        return real_write(path, data, **kw)

    monkeypatch.setattr(docs_module, "write_atomic", held_write)
    first = threading.Thread(
        target=lambda: docs_module.update_page(page, load_spec(spec), Measurements([run_b])), name="first"
    )
    first.start()
    assert first_waits.wait(timeout=30)
    code = cli.main(["docs", "update", str(page), "--spec", str(spec), str(run_c)])
    second_done.set()
    first.join(timeout=60)
    assert code == 0, capsys.readouterr().err
    assert _devices_on(page) == ["GPU B", "GPU C"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_an_update_held_off_too_long_names_the_holder(setup, tmp_path, capsys, monkeypatch):
    from bench.files import Lock

    spec, run_a, _ = setup
    page = tmp_path / "p.md"
    page.write_text(block("Encoding", STALE) + block("Decoding", STALE))
    monkeypatch.setattr(docs_module, "PAGE_LOCK_WAIT_S", 0.2)
    held = Lock(tmp_path / ".p.md.lock", "test")
    try:
        err = refused(capsys, page, spec, run_a, "another vae-bench docs update is writing this page")
        assert f"PID {os.getpid()}" in err
    finally:
        held.release()


def test_a_page_changed_by_hand_during_an_update_is_not_overwritten(setup, tmp_path, capsys, monkeypatch):
    spec, run_a, _ = setup
    page = tmp_path / "p.md"
    page.write_text(block("Encoding", STALE) + block("Decoding", STALE))
    real_plan = docs_module.plan_update

    def plan_then_edit(*args, **kw):
        planned = real_plan(*args, **kw)
        page.write_text(page.read_text() + "a line an editor saved meanwhile\n")
        return planned

    monkeypatch.setattr(docs_module, "plan_update", plan_then_edit)
    code, _, err = update(capsys, page, spec, run_a)
    assert code == 2 and "changed while the update ran" in err
    assert page.read_text().endswith("a line an editor saved meanwhile\n")


@pytest.mark.parametrize(
    "text",
    [
        "Use `<details>` to fold a table.\n",
        "````md\n```\n<details><summary>Encoding</summary>\n```\n````\n",
        "~~~~\n~~~\n</details>\n~~~~\n",
    ],
    ids=["inline-code", "four-backticks", "four-tildes"],
)
def test_tags_shown_as_code_are_not_tags(setup, tmp_path, capsys, text):
    spec, run, rendered = setup
    page = tmp_path / "p.md"
    page.write_text(text + block("Encoding", STALE) + block("Decoding", STALE))
    code, _, err = update(capsys, page, spec, run)
    assert code == 0, err
    assert page.read_text().startswith(text) and rendered["Encoding"] in page.read_text()
    assert cli.main(["docs", "check", str(page)]) == 0


def test_a_title_with_a_code_span_is_found(setup, tmp_path, capsys):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(
        "dtype: float16\nblocks:\n"
        "  - {title: 'Encoding `sd-v1`', model: sd-v1, op: encode, style: encode}\n"
        "  - {title: Decoding, model: sd-v1, op: decode, style: decode}\n"
    )
    _, run, rendered = setup
    page = tmp_path / "p.md"
    page.write_text(block("Encoding `sd-v1`", STALE) + block("Decoding", STALE))
    code, _, err = update(capsys, page, spec_path, run)
    assert code == 0, err
    assert rendered["Encoding"] in page.read_text()


def test_check_leaves_html_outside_the_benchmark_tables_alone(tmp_path, capsys):
    page = tmp_path / "p.md"
    page.write_text("| Option | Meaning |\n|---|---|\n| a<br>b | &nbsp;x |\n")
    assert cli.main(["docs", "check", str(page)]) == 0


def test_check_reports_a_device_cell_update_would_refuse(tmp_path, capsys):
    page = tmp_path / "p.md"
    text = (DOCS / "overview.en.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| NVIDIA"))
    page.write_text(text.replace(row, row.replace("NVIDIA GeForce RTX 4090", "RTX 4090 [1]", 1), 1))
    assert cli.main(["docs", "check", str(page)]) == 1
    assert "'RTX 4090 [1]' holds '['" in capsys.readouterr().out


def test_check_reports_raw_html_in_a_table_cell(tmp_path, capsys):
    page = tmp_path / "p.md"
    page.write_text(
        "| GPU | Resolution | Time (seconds) | Memory (%) |\n|---|---|---|---|\n"
        "| <img src=x onerror=alert(1)> | 512x512 | 0.1 | 1.0 |\n"
        "| `<b>` in code | 512x512 | 0.1 | 1.0 |\n| A &amp; B | 512x512 | 0.1 | 1.0 |\n"
    )
    assert cli.main(["docs", "check", str(page)]) == 1
    out = capsys.readouterr().out
    assert f"{page}:3: raw HTML in a table cell" in out and f"{page}:5: raw HTML" in out
    assert ":4:" not in out


# -- the property: the bytes outside the regenerated tables, or no change at all --------


@dataclass
class Page:
    segments: list[tuple[str, str]]  # (spec title whose table this is, or "", text)
    well_formed: bool


_WORDS = st.sampled_from(
    [
        "word",
        "GPU",
        "x | y",
        "OOM",
        "#",
        "`code`",
        "512x512",
        "<b>",
        "0.5",
        "  ",
        "`<details>`",
        "`</details>`",
    ]
)
_PROSE = st.lists(_WORDS, min_size=1, max_size=4).map(lambda ws: " ".join(ws).strip() or "text")


@st.composite
def prose(draw) -> str:
    return "".join("p " + draw(_PROSE) + "\n" for _ in range(draw(st.integers(1, 2))))


@st.composite
def code_fence(draw, closed: bool) -> str:
    fence = draw(st.sampled_from(["```", "````", "~~~", "~~~~~"]))
    inner = draw(
        st.lists(
            st.sampled_from(
                ["| a | b |\n", "<details><summary>Encoding</summary>\n", "</details>\n", "x\n"]
                # a shorter fence inside a longer one is text, not its end
                + ([fence[:3] + "\n"] if len(fence) > 3 else [])
            ),
            min_size=1,
            max_size=3,
        )
    )
    return fence + "md\n" + "".join(inner) + (fence + "\n" if closed else "")


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
            # the block's table: any table (regenerated whole), or one with another card's
            # rows (kept, before the run's)
            if draw(st.booleans()):
                segments.append((item, draw(table())))
            else:
                segments.append((("Z", item), ""))
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


def _before(title, text: str, rendered: dict) -> str:
    return rendered[title] + "\n" if isinstance(title, tuple) else text


def _after(title, text: str, rendered: dict) -> str:
    if isinstance(title, tuple):
        return rendered[("Z+A", title[1])] + "\n"
    return rendered[title] + "\n" if title else text


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
        before = _text(
            [(t, _before(t, text, rendered)) for t, text in page.segments], crlf, final_newline
        ).encode()
        path.write_bytes(before)
        code, out, err = update(capsys, path, spec, run)
        event("updated" if code == 0 else "refused: " + err.split(": ")[-1][:40])
        after = path.read_bytes()
        if code == 0:
            expected = [(t, _after(t, text, rendered)) for t, text in page.segments]
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
