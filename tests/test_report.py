"""vae-bench report on synthetic runs: the pages it writes, that the site holds no
address outside itself and every link inside it leads to a page, that what a run
folder says is escaped, the choice of comparisons, and the output folder's rules.
tests/test_report_browser.py loads the site of the reference runs in Chromium."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bench.cli import main
from bench.site.build import MARKER, build_site
from tests.runs import GIB, case, noisy, write_run

pytestmark = pytest.mark.filterwarnings("ignore:.*made on a busy host")  # a-old, on purpose

CASES = [
    (op, size, tiled) for op in ("encode", "decode") for size in (256, 512, 1024) for tiled in (False, True)
]


def gpu_run(
    root: Path,
    name: str,
    started: str,
    times: dict[str, float] | None = None,
    oom_at: int | None = None,
    more_memory: tuple | None = None,
    imprecise: tuple | None = None,
    **kw,
) -> Path:
    """A GPU run of CASES; `times`: each op's time factor; decode cases untiled from
    `oom_at` on run out of memory; `more_memory`: the case that needs half as much
    again; `imprecise`: the case that missed its precision."""
    cases = []
    for op, size, tiled in CASES:
        base = 0.001 * (size / 256) ** 2 * (1.4 if tiled else 1.0) * (times or {}).get(op, 1.0)
        peak = int((0.3 + (0.2 if tiled else 1.0) * (size / 256) ** 2) * GIB)
        peak = int(peak * 1.5) if (op, size, tiled) == more_memory else peak
        oom = oom_at is not None and op == "decode" and size >= oom_at and not tiled
        record = case(
            op, size, tiled, samples=noisy(base, 0.01, 20), peak=peak, status="oom" if oom else "ok"
        )
        if (op, size, tiled) == imprecise:
            record = replace(record, precision_met=False)
        cases.append(record)
    return write_run(root, name, cases, started_at=started, **kw)


def cpu_run(root: Path, name: str, started: str) -> Path:
    cases = [case("decode", s, False, device="cpu", samples=noisy(0.2 * s / 256, 0.02, 8)) for s in (64, 128)]
    return write_run(root, name, cases, device="cpu", device_name="Intel Xeon", started_at=started)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    a = gpu_run(root, "a-old", "2026-01-01T00:00:00Z", imprecise=("encode", 256, False))
    meta = json.loads((a / "meta.json").read_text())
    meta["load"] = [
        {"at": "start", "time": "2026-01-01T00:00:00Z", "loadavg": [0.5], "cpu_count": 8, "other_running": 3}
    ]
    (a / "meta.json").write_text(json.dumps(meta))
    gpu_run(root, "b-mid", "2026-01-02T00:00:00Z", environment={"diffusers": "0.32.0"})
    gpu_run(
        root,
        "c-new",
        "2026-01-03T00:00:00Z",
        times={"decode": 1.5, "encode": 0.5},  # decode slower, encode faster
        oom_at=1024,
        more_memory=("encode", 512, True),  # faster but more memory: a trade-off
        environment={"diffusers": "0.33.0"},
    )
    cpu_run(root, "d-cpu", "2026-01-02T12:00:00Z")
    return root


@pytest.fixture(scope="module")
def site(runs, tmp_path_factory):
    return build_site([runs], tmp_path_factory.mktemp("site") / "out")


class Links(HTMLParser):
    """Every address a page names, and the rows of each table with an id: each cell's
    text and class."""

    def __init__(self):
        super().__init__()
        self.addresses: list[tuple[str, str]] = []
        self.rows: dict[str, int] = {}
        self.cells: dict[str, list[list[tuple[str, str]]]] = {}
        self.tables: list[str | None] = []
        self.cell: list | None = None
        self.svgs = 0

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action", "data", "poster") and value is not None:
                self.addresses.append((tag, value))
        table = self.tables[-1] if self.tables else None
        if tag == "table":
            self.tables.append(dict(attrs).get("id"))
        elif tag == "tr" and table:
            self.rows[table] = self.rows.get(table, 0) + 1
            self.cells.setdefault(table, []).append([])
        elif tag == "td" and table:
            self.cell = ["", dict(attrs).get("class") or ""]
        elif tag == "svg":
            self.svgs += 1

    def handle_data(self, data):
        if self.cell is not None:
            self.cell[0] += data

    def handle_endtag(self, tag):
        if tag == "table" and self.tables:
            self.tables.pop()
        elif tag == "td" and self.cell is not None:
            self.cells[self.tables[-1]][-1].append(tuple(self.cell))
            self.cell = None


def row(p: Links, table: str, first: str) -> list[str]:
    """The texts of the row of `table` whose first cell is `first`."""
    (found,) = [[text for text, _ in r] for r in p.cells[table] if r and r[0][0] == first]
    return found


def parsed(path: Path) -> Links:
    p = Links()
    p.feed(path.read_text())
    return p


def pages(out: Path) -> list[Path]:
    return sorted(out.rglob("*.html"))


def test_the_site_has_an_index_a_page_per_run_the_comparisons_and_a_history_per_model_and_op(site):
    out = site.out
    names = {str(p.relative_to(out)) for p in pages(out)}
    assert {"index.html", "runs/a-old.html", "runs/b-mid.html", "runs/c-new.html", "runs/d-cpu.html"} <= names
    # each GPU run against the one before it (same device, same sweep); the CPU run alone
    assert {n for n in names if n.startswith("compare/")} == {
        "compare/b-mid--a-old.html",
        "compare/c-new--b-mid.html",
    }
    assert {"history/sd-v1-encode.html", "history/sd-v1-decode.html"} <= names
    assert site.comparisons == 2 and site.bytes > 0


def wrong_addresses(out: Path) -> list[str]:
    """Every src or href of the site's pages that names a scheme, a host or http, or
    that leads to no page inside the site."""
    wrong = []
    for page in pages(out):
        for tag, address in parsed(page).addresses:
            parts = urlsplit(address)
            target = (page.parent / parts.path).resolve()
            if parts.scheme or parts.netloc or "http" in address.lower():
                wrong.append(f"{page}: <{tag}> names {address}")
            elif parts.path and not (target.is_file() and target.is_relative_to(out.resolve())):
                wrong.append(f"{page}: <{tag}> {address} leads to no page of the site")
    return wrong


def test_no_page_names_an_address_outside_the_site_and_every_link_leads_to_a_page(site, tmp_path):
    assert wrong_addresses(site.out) == []
    for page in pages(site.out):
        text = page.read_text()
        assert "Content-Security-Policy" in text and "default-src 'none'" in text
    (site.out / "runs" / "a-old.html").rename(tmp_path / "moved.html")  # the check sees a dead link
    try:
        assert any("leads to no page" in w for w in wrong_addresses(site.out))
    finally:
        (tmp_path / "moved.html").rename(site.out / "runs" / "a-old.html")


def test_each_run_page_has_one_row_per_case_and_charts(site, runs):
    for name, cases in (("a-old", len(CASES)), ("c-new", len(CASES)), ("d-cpu", 2)):
        p = parsed(site.out / "runs" / f"{name}.html")
        assert p.rows["cases"] == cases + 1  # the header's row too
        assert p.svgs >= 2
    text = (site.out / "runs" / "c-new.html").read_text()
    assert 'class="oom"' in text
    assert 'data-chart="fit-sd-v1-decode"' in text  # what fits which card, with the card sizes' lines
    fit = text[text.index('data-chart="fit-sd-v1-decode"') :]
    assert "GiB: RTX" in fit[: fit.index("</figure>")]


def test_the_docs_tables_are_exactly_what_vae_bench_tables_prints(site):
    from html import unescape

    from bench.docs.tables import tables_markdown

    for run in site.runs:
        text = (site.out / site.run_pages[run.run_id]).read_text()
        shown = unescape(text[text.index("<pre>") + 5 : text.index("</pre>")])
        assert shown == tables_markdown([run])


def test_the_compare_page_colours_each_verdict_and_draws_the_changed_cases(site):
    text = (site.out / "compare" / "c-new--b-mid.html").read_text()
    p = parsed(site.out / "compare" / "c-new--b-mid.html")
    assert p.rows["cases"] == len(CASES) + 1
    verdicts = {r[0][0]: r[1] for r in p.cells["cases"] if r}
    assert verdicts["sd-v1 decode 512x512 float16 untiled"] == ("regression", "regression")  # 1.5x slower
    assert verdicts["sd-v1 decode 1024x1024 float16 untiled"] == ("regression", "regression")  # ok -> oom
    assert verdicts["sd-v1 encode 512x512 float16 untiled"] == ("improvement", "improvement")
    assert verdicts["sd-v1 encode 512x512 float16 tiled"] == ("trade-off", "trade-off")  # faster, more memory
    slower = row(p, "cases", "sd-v1 decode 512x512 float16 untiled")
    assert slower[5] == "1.500" and float(slower[6]) < 1e-5 and float(slower[7]) < 1e-4  # ratio, p, q
    assert 'data-chart="distributions"' in text
    assert "diffusers" in text and "0.32.0" in text and "0.33.0" in text  # what differs


def test_the_history_page_draws_time_with_its_band_and_memory_with_card_sizes(site):
    text = (site.out / "history" / "sd-v1-decode.html").read_text()
    assert text.count("<svg") >= 4  # time and memory, for the GPU and for the CPU
    assert "GiB:" in text  # a card size's line, named on the GPU's memory chart
    assert "fill-opacity: 0.18" in text  # the bands of the intervals
    assert "peak memory, reserved by the allocator (MiB" in text
    assert "0.33.0" in text and "0.32.0" in text  # the versions of each run, in its table


def test_what_a_run_folder_says_is_escaped(tmp_path):
    root = tmp_path / "runs"
    failed = replace(case("decode", 256, status="error"), error="<b>boom</b> in <script>alert(2)</script>")
    run = write_run(
        root, "evil", [failed, case("decode", 512)], environment={"torch": "<script>alert(1)</script>"}
    )
    meta = json.loads((run / "meta.json").read_text())
    meta["warnings"] = ['<img src="https://example.com/x.png">']
    meta["name"] = "<i>sweep</i>"
    meta["device"]["<b>key</b>"] = "<svg onload=alert(3)>"
    (run / "meta.json").write_text(json.dumps(meta))
    site = build_site([root], tmp_path / "site")
    for page in pages(site.out):
        text = page.read_text()
        assert "<script>alert" not in text and "<img" not in text and "<b>" not in text and "<i>" not in text
        assert "<svg onload" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in (site.out / "index.html").read_text()
    page = (site.out / "runs" / "evil.html").read_text()
    assert "&lt;b&gt;boom&lt;/b&gt;" in page and "&lt;i&gt;sweep&lt;/i&gt;" in page


def test_odd_runs_make_pages_of_their_own_drawn_side_by_side(tmp_path):
    root = tmp_path / "runs"
    long_id = "x" * 230
    write_run(root, long_id, [case("decode", 256), case("decode", 512)])
    write_run(
        root, "dollar", [case("decode", 256)], device_name="GPU $}$ 24GB", started_at="2026-01-02T00:00:00Z"
    )
    write_run(root, "under", [case("decode", 256, model="sd_v1")], started_at="2026-01-03T00:00:00Z")
    failed = [case("encode", 256, status="oom"), case("encode", 512, status="error")]
    write_run(root, "all-failed", failed, started_at="2026-01-04T00:00:00Z")
    site = build_site([root], tmp_path / "site", workers=2)
    names = sorted(p.name for p in (site.out / "history").iterdir())
    assert names == [
        "sd-v1-decode-2.html",
        "sd-v1-decode.html",
        "sd-v1-encode.html",
    ]  # sd_v1 apart from sd-v1
    assert "sd_v1 decode" in (site.out / "history" / "sd-v1-decode-2.html").read_text()
    assert len(Path(site.run_pages[long_id]).name) < 110 and (site.out / site.run_pages[long_id]).is_file()
    assert "GPU $}$ 24GB" in (site.out / site.run_pages["dollar"]).read_text()
    assert parsed(site.out / site.run_pages["all-failed"]).rows["cases"] == 3


@pytest.mark.slow  # builds a site of its own
def test_a_baseline_is_compared_with_every_run_that_shares_a_case(runs, tmp_path):
    site = build_site([runs], tmp_path / "site", baseline="a-ol")
    compare = sorted(p.name for p in (site.out / "compare").iterdir())
    assert compare == ["b-mid--a-old.html", "c-new--a-old.html"]


@pytest.mark.slow  # builds a site of its own
def test_the_command_line_writes_the_site_and_says_where(runs, tmp_path, capsys):
    out = tmp_path / "site"
    assert main(["report", str(runs), "--out", str(out), "--quiet"]) == 0
    said = capsys.readouterr().out
    assert str(out / "index.html") in said and "4 runs, 2 comparisons" in said
    assert main(["report", str(runs), "--out", str(out), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)["data"]
    assert len(data["runs"]) == 4 and data["bytes"] > 0


@pytest.mark.slow  # builds a site of its own
def test_a_rebuild_removes_the_pages_it_no_longer_has_and_nothing_else(runs, tmp_path):
    out = tmp_path / "site"
    build_site([runs], out)
    (out / "notes.txt").write_text("mine")
    (out / "runs" / "kept.txt").write_text("mine")
    one = tmp_path / "one"
    one.mkdir()
    os.symlink(runs / "a-old", one / "link")  # a link to a run is not followed
    cpu_run(one, "solo", "2026-02-01T00:00:00Z")
    site = build_site([one], out)
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["kept.txt", "solo.html"]
    assert not list((out / "compare").iterdir())
    assert (out / "notes.txt").read_text() == "mine" and site.removed > 0


@pytest.mark.parametrize("bad", ["not-a-site", "link", "file"])
def test_an_output_folder_it_did_not_write_is_refused_and_left_as_it_was(runs, tmp_path, bad, capsys):
    out = tmp_path / "out"
    if bad == "not-a-site":
        out.mkdir()
        (out / "index.html").write_text("someone's page")
    elif bad == "link":
        (tmp_path / "elsewhere").mkdir()
        os.symlink(tmp_path / "elsewhere", out)
    else:
        out.write_text("a file")
    assert main(["report", str(runs), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(out) in err[0] and "Traceback" not in err[0]
    if bad == "not-a-site":
        assert (out / "index.html").read_text() == "someone's page" and not (out / MARKER).exists()
    if bad == "link":
        assert not list((tmp_path / "elsewhere").iterdir())


def test_a_folder_without_runs_is_bad_input(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "site")]) == 2
    assert "no vae-bench run" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing"), "--out", str(tmp_path / "site")]) == 2


class Odd(Exception):
    def __init__(self, a, b):  # pickles, but cannot be made again from what it pickled
        super().__init__(a)


def unreadable() -> str:
    from bench.errors import BadInput

    raise BadInput("/runs/x", "meta.json", "unreadable")


def odd() -> str:
    raise Odd(1, 2)


def warns() -> str:
    import warnings

    warnings.warn("a run was interrupted", stacklevel=1)
    return "page"


def test_pages_drawn_side_by_side_come_back_in_order_and_so_do_their_errors_and_warnings():
    from functools import partial

    from bench.errors import BadInput
    from bench.site.render import MIN_JOBS, rendered

    jobs = [partial(str, i) for i in range(MIN_JOBS + 2)]
    assert list(rendered(jobs, 3)) == list(rendered(jobs, 1)) == [str(i) for i in range(MIN_JOBS + 2)]
    with pytest.raises(BadInput, match="unreadable"):
        list(rendered([*jobs, unreadable], 2))
    with pytest.raises(RuntimeError, match="Odd: 1"):  # not a pool that hangs
        list(rendered([*jobs, odd], 2))
    with pytest.warns(UserWarning, match="a run was interrupted"):  # said here, by the parent
        assert list(rendered([*jobs, warns], 2))[-1] == "page"


def test_a_build_stopped_halfway_leaves_a_folder_the_next_build_writes_into(runs, tmp_path, monkeypatch):
    import bench.site.build as build

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    out = tmp_path / "site"
    with monkeypatch.context() as m:
        m.setattr(build, "run_page", stop)
        with pytest.raises(KeyboardInterrupt):
            build_site([runs], out)
    assert (out / MARKER).is_file() and not (out / "index.html").exists()
    build_site([runs], out)
    assert (out / "index.html").is_file()


def test_the_index_says_what_each_run_is_and_what_to_doubt(site):
    p = parsed(site.out / "index.html")
    from bench.site.index_page import RUN_COLUMNS

    new = dict(zip(RUN_COLUMNS, row(p, "runs", "c-new"), strict=True))
    assert new["device"] == "NVIDIA GeForce RTX 4090" and new["diffusers"] == "0.33.0"
    assert (new["ok"], new["error"], new["OOM"]) == ("11", "0", "1")
    assert new["started (UTC)"] == "2026-01-03 00:00:00" and new["status"] == "complete"
    old = row(p, "runs", "a-old")[-1]
    assert "busy host: 3 other process(es)" in old and "1 case(s) did not meet their precision" in old


def test_the_index_lists_the_runs_newest_first(site):
    text = (site.out / "index.html").read_text()
    rows = text[text.index('id="runs"') :]
    at = [rows.index(f"runs/{name}.html") for name in ("c-new", "d-cpu", "b-mid", "a-old")]
    assert at == sorted(at)


def _gone(group: int, within: float = 10.0) -> bool:
    """Whether every process of the group has ended (zombies reaped by init count as ended)."""
    import time

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow  # the command in processes of its own, four times
def test_the_command_exits_when_done_and_on_ctrl_c_leaves_no_worker_behind(runs, tmp_path):
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT

    argv = [sys.executable, "-m", "bench", "report", str(runs), "--jobs", "2"]
    for _ in range(3):  # an exit that raced its workers' queue hung one time in two
        done = subprocess.run(
            [*argv, "--out", str(tmp_path / "site")], cwd=ROOT, capture_output=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
    proc = subprocess.Popen(
        [*argv, "--out", str(tmp_path / "stopped")], cwd=ROOT, stderr=subprocess.PIPE, start_new_session=True
    )
    first = proc.stderr.readline()  # a page is written: the workers draw the others
    assert first.startswith(b"  "), first
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and b"Traceback" not in err and b"interrupted" in err
    assert _gone(proc.pid)
    assert (tmp_path / "stopped" / MARKER).is_file()
