"""The site of some runs, written into one folder: the runs read once (a run folder, or
every run below a folder), the comparisons chosen (each run against --baseline, else
against the previous run of its device and sweep), every page rendered, then written
whole, each inside the output folder and never through a link. A folder that holds
files and is not a site vae-bench wrote is refused; the pages of an earlier build that
this one did not write again are removed, and nothing else."""

from __future__ import annotations

import hashlib
import os
import stat
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import matplotlib

from bench.analysis.compare import compare
from bench.cards import card_sizes, load_cards
from bench.errors import BadInput
from bench.files import slug, write_atomic
from bench.record.store import META, Run, find_runs, oldest_first, open_run
from bench.site.compare_page import compare_page
from bench.site.history_page import history_page
from bench.site.html import esc
from bench.site.index_page import Links, index_page
from bench.site.render import Job, rendered
from bench.site.run_page import run_page

MARKER = ".vae-bench-site"  # the file that says a folder is a site this command wrote
FOLDERS = ("runs", "compare", "history")


@dataclass
class Site:
    out: Path
    runs: list[Run]
    pages: list[Path] = field(default_factory=list)
    run_pages: dict[str, str] = field(default_factory=dict)  # run id -> its page, from the site's root
    comparisons: int = 0
    removed: int = 0
    seconds: float = 0.0

    @property
    def bytes(self) -> int:
        return sum(p.stat().st_size for p in self.pages)


def read_runs(inputs: Sequence[str | Path]) -> list[Run]:
    """Every run the inputs name, each once (the first place it was found), oldest first."""
    found: dict[str, Run] = {}
    for given in inputs:
        path = Path(given)
        if path.is_symlink() or not path.is_dir():
            raise BadInput(path, None, "is not a folder (a run folder or a folder of runs)")
        here = [open_run(path, strict=True, need_cases=True)] if (path / META).exists() else find_runs(path)
        for run in here:
            if run.run_id in found:
                warnings.warn(
                    f"left out: {run.path} holds run {run.run_id}, read from {found[run.run_id].path}",
                    stacklevel=2,
                )
            else:
                found[run.run_id] = run
    return oldest_first(list(found.values()))


def _shares_a_case(a: Run, b: Run) -> bool:
    return bool(a.case_ids & b.case_ids)


def pairs(runs: list[Run], baseline: Run | None) -> list[tuple[Run, Run]]:
    """(base, new): each run against the baseline where they share a case; without one,
    each run against the previous run of its device and sweep."""
    if baseline is not None:
        return [(baseline, r) for r in runs if r.run_id != baseline.run_id and _shares_a_case(baseline, r)]
    out, last = [], {}
    for run in runs:  # oldest first
        key = (run.device_label, run.meta.name)
        before = last.get(key)
        if before is not None and _shares_a_case(before, run):
            out.append((before, run))
        last[key] = run
    return out


def find_baseline(runs: list[Run], given: str) -> Run:
    """The run --baseline names: the id (or the start of one) of a run read, else a run folder."""
    matches = [r for r in runs if r.run_id == given] or [r for r in runs if r.run_id.startswith(given)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise BadInput(
            None, "--baseline", f"{given!r} starts the ids of {len(matches)} runs; give more of it"
        )
    path = Path(given)
    if path.is_dir() and not path.is_symlink():
        return open_run(path, strict=True, need_cases=True)
    raise BadInput(None, "--baseline", f"{given!r} is neither a run folder nor the id of a run read")


MAX_PAGE_NAME = 96  # a compare page joins two: with ".html" and a temporary file's affixes, far below 255


def page_names(texts: Sequence[str], fallback: str) -> dict[str, str]:
    """Each text (a run id, "model op") as a file name of its own: slugged, a long one cut
    and told apart by a hash of the whole, and two that slug alike ("sd_v1", "sd-v1")
    told apart by a number."""
    names: dict[str, str] = {}
    for text in dict.fromkeys(texts):
        name = slug(text, fallback=fallback)
        if len(name) > MAX_PAGE_NAME:
            name = (
                f"{name[: MAX_PAGE_NAME - 13].rstrip('-')}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
            )
        base, n = name, 2
        while name in names.values():
            name, n = f"{base}-{n}", n + 1
        names[text] = name
    return names


def _drawn(make: Callable[..., str], *args) -> str:
    # A `$` in a device name or a label from a run folder would be read as mathtext,
    # and one run whose text does not parse would stop the whole site; text is text.
    with matplotlib.rc_context({"text.parse_math": False}):
        return make(*args)


def _run_href(names: dict[str, str], up: str, run_id: str) -> str:
    return f"{up}runs/{names[run_id]}.html"


def prepare(out: Path) -> None:
    """The output folder made, or checked to be one vae-bench wrote (or empty)."""
    if out.is_symlink():
        raise BadInput(out, None, "is a symbolic link; vae-bench writes no site through a link")
    if out.exists() and not out.is_dir():
        raise BadInput(out, None, "is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise BadInput(
            out,
            None,
            f"holds files and no {MARKER}: not a site vae-bench wrote; choose an empty or new folder",
        )
    out.mkdir(parents=True, exist_ok=True)
    for name in FOLDERS:
        folder = out / name
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise BadInput(folder, None, "is not a plain folder; vae-bench writes no site through a link")
        folder.mkdir(exist_ok=True)


def build_site(
    inputs: Sequence[str | Path],
    out: str | Path,
    baseline: str | None = None,
    progress: Callable[[str], None] | None = None,
    workers: int = 1,
) -> Site:
    """`progress` hears of each page as it is written; `workers`: processes that render
    pages side by side (bench.site.render). They are spawned, and a spawned process
    imports the caller's main module: a script that asks for more than one calls this
    under `if __name__ == "__main__":`."""
    started = time.perf_counter()
    out = Path(out)
    runs = read_runs(inputs)
    base = find_baseline(runs, baseline) if baseline else None
    if base is not None and base.run_id not in {r.run_id for r in runs}:
        runs = oldest_first([*runs, base])
    prepare(out)
    site = Site(out, runs)
    generated = f"built {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from {len(runs)} run(s)"
    names = page_names([r.run_id for r in runs], "run")
    site.run_pages = {i: f"runs/{name}.html" for i, name in names.items()}
    sizes = card_sizes(load_cards())

    run_href = partial(_run_href, names, "../")  # from a page one folder down

    def write(relative: str, text: str) -> None:
        site.pages.append(write_atomic(out / relative, text, root=out))

    # first: a build stopped halfway leaves a folder the next build may write into
    write(MARKER, "a site vae-bench report wrote; the next report into this folder rewrites its pages\n")

    comparisons = [
        (compare(b, n), f"compare/{names[n.run_id]}--{names[b.run_id]}.html") for b, n in pairs(runs, base)
    ]
    site.comparisons = len(comparisons)
    ops = list(dict.fromkeys((r.case.model, r.case.op) for run in runs for r in run.records))
    op_names = page_names([f"{model} {op}" for model, op in ops], "history")
    history_links = [(model, op, f"history/{op_names[f'{model} {op}']}.html") for model, op in ops]
    jobs: list[tuple[str, str, Job]] = [
        (
            href,
            f"compare {c.new.run_id} against {c.base.run_id}",
            partial(_drawn, compare_page, c, run_href, generated),
        )
        for c, href in comparisons
    ]
    for model, op, href in history_links:
        holding = [r for r in runs if any((c.case.model, c.case.op) == (model, op) for c in r.records)]
        page = partial(_drawn, history_page, holding, model, op, sizes, run_href, generated)
        jobs.append((href, f"history {model} {op}", page))
    for run in runs:
        mine = [(c, href) for c, href in comparisons if run.run_id in (c.base.run_id, c.new.run_id)]
        links = "".join(
            f'<li><a href="../{esc(h)}">{esc(c.new.run_id)} against {esc(c.base.run_id)}</a></li>'
            for c, h in mine
        )
        page = partial(_drawn, run_page, run, sizes, f"<ul>{links}</ul>" if links else "", generated)
        jobs.append((site.run_pages[run.run_id], f"run {run.run_id}", page))
    where = Links(partial(_run_href, names, ""), comparisons, history_links)
    jobs.append(("index.html", "index", partial(_drawn, index_page, runs, where, generated)))
    for (relative, what, _), text in zip(jobs, rendered([job for *_, job in jobs], workers), strict=True):
        write(relative, text)
        if progress:
            progress(what)
    site.removed = _remove_stale(out, set(site.pages))
    site.seconds = time.perf_counter() - started
    return site


def _remove_stale(out: Path, written: set[Path]) -> int:
    """The pages of an earlier build this one did not write: regular .html files of the
    site's own folders; links and anything else are left alone."""
    removed = 0
    for name in FOLDERS:
        with os.scandir(out / name) as entries:
            for entry in entries:
                path = out / name / entry.name
                if entry.name.endswith(".html") and path not in written:
                    if stat.S_ISREG(entry.stat(follow_symlinks=False).st_mode):
                        path.unlink()
                        removed += 1
    return removed
