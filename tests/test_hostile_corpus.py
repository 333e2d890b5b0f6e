"""A corpus of hostile run folders, configs and pages, made here, walked through every
command that reads them: each must end with exit status 0, 1 or 2 (as documented), print
no traceback, say each error in one line, never hang, and change no file outside the
command's own outputs (the whole tree is hashed before and after, links and FIFOs
included, never followed).

The corpus is data, listed below: each entry names what it does to a copy of a real
run (the H200 docs run, and a CPU run of a tiny VAE that a resume can plan), a sweep, a
registry, a spec or a page."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from bench.cli import main
from tests.cli_helpers import no_hang
from tests.conftest import FIXTURES, REFERENCE_H200_DOCS, ROOT, TINY_REGISTRY
from tests.runs import tiny_cpu_run, tiny_sweep

pytestmark = pytest.mark.slow

SPEC = ROOT / "bench" / "configs" / "docs" / "hybrid-inference.yaml"
PAGE = FIXTURES / "docs" / "overview.en.md"
EXIT_STATUSES = {0, 1, 2}


# -- what the corpus is made of ------------------------------------------------------------


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def _set_meta(**fields) -> Callable[[Path], None]:
    def mutate(run: Path) -> None:
        meta = _json(run / "meta.json")
        for dotted, value in fields.items():
            *parents, last = dotted.split("__")
            at = meta
            for p in parents:
                at = at.setdefault(p, {}) if isinstance(at, dict) else at
            at[last] = value
        (run / "meta.json").write_text(json.dumps(meta))

    return mutate


def _set_record(field: str, value, which: int = 0) -> Callable[[Path], None]:
    """One record's field (dotted: `mem.peak_reserved`) set to `value`, written as JSON
    would never be (NaN, Infinity) where the value asks for it."""

    def mutate(run: Path) -> None:
        lines = (run / "cases.jsonl").read_text().splitlines()
        rec = json.loads(lines[which])
        *parents, last = field.split(".")
        at = rec
        for p in parents:
            if not isinstance(at.get(p), dict):
                at[p] = {}
            at = at[p]
        at[last] = value
        lines[which] = json.dumps(rec, allow_nan=True)
        (run / "cases.jsonl").write_text("\n".join(lines) + "\n")

    return mutate


def _replace(name: str, how: str) -> Callable[[Path], None]:
    """A run file made into what it must never be read as or written through."""

    def mutate(run: Path) -> None:
        path = run / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        if how == "fifo":
            os.mkfifo(path)
        elif how == "dev-zero":
            path.symlink_to("/dev/zero")
        elif how == "victim-link":
            path.symlink_to(run.parent / "victim")
        elif how == "folder":
            path.mkdir()
        elif how == "empty":
            path.write_bytes(b"")
        elif how == "binary":
            path.write_bytes(bytes(range(256)) * 4)
        elif how == "latin1":
            path.write_bytes('{"name": "caf\xe9"}\n'.encode("latin-1"))
        elif how == "nested":
            path.write_text("[" * 100_000 + "]" * 100_000)
        elif how == "array":
            path.write_text("[1, 2, 3]\n")
        elif how == "truncated":
            path.write_text('{"case_id": "0123456789abcdef", "model": "sd')
        elif how == "nan":
            path.write_text('{"format": NaN}\n')
        elif how == "huge-number":
            path.write_text('{"format": ' + "9" * 5000 + "}\n")
        else:
            raise AssertionError(how)

    return mutate


def _lines(text: str) -> Callable[[Path], None]:
    def mutate(run: Path) -> None:
        with open(run / "cases.jsonl", "a") as f:
            f.write(text)

    return mutate


RECORD_VALUES = [None, [], "../../x", -1, 1e400, float("nan")]
RECORD_FIELDS = [
    "case_id",
    "model",
    "op",
    "width",
    "height",
    "frames",
    "batch",
    "dtype",
    "tiled",
    "tiling",
    "variant",
    "status",
    "weights",
    "device",
    "repeats",
    "time_s",
    "time_s.median",
    "time_s.samples",
    "time_s.ci_low",
    "mem",
    "mem.peak_reserved",
    "mem.peak_allocated",
    "mem.total",
    "mem.percent",
    "mem.metric",
    "clocks.throttle",
    "clocks.sm_mhz_min",
    "quality",
    "format",
    "error",
]


def _record_mutations() -> dict[str, Callable]:
    out = {}
    for field in RECORD_FIELDS:
        for i, value in enumerate(RECORD_VALUES):
            out[f"record {field}={value!r}"[:80] + f"#{i}"] = _set_record(field, value)
    out["record tiling key ../x"] = _set_record("tiling", {"../x": 1})
    out["record variant key <b>"] = _set_record("variant", {"<b>": "x"})
    out["record samples strings"] = _set_record("time_s.samples", ["0.1", "x"])
    out["record quality psnr text"] = _set_record("quality", {"reference": "r", "psnr_db": "40"})
    return out


META_MUTATIONS: dict[str, Callable] = {
    "meta format 99": _set_meta(format=99),
    "meta format text": _set_meta(format="2"),
    "meta status odd": _set_meta(status="<b>done</b>"),
    "meta run_id path": _set_meta(run_id="../../etc"),
    "meta device a list": _set_meta(device=["cuda:0"]),
    "meta device name html": _set_meta(device__name="<img src=x onerror=alert(1)>"),
    "meta device name pipe": _set_meta(device__name="GPU | x"),
    "meta device name newline": _set_meta(device__name="GPU\nx"),
    "meta device name huge": _set_meta(device__name="x" * 100_000),
    "meta device label link": _set_meta(device__label="[x](javascript:alert(1))"),
    "meta device kind path": _set_meta(device__device="../cuda"),
    "meta device total text": _set_meta(device__total_memory="80GB"),
    "meta host string": _set_meta(host="x"),
    "meta host list": _set_meta(host=["a"]),
    "meta host number": _set_meta(host=7),
    "meta host runs escape": _set_meta(host={"runs": ["../victim-run"], "devices": ["cuda:0"]}),
    "meta host runs absolute": _set_meta(host={"runs": ["/tmp"], "devices": ["cuda:0"]}),
    "meta host runs number": _set_meta(host={"runs": [7]}),
    "meta host assigned odd": _set_meta(host={"runs": [], "assigned": [[1, 2, 3]]}),
    "meta host at_start text": _set_meta(host={"runs": [], "at_start": "x"}),
    "meta fleet string": _set_meta(fleet="x"),
    "meta fleet nested": _set_meta(fleet={"kind": {"a": 1}}),
    "meta models list": _set_meta(models=["sd-v1"]),
    "meta models entry text": _set_meta(models={"sd-v1": "x"}),
    "meta models class number": _set_meta(models={"sd-v1": {"class": 7}}),
    "meta environment list": _set_meta(environment=[1, 2]),
    "meta warnings text": _set_meta(warnings="x"),
    "meta warnings numbers": _set_meta(warnings=[1, 2]),
    "meta time_spent text": _set_meta(time_spent=[{"wall_s": "long"}]),
    "meta time_spent inf": _set_meta(time_spent=[{"wall_s": 1e400}]),
    "meta workers text": _set_meta(workers=["x"]),
    "meta cases_planned negative": _set_meta(cases_planned=-1),
    "meta config list": _set_meta(config=[1]),
    "meta config registry dev-zero": _set_meta(config__registry="/dev/zero"),
    "meta config registry folder": _set_meta(config__registry="/"),
    "meta imported text": _set_meta(imported="x"),
    "meta status running": _set_meta(status="running"),
}

FILE_MUTATIONS: dict[str, Callable] = {
    f"{name} {how}": _replace(name, how)
    for name in ("meta.json", "cases.jsonl")
    for how in (
        "fifo",
        "dev-zero",
        "victim-link",
        "folder",
        "empty",
        "binary",
        "latin1",
        "nested",
        "array",
        "truncated",
        "nan",
        "huge-number",
    )
}
FILE_MUTATIONS.update(
    {
        f"{name} {how}": _replace(name, how)
        for name in (".lock", "tables.md", "cases.jsonl.torn", "plots")
        for how in ("fifo", "dev-zero", "victim-link", "folder")
    }
)
FILE_MUTATIONS.update(
    {
        "cases two torn lines": _lines('{"case_id": "x"\n{not json\n'),
        "cases a NUL line": _lines("\x00\x00\x00\n"),
        "cases a line of 1 MB": _lines("x" * 2**20 + "\n"),
        "cases a bare number": _lines("7\n"),
        "cases a record repeated": lambda run: _lines(
            (run / "cases.jsonl").read_text().splitlines()[0] + "\n"
        )(run),
    }
)

RUN_MUTATIONS = {**FILE_MUTATIONS, **META_MUTATIONS, **_record_mutations()}


# -- the commands ------------------------------------------------------------------------


def commands(run: Path, base: Path, work: Path) -> list[tuple[list[str], list[Path]]]:
    """(arguments, the paths the command may write) for every reading command."""
    page = work / "page.md"
    out = work / "plots"
    return [
        (["show", run], []),
        (["tables", run], []),
        (["history", run.parent], []),
        (["compare", base, run], []),
        (["compare", run, base, "--format", "json"], []),
        (["fit", run, "--vram", "8GiB"], []),
        (["advise", run, "--vram", "8GiB"], []),
        (["project", run, "--cards", "RTX 4090,RTX 3080 10GB"], []),
        (["plot", run, "--out", out], [out]),
        (["docs", "verify", run, "--page", PAGE, "--spec", SPEC], []),
        (["docs", "update", page, "--spec", SPEC, run], [page]),
        (["run", "--resume", run, "--dry-run"], []),
    ]


# -- what every command must do ------------------------------------------------------------


def snapshot(root: Path, skip: list[Path]) -> dict[str, str]:
    """Every entry below `root` (never followed): its kind and, for a file, its bytes'
    hash; for a link, where it points."""
    skipped = {str(p) for p in skip}
    seen = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if path in skipped or any(path.startswith(s + os.sep) for s in skipped):
                continue
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                seen[path] = "link:" + os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    seen[path] = hashlib.sha256(f.read()).hexdigest()
            else:
                seen[path] = f"mode:{stat.S_IFMT(st.st_mode)}"
    return seen


def check(capsys, args, root: Path, may_write: list[Path], what: str) -> int:
    before = snapshot(root, may_write)
    said = f"{what}: vae-bench {' '.join(map(str, args))}"
    try:
        with no_hang():
            code = main([str(a) for a in args])
    except BaseException as exc:
        raise AssertionError(f"{said}: raised {type(exc).__name__}: {exc}") from exc
    out, err = capsys.readouterr()
    assert code in EXIT_STATUSES, f"{said}: exit {code}\n{err}"
    assert "Traceback" not in err and "Traceback" not in out, f"{said}\n{err}"
    for line in err.splitlines():
        if line.startswith("vae-bench: error:"):
            assert code == 2, f"{said}: an error line with exit {code}"
    errors = [line for line in err.splitlines() if line.startswith("vae-bench: error:")]
    assert len(errors) <= 1, f"{said}\n{err}"
    assert snapshot(root, may_write) == before, f"{said}: a file outside its outputs changed"
    return code


@pytest.fixture(scope="module")
def cpu_base(tmp_path_factory) -> Path:
    """A tiny CPU run, as a sweep makes it: a resume can plan it."""
    return tiny_cpu_run(tmp_path_factory.mktemp("cpu-base"), ops=["decode"])


@pytest.fixture(scope="module")
def gpu_base(tmp_path_factory) -> Path:
    """The H200 docs run, cut to SD v1 decode at 512 and 1024 (four cases), so that a
    reader that gets through the corpus's good parts (plot draws every figure) stays
    quick."""
    root = tmp_path_factory.mktemp("gpu-base")
    run = shutil.copytree(REFERENCE_H200_DOCS, root / REFERENCE_H200_DOCS.name)
    kept = [
        line
        for line in (run / "cases.jsonl").read_text().splitlines()
        if (json.loads(line)["model"], json.loads(line)["op"], json.loads(line)["width"])
        in (("sd-v1", "decode", 512), ("sd-v1", "decode", 1024))
    ]
    (run / "cases.jsonl").write_text("\n".join(kept) + "\n")
    return run


def _walk(capsys, tmp_path, base: Path, mutations: dict[str, Callable]) -> dict[int, int]:
    """Each mutation on a copy of `base`, through every command; the count of each exit
    status."""
    counts: dict[int, int] = {}
    for i, (what, mutate) in enumerate(mutations.items()):
        work = tmp_path / f"case-{i}"
        runs = work / "runs"
        runs.mkdir(parents=True)
        (work / "victim").write_text("a file no command may touch\n")
        (runs / "victim").write_text("a file no command may touch\n")
        shutil.copyfile(PAGE, work / "page.md")
        clean = shutil.copytree(base, work / "clean" / base.name)
        _set_meta(run_id="the-base-of-compare")(clean)
        run = shutil.copytree(base, runs / base.name)
        mutate(run)
        for args, may_write in commands(run, clean, work):
            code = check(capsys, args, work, may_write, what)
            counts[code] = counts.get(code, 0) + 1
        shutil.rmtree(work, ignore_errors=True)
    return counts


def walk_run_corpus(capsys, tmp_path, base: Path) -> None:
    """Every hostile run folder made from `base`, through every reader."""
    total = _walk(capsys, tmp_path / base.name, base, RUN_MUTATIONS)
    # the corpus is hostile, not merely broken: most of it is refused, some of it read
    assert total.get(2, 0) > total.get(0, 0) > 0, total
    print(f"\n{len(RUN_MUTATIONS)} hostile run folders from {base.name}, exit statuses {total}")


def test_every_hostile_run_folder_through_every_reader(capsys, tmp_path, gpu_base):
    """From a GPU run (the H200 docs run); tests/test_hostile_corpus_cpu.py walks the
    same corpus from a CPU run (a resume can plan it), in a file of its own so that the
    suite's two longest halves run on two workers."""
    walk_run_corpus(capsys, tmp_path, gpu_base)


# -- sweeps, registries, specs and pages -------------------------------------------------------

SWEEP = tiny_sweep()
BIG = 10**400

SWEEP_FIELDS: dict[str, object] = {
    "name": ["../x", "a" * 1000, 7, "<b>"],
    "models": [[], ["../../etc/passwd"], [{"name": {"a": 1}}], "x" * 100_000, [None]],
    "ops": ["delete", [], 7],
    "resolutions": [[BIG], ["99999999x8"], [-8], ["8x8x8"], [1e400], [[32]]],
    "frames": [[BIG], [17]],
    "batch": [BIG, 0, [1e9]],
    "dtype": ["float8", [None]],
    "tiled": ["yes", [1]],
    "tiling": [{"tiny": {"tile_sample_min_size": BIG}}, {"tiny": {"../x": 1}}, {"nope": {}}, []],
    "warmup": [BIG, 0, 1.5],
    "warmup_time": [BIG, float("nan"), float("inf"), -1, "soon"],
    "repeats": [BIG, 0, "some"],
    "precision": [0, 1, float("nan"), BIG],
    "min_repeats": [BIG, 0],
    "min_time": [BIG, float("inf")],
    "max_time": [BIG, 0, float("nan"), 1e308],
    "max_repeats": [BIG, 0],
    "device": ["cuda:99999999999999999999", "../dev", "all"],
    "devices": [["cuda:0", "cuda:0"], "cuda:0", [BIG]],
    "device_label": ["<script>alert(1)</script>", "a|b", "x" * 1000, "", "line\nbreak", "[a](b)"],
    "weights": ["stolen"],
    "memory_metric": ["everything"],
    "output": ["", 7],
    "registry": ["/dev/zero", "/", "/nonexistent/models.yaml", 7, "/proc/self/status"],
    "quality": ["float64"],
    "channels_last": ["yes"],
    "compile": ["max-danger"],
    "attention": ["flash-all-the-things"],
    "cudnn_benchmark": [2],
    "slicing": [None],
    "trust_code": [True],
    "unknown_key": [1],
}

REGISTRY_ENTRIES: dict[str, dict] = {
    "class relative import": {"class": ".evil:X"},
    "class a module": {"class": "os:system"},
    "class a pipeline": {"class": "DiffusionPipeline"},
    "class empty": {"class": ""},
    "class with spaces": {"class": "a b"},
    "config outside": {"config": "/etc/hostname"},
    "config dev-zero": {"config": "/dev/zero"},
    "config a folder": {"config": "/"},
    "spatial huge": {"spatial_compression": BIG},
    "spatial zero": {"spatial_compression": 0},
    "tiling nan": {"tiling": {"tile_sample_min_size": 32, "tile_overlap_factor": float("nan")}},
    "tiling huge": {"tiling": {"tile_sample_min_size": BIG, "tile_overlap_factor": 0.25}},
    "family odd": {"family": "audio"},
    "frame rule odd": {"family": "video", "frame_rule": "1+0k", "temporal_compression": 4},
    "repo a device": {"repo": "/dev/zero"},
    "unknown key": {"exec": "rm -rf /"},
}

BLOCKS = "blocks:\n  - "
SPEC_TEXTS: dict[str, str] = {
    "spec not yaml": "{",
    "spec a list": "[1, 2]",
    "spec bomb": "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefg", "bcdefgh", strict=True)
    )
    + "i: [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n",
    "spec duplicate key": "dtype: float16\ndtype: float32\nblocks: []\n",
    "spec block op odd": BLOCKS + "{title: x, model: sd-v1, op: rm, style: encode}\n",
    "spec block model path": BLOCKS + "{title: x, model: ../../x, op: encode, style: encode}\n",
    "spec device html": BLOCKS + "{title: x, model: sd-v1, op: encode, style: encode, devices: ['<b>']}\n",
    "spec resolution huge": BLOCKS
    + f"{{title: x, model: sd-v1, op: encode, style: encode, resolutions: ['{BIG}x8']}}\n",
    "spec sweep dev-zero": "sweep: /dev/zero\n"
    + BLOCKS
    + "{title: x, model: sd-v1, op: encode, style: encode}\n",
    "spec registry elsewhere": "registry: /etc/hostname\n"
    + BLOCKS
    + "{title: x, model: sd-v1, op: encode, style: encode}\n",
    "spec dtype odd": "dtype: float8\nblocks: []\n",
    "spec lang odd": "lang: klingon\nblocks: []\n",
}


def _page_texts() -> dict[str, Callable[[Path], None]]:
    overview = PAGE.read_text()
    first_row = next(line for line in overview.splitlines() if line.startswith("| NVIDIA"))

    def text(t: str) -> Callable[[Path], None]:
        return lambda p: p.write_text(t)

    def raw(b: bytes) -> Callable[[Path], None]:
        return lambda p: p.write_bytes(b)

    def special(how: str) -> Callable[[Path], None]:
        def make(p: Path) -> None:
            p.unlink(missing_ok=True)
            if how == "fifo":
                os.mkfifo(p)
            elif how == "dev-zero":
                p.symlink_to("/dev/zero")
            else:
                p.mkdir()

        return make

    return {
        "page a fifo": special("fifo"),
        "page dev-zero": special("dev-zero"),
        "page a folder": special("folder"),
        "page empty": text(""),
        "page latin1": raw("caf\xe9 <details>".encode("latin-1")),
        "page NUL bytes": raw(overview.encode() + b"\x00" * 100),
        "page BOM and CRLF": raw(b"\xef\xbb\xbf" + overview.replace("\n", "\r\n").encode()),
        "page unclosed details": text(overview.replace("</details>", "", 1)),
        "page stray close": text("</details>\n" + overview),
        "page inline code tag": text("`<details>` and `</details>`\n" + overview),
        "page long fence": text("````\n```\n<details>\n```\n````\n" + overview),
        "page nested 1000 deep": text("<details><summary>x</summary>\n" * 1000 + overview),
        "page html in a cell": text(
            overview.replace(first_row, first_row.replace("NVIDIA", "<img src=x>", 1))
        ),
        "page device link": text(
            overview.replace(first_row, first_row.replace("NVIDIA", "[x](javascript:y)", 1))
        ),
        "page size huge": text(overview.replace("512x512", f"{BIG}x512", 1)),
        "page size zero": text(overview.replace("512x512", "0x0", 1)),
        "page figure nan": text(
            overview.replace(first_row, first_row.replace("0.", "nan", 1).replace("0.", "inf", 1))
        ),
        "page a row of 5000 cells": text(overview + "\n" + "|" + " x |" * 5000 + "\n"),
        "page a line of 1 MB": text("x" * 2**20 + "\n" + overview),
        "page only pipes": text("|\n" * 1000),
        "page two OOM words": text(overview.replace("OOM", "内存不足 (OOM)", 1)),
    }


def test_every_hostile_sweep_registry_spec_and_page(capsys, tmp_path, gpu_base):
    counts: dict[int, int] = {}
    n = 0

    def walk(args, work, may_write, what):
        nonlocal n
        code = check(capsys, args, work, may_write, what)
        counts[code] = counts.get(code, 0) + 1

    def fresh(name: str) -> Path:
        nonlocal n
        n += 1
        work = tmp_path / f"{n}-{name.replace(' ', '-')[:40]}"
        work.mkdir()
        (work / "victim").write_text("a file no command may touch\n")
        return work

    for field, values in SWEEP_FIELDS.items():
        for value in values:
            work = fresh(f"sweep {field}")
            sweep = {**SWEEP, field: value, "output": str(work / "runs")}
            (work / "sweep.yaml").write_text(yaml.safe_dump(sweep, allow_unicode=True))
            walk(["run", work / "sweep.yaml", "--dry-run"], work, [], f"sweep {field}={value!r}"[:120])

    tiny = yaml.safe_load(TINY_REGISTRY.read_text())["tiny"]
    for what, change in REGISTRY_ENTRIES.items():
        work = fresh(what)
        entry = {**tiny, "config": str(FIXTURES / tiny["config"]), **change}
        (work / "models.yaml").write_text(yaml.safe_dump({"tiny": entry}))
        sweep = {**SWEEP, "registry": str(work / "models.yaml"), "output": str(work / "runs")}
        (work / "sweep.yaml").write_text(yaml.safe_dump(sweep))
        walk(["run", work / "sweep.yaml", "--dry-run"], work, [], f"registry {what}")
        walk(["run", work / "sweep.yaml"], work, [work / "runs"], f"registry {what}")
        walk(["models", "--registry", work / "models.yaml"], work, [], f"registry {what}")

    for what, text in SPEC_TEXTS.items():
        work = fresh(what)
        (work / "spec.yaml").write_text(text)
        shutil.copyfile(PAGE, work / "page.md")
        walk(
            ["docs", "update", work / "page.md", "--spec", work / "spec.yaml", gpu_base],
            work,
            [work / "page.md"],
            what,
        )
        walk(["docs", "verify", gpu_base, "--page", PAGE, "--spec", work / "spec.yaml"], work, [], what)
        walk(
            ["docs", "import", PAGE, "--spec", work / "spec.yaml", "--out", work / "imported"],
            work,
            [work / "imported"],
            what,
        )

    for what, make in _page_texts().items():
        work = fresh(what)
        page = work / "page.md"
        page.write_text("")
        make(page)
        walk(["docs", "check", page], work, [], what)
        walk(["docs", "update", page, "--spec", SPEC, gpu_base], work, [page], what)
        walk(["docs", "verify", gpu_base, "--page", page, "--spec", SPEC], work, [], what)
        walk(["docs", "import", page, "--out", work / "imported"], work, [work / "imported"], what)

    total = (
        sum(len(v) for v in SWEEP_FIELDS.values())
        + len(REGISTRY_ENTRIES)
        + len(SPEC_TEXTS)
        + len(_page_texts())
    )
    assert total == n and counts.get(2, 0) > counts.get(0, 0) > 0, counts
    print(f"\n{total} hostile sweeps, registries, specs and pages, exit statuses {counts}")
