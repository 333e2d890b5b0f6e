"""The report of the committed reference runs (results/reference and the shipped
bench/reference), loaded page by page in headless Chromium: no console error, every
run id on the index, one row per case on each run page, every chart drawn, sorting by
a column works; and screenshots of the index and of a run page, for review, in
build/report-screenshots/. `make test` installs Debian's chromium where it can; where
it cannot, the browser tests are skipped and say why."""

from __future__ import annotations

import shutil

import pytest

from bench.record.store import find_runs
from bench.shipped import REFERENCE_DIR
from bench.site.build import build_site
from bench.site.render import default_workers
from tests.browser import Browser, find_chromium
from tests.conftest import ROOT
from tests.test_report import pages, wrong_addresses

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:.*interrupted, 87 of 144"),
]  # the variants run

INPUTS = [ROOT / "results" / "reference", REFERENCE_DIR]
SCREENSHOTS = ROOT / "build" / "report-screenshots"
RUN_PAGE = "20261126-054619-nvidia-h200-docs"  # the shipped H200 docs run

CHART_DRAWN = """
Array.from(document.querySelectorAll("figure.chart svg")).map(function (svg) {
  var box = svg.getBoundingClientRect();
  return [box.width, box.height, svg.querySelectorAll("path, use, text").length];
})
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return build_site(INPUTS, tmp_path_factory.mktemp("site") / "out", workers=default_workers())


@pytest.fixture(scope="module")
def browser():
    executable, why = find_chromium()
    if executable is None:
        pytest.skip(why)
    with Browser(executable, width=1400, height=900) as b:
        yield b


def test_the_reference_site_is_self_contained(site):
    runs = [r for folder in INPUTS for r in find_runs(folder)]
    assert {r.run_id for r in site.runs} == {r.run_id for r in runs}
    assert wrong_addresses(site.out) == []


def test_the_check_sees_a_console_error_an_exception_and_a_load_from_outside(tmp_path, browser):
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><body><img src='https://example.invalid/x.png'>"
        "<script>console.error('said'); missing();</script></body></html>"
    )
    errors = " | ".join(browser.load(page.as_uri()))
    assert "console: said" in errors and "missing is not defined" in errors
    assert "example.invalid" in errors


def test_a_script_that_slipped_into_a_page_would_not_run(tmp_path, browser):
    from bench.site.html import page

    injected = page(
        "t", "<p id='x'>before</p><script>document.getElementById('x').textContent = 'ran'</script>"
    )
    (tmp_path / "p.html").write_text(injected)
    errors = browser.load((tmp_path / "p.html").as_uri())
    assert browser.evaluate("document.getElementById('x').textContent") == "before"
    assert any("Content Security Policy" in e for e in errors), errors


def test_every_page_loads_without_an_error_and_draws_its_charts(site, browser):
    for page in pages(site.out):
        errors = browser.load(page.resolve().as_uri())
        assert errors == [], f"{page}: {errors}"
        drawn = browser.evaluate(CHART_DRAWN)
        assert drawn, f"{page}: no chart"
        for width, height, marks in drawn:
            assert width > 100 and height > 100 and marks > 20, f"{page}: a chart without content {drawn}"


def test_the_index_names_every_run_and_each_run_page_has_a_row_per_case(site, browser):
    browser.load((site.out / "index.html").resolve().as_uri())
    text = browser.evaluate("document.body.innerText")
    rows = browser.evaluate('document.querySelectorAll("#runs tbody tr").length')
    assert rows == len(site.runs)
    for run in site.runs:
        assert run.run_id in text
        browser.load((site.out / site.run_pages[run.run_id]).resolve().as_uri())
        assert browser.evaluate('document.querySelectorAll("#cases tbody tr").length') == len(run.records)
        assert run.run_id in browser.evaluate("document.body.innerText")


def test_a_click_on_a_column_sorts_the_cases_by_it(site, browser):
    browser.load((site.out / site.run_pages[RUN_PAGE]).resolve().as_uri())
    column = """
    (function () {
      var table = document.getElementById("cases");
      var th = Array.from(table.tHead.rows[0].cells).find(function (h) { return h.textContent === "%s"; });
      th.click();
      return Array.from(table.tBodies[0].rows).map(function (r) {
        return r.cells[th.cellIndex].getAttribute("data-v");
      });
    })()
    """
    up = [float(v) for v in browser.evaluate(column % "median time (s)")]
    assert up == sorted(up) and up[0] < up[-1]
    down = [float(v) for v in browser.evaluate(column % "median time (s)")]  # a second click
    assert down == sorted(up, reverse=True)


def test_screenshots_of_the_index_and_a_run_page(site, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shots = []
    for page, name in (
        (site.out / "index.html", "index.png"),
        (site.out / site.run_pages[RUN_PAGE], "run.png"),
    ):
        browser.load(page.resolve().as_uri())
        shots.append(browser.screenshot(SCREENSHOTS / name))
    for shot in shots:
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 50_000, shot
    shutil.rmtree(SCREENSHOTS / "site", ignore_errors=True)
    shutil.copytree(site.out, SCREENSHOTS / "site")  # the pages they show
