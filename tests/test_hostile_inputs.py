"""Run folders, configs and pages as a hostile user would make them, one reproduction
per finding: a run folder's files are data (never links, FIFOs or devices), every value
is read strictly at one boundary, paths from data stay in their folder, and bad input
is one line with exit status 2 that loses nothing stored."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main
from bench.record.store import open_run
from tests.cli_helpers import no_hang, one_error_line
from tests.runs import case, tiny_cpu_run, write_run


def lines_of(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "cases.jsonl").read_text().splitlines() if line.strip()]


def set_lines(run: Path, records: list[dict]) -> None:
    (run / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def set_meta(run: Path, **fields) -> None:
    meta = json.loads((run / "meta.json").read_text())
    meta.update(fields)
    (run / "meta.json").write_text(json.dumps(meta))


def gpu_run(tmp_path: Path, name: str = "run", **kw) -> Path:
    return write_run(tmp_path, name, [case(size=s, tiled=t) for s in (256, 512) for t in (False, True)], **kw)


# -- 1. a resume never writes through a link ----------------------------------------------


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory):
    """A tiny CPU run of three cases, as a sweep makes it."""
    return tiny_cpu_run(tmp_path_factory.mktemp("resumable"), resolutions=[32, 40, 48])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["meta.json", "cases.jsonl", "tables.md", ".lock"])
def test_a_resume_never_writes_through_a_link(cpu_run, tmp_path, capsys, name):
    run = tmp_path / cpu_run.name
    shutil.copytree(cpu_run, run)
    set_lines(run, lines_of(run)[:2])  # one case to run again
    victim = tmp_path / "victim"
    shutil.copyfile(run / name, victim) if (run / name).exists() else victim.write_text("1234\n")
    (run / name).unlink(missing_ok=True)
    (run / name).symlink_to(victim)
    before = victim.read_bytes()
    capsys.readouterr()
    assert main(["run", "--resume", str(run)]) == 2
    line = one_error_line(capsys)
    assert "symbolic link" in line and name in line
    assert victim.read_bytes() == before
    assert (run / name).is_symlink()


# -- 7. every file read is a regular file under a size limit --------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["show", "{run}"],
        ["tables", "{run}"],
        ["compare", "{other}", "{run}"],
        ["fit", "{run}", "--vram", "8GiB"],
    ],
)
@pytest.mark.parametrize("name", ["cases.jsonl", "meta.json"])
@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_fifo_or_a_device_is_refused_not_read_forever(tmp_path, capsys, command, name, kind):
    run = gpu_run(tmp_path)
    other = gpu_run(tmp_path, "other")
    (run / name).unlink()
    if kind == "fifo":
        os.mkfifo(run / name)
    else:
        (run / name).symlink_to("/dev/zero")
    with no_hang():
        code = main([part.format(run=run, other=other) for part in command])
    assert code == 2
    line = one_error_line(capsys)
    assert name in line and ("not a regular file" in line or "symbolic link" in line)


def test_history_leaves_a_fifo_run_out_and_reads_the_rest(tmp_path, capsys):
    gpu_run(tmp_path, "good")
    bad = gpu_run(tmp_path, "bad", started_at="2026-01-02T00:00:00Z")
    (bad / "cases.jsonl").unlink()
    os.mkfifo(bad / "cases.jsonl")
    with no_hang():
        assert main(["history", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "1 run(s)" in out and "left out" in err and "not a regular file" in err


def test_a_file_over_the_limit_is_refused(tmp_path, capsys, monkeypatch):
    from bench import files

    run = gpu_run(tmp_path)
    monkeypatch.setattr(files, "MAX_CASES_BYTES", 100)
    monkeypatch.setattr("bench.record.store.MAX_CASES_BYTES", 100)
    assert main(["show", str(run)]) == 2
    assert "larger than" in one_error_line(capsys)


@pytest.mark.slow
def test_fleet_resume_of_a_fifo_run_is_one_line(tmp_path, capsys):
    pytest.importorskip("ray")
    run = gpu_run(tmp_path)
    (run / "cases.jsonl").unlink()
    os.mkfifo(run / "cases.jsonl")
    with no_hang(60):
        assert main(["fleet", "--resume", str(run), "--address", "127.0.0.1:1"]) == 2
    assert "not a regular file" in one_error_line(capsys)


# -- 8. NaN, infinite and negative figures never reach a verdict ----------------------------


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_median_that_is_not_a_finite_number_stops_compare(tmp_path, capsys, text):
    base = gpu_run(tmp_path, "base")
    new = gpu_run(tmp_path, "new")
    raw = (new / "cases.jsonl").read_text()
    (new / "cases.jsonl").write_text(raw.replace('"median":0.1', f'"median":{text}', 1))
    assert main(["compare", str(base), str(new)]) == 2
    line = one_error_line(capsys)
    assert "line 1" in line and ("time_s.median" in line or "not JSON" in line)


@pytest.mark.parametrize("peak", [-1, 1e400, "NaN"])
def test_a_peak_that_is_negative_or_not_finite_stops_fit(tmp_path, capsys, peak):
    run = gpu_run(tmp_path)
    records = lines_of(run)
    records[0]["mem"]["peak_allocated"] = peak
    (run / "cases.jsonl").write_text(
        "".join(json.dumps(r).replace('"NaN"', "NaN").replace("1e+400", "1e400") + "\n" for r in records)
    )
    assert main(["fit", str(run), "--vram", "8GiB"]) == 2
    line = one_error_line(capsys)
    assert "line 1" in line and "mem.peak_allocated" in line or "not JSON" in line


# -- 9. every bad field is one line (strict readers) or a warning and a count -------------

BAD_RECORDS = {
    "width 1e400": ("width", 1e400),
    "model a list": ("model", ["sd-v1"]),
    "dtype a dict": ("dtype", {"x": 1}),
    "median a string": ("time_s", {"median": "0.1", "samples": [0.1]}),
    "peak infinite": ("mem", {"peak_reserved": 1e400, "metric": "reserved"}),
    "psnr a string": ("quality", {"reference": "x", "psnr_db": "40"}),
    "op a path": ("op", "x/../../../name"),
    "model a path": ("model", "../../etc"),
    "status unknown": ("status", "great"),
    "format newer": ("format", 99),
    "median 0": ("time_s", {"median": 0.0, "samples": [0.0]}),
    "interval without its median": ("time_s", {"median": 0.1, "ci_low": 0.2, "ci_high": 0.3}),
    "error with a terminal escape": ("error", "\x1b]0;pwned\x07\x1b[2J"),
}


def _with(record: dict, field: str, value) -> str:
    text = json.dumps({**record, field: value}, allow_nan=True)
    return text.replace("Infinity", "1e400")


@pytest.mark.parametrize("field, value", BAD_RECORDS.values(), ids=BAD_RECORDS.keys())
def test_a_bad_record_is_left_out_with_its_field_named_and_counted(tmp_path, capsys, field, value):
    run = gpu_run(tmp_path)
    records = lines_of(run)
    text = "".join(json.dumps(r) + "\n" for r in records[1:]) + _with(records[0], field, value) + "\n"
    (run / "cases.jsonl").write_text(text)
    assert main(["show", str(run)]) == 0
    out, err = capsys.readouterr()
    assert f"line {len(records)}: corrupt case record: {field}" in err
    assert "1 stored line(s) are not case records" in err and "Traceback" not in err
    assert len(open_run(run).records) == len(records) - 1


@pytest.mark.parametrize("field, value", BAD_RECORDS.values(), ids=BAD_RECORDS.keys())
def test_a_bad_record_stops_a_strict_reader_with_one_line(tmp_path, capsys, field, value):
    run = gpu_run(tmp_path)
    records = lines_of(run)
    (run / "cases.jsonl").write_text(_with(records[0], field, value) + "\n")
    assert main(["tables", str(run)]) == 2
    line = one_error_line(capsys)
    assert "line 1: corrupt case record" in line and field in line


@pytest.mark.parametrize(
    "host", ["a string", ["a", "list"], 7, {"runs": "x"}, {"runs": [3]}, {"assigned": [7]}]
)
def test_a_meta_json_host_of_the_wrong_shape_is_one_line(tmp_path, capsys, host):
    run = gpu_run(tmp_path)
    set_meta(run, host=host)
    assert main(["run", "--resume", str(run), "--dry-run"]) == 2
    assert "meta.json: host" in one_error_line(capsys)


# -- 10. the small ones ------------------------------------------------------------------


def test_a_lock_that_is_a_fifo_names_its_path(tmp_path):
    from bench.errors import BadInput
    from bench.record.store import RunWriter

    run = gpu_run(tmp_path)
    (run / ".lock").unlink()
    os.mkfifo(run / ".lock")
    with no_hang(), pytest.raises(BadInput) as refused:
        RunWriter.reopen(run)
    assert str(run / ".lock") in str(refused.value) and "not a regular file" in str(refused.value)


def _hold_lock(run: Path, fork: bool) -> tuple[subprocess.Popen, str]:
    """A process that takes the run's lock (and, with `fork`, forks a child that goes on
    while the taker exits): the process, and the PID that took the lock."""
    from tests.conftest import ROOT

    code = (
        "import os, sys, time\nfrom bench.record.store import RunLock\nheld = RunLock(sys.argv[1])\n"
        "taker = os.getpid()\n"
        + (
            "if os.fork():\n    os._exit(0)\nwhile os.getppid() == taker:\n    time.sleep(0.01)\n"
            if fork
            else ""
        )
        + "print(taker, flush=True)\ntime.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(run)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    return proc, proc.stdout.readline().strip()


def test_a_held_lock_names_its_holder(tmp_path):
    import socket

    from bench.errors import BadInput
    from bench.record.store import RunLock

    run = gpu_run(tmp_path)
    (run / ".lock").write_text("4242\n")  # what a copy of another machine's run holds
    proc, taker = _hold_lock(run, fork=False)
    try:
        with pytest.raises(BadInput) as refused:
            RunLock(run)
        assert f"PID {taker} on {socket.gethostname()} since" in str(refused.value)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_a_child_of_a_dead_sweep_does_not_hold_its_lock(tmp_path):
    """A sweep that took the lock and died leaves it free, even where a process it forked
    goes on: the lock is not inherited, so no refusal names the dead sweep's PID."""
    from bench.record.store import RunLock

    run = gpu_run(tmp_path)
    proc, _ = _hold_lock(run, fork=True)
    try:
        RunLock(run).release()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_a_run_of_a_newer_format_is_refused_not_rewritten(tmp_path, capsys):
    run = gpu_run(tmp_path)
    set_meta(run, format=99)
    before = (run / "meta.json").read_bytes()
    for command in (["show", str(run)], ["run", "--resume", str(run)]):
        assert main(command) == 2
        assert "made by a newer vae-bench (format 99" in one_error_line(capsys)
    assert (run / "meta.json").read_bytes() == before


def test_a_resume_leaves_a_newer_record_where_it_is(tmp_path, capsys):
    from bench.record.store import RunWriter

    run = gpu_run(tmp_path)
    records = lines_of(run)
    (run / "cases.jsonl").write_text(_with(records[0], "format", 3) + "\n")
    before = (run / "cases.jsonl").read_bytes()
    with pytest.raises(Exception) as refused:
        RunWriter.reopen(run)
    assert "made by a newer vae-bench" in str(refused.value)
    assert (run / "cases.jsonl").read_bytes() == before and not (run / "cases.jsonl.torn").exists()


# -- 5. a path from data never leaves its folder --------------------------------------------


def test_a_host_run_naming_a_sibling_outside_its_folder_is_refused(tmp_path, capsys):
    victim = gpu_run(tmp_path, "victim")
    runs = tmp_path / "runs"
    runs.mkdir()
    run = gpu_run(runs)
    set_meta(run, host={"runs": ["run", "../victim"], "devices": ["cuda:0", "cuda:1"]})
    before = (victim / "meta.json").read_bytes()
    assert main(["run", "--resume", str(run)]) == 2
    assert "host.runs[1]" in one_error_line(capsys)
    assert (victim / "meta.json").read_bytes() == before


def test_a_host_sibling_that_is_a_link_is_refused(tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = gpu_run(elsewhere, "victim")
    runs = tmp_path / "runs"
    runs.mkdir()
    run = gpu_run(runs)
    (runs / "sibling").symlink_to(victim)
    set_meta(run, host={"runs": ["run", "sibling"], "devices": ["cuda:0", "cuda:1"]})
    assert main(["run", "--resume", str(run), "--dry-run"]) == 2
    assert "symbolic link" in one_error_line(capsys)


def test_plot_writes_only_inside_its_folder(tmp_path, capsys):
    run = gpu_run(tmp_path)
    records = lines_of(run)
    set_lines(run, records + [{**records[0], "op": "x/../../../name", "case_id": "ffffffffffffffff"}])
    before = sorted(tmp_path.rglob("*"))
    assert main(["plot", str(run)]) == 2
    assert "op: 'x/../../../name' is not one of encode, decode" in one_error_line(capsys)
    assert sorted(tmp_path.rglob("*")) == before


def test_plot_into_a_plots_folder_that_is_a_link_is_refused(tmp_path, capsys):
    run = gpu_run(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (run / "plots").symlink_to(elsewhere)
    assert main(["plot", str(run)]) == 2
    assert "outside" in one_error_line(capsys)
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("run_id", ["../../evil", "/tmp/evil", ".hidden", "a/b", "", "UPPER"])
def test_a_fleet_node_never_names_a_local_path(tmp_path, run_id):
    from bench.errors import BadInput
    from bench.sweep.fleet.receive import LocalRun

    meta = (gpu_run(tmp_path, "made") / "meta.json").read_text()
    out = tmp_path / "out"
    out.mkdir()
    local = LocalRun("kind", {}, out=out)
    with pytest.raises(BadInput):
        local.take(("meta", run_id, meta))
    assert list(out.iterdir()) == [] and not (tmp_path / "evil").exists()


def test_a_fleet_node_record_that_is_not_one_is_left_out(tmp_path):
    from bench.sweep.fleet.receive import LocalRun

    meta = (gpu_run(tmp_path, "made") / "meta.json").read_text()
    out = tmp_path / "out"
    out.mkdir()
    local = LocalRun("kind", {}, out=out)
    local.take(("meta", "20260101-000000-gpu-t", meta))
    good = lines_of(tmp_path / "made")[0]
    with pytest.warns(UserWarning, match="not one"):
        local.take(("case", json.dumps({**good, "width": -1})))
    local.take(("case", json.dumps(good)))
    local.close()
    assert [r.case_id for r in open_run(local.dir).records] == [good["case_id"]]


def test_docs_import_of_devices_that_share_a_folder_writes_nothing(tmp_path, capsys):
    from tests.doc_helpers import DOCS

    page = tmp_path / "page.md"
    text = (DOCS / "overview.en.md").read_text()
    page.write_text(text.replace("NVIDIA GeForce RTX 3090", "NVIDIA GeForce RTX-4090", 1))
    out = tmp_path / "imported"
    assert main(["docs", "import", str(page), "--out", str(out)]) == 2
    assert "would share the run folder" in one_error_line(capsys)
    assert not out.exists() or list(out.iterdir()) == []


# -- 6. a label that would be markup is refused ---------------------------------------------


@pytest.mark.parametrize("label", ["<img src=x onerror=alert(1)>", "A|B", "[x](javascript:y)", "`code`"])
def test_a_device_label_that_would_be_markup_is_refused(write_sweep, capsys, label):
    assert main(["run", str(write_sweep()), "--device-label", label, "--dry-run"]) == 2
    assert "a docs table cell cannot show" in one_error_line(capsys)


# -- 4. code a file names is imported only when the command line says so --------------------


@pytest.fixture
def evil(tmp_path, monkeypatch):
    """A module that leaves a mark when imported, and a registry (and sweep) naming it."""
    import yaml

    from tests.conftest import FIXTURES

    mark = tmp_path / "imported"
    module = f"evil_vae_{abs(hash(str(tmp_path)))}"  # a module of its own each test: an import runs once
    (tmp_path / f"{module}.py").write_text(f"open({str(mark)!r}, 'w').close()\nclass Evil:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)
    registry = yaml.safe_load((FIXTURES / "tiny-models.yaml").read_text())
    entry = {**registry["tiny"], "class": f"{module}:Evil", "config": str(FIXTURES / "tiny-vae.json")}
    (tmp_path / "models.yaml").write_text(yaml.safe_dump({"tiny": entry}))
    return mark, tmp_path / "models.yaml"


def test_a_registry_class_outside_diffusers_is_not_imported_without_trust_code(evil, write_sweep, capsys):
    mark, registry = evil
    sweep = write_sweep(registry=str(registry))
    assert main(["run", str(sweep), "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert ":Evil is not imported by a dry run" in err and not mark.exists()
    assert main(["run", str(sweep)]) == 2
    assert "code outside diffusers" in one_error_line(capsys) and not mark.exists()
    assert main(["run", str(sweep), "--dry-run", "--trust-code"]) == 0  # a dry run imports nothing
    assert not mark.exists()
    capsys.readouterr()
    assert main(["run", str(sweep), "--trust-code"]) == 2  # imported, and found not to be a model
    assert "not a diffusers model class" in one_error_line(capsys) and mark.exists()


def test_a_sweep_file_cannot_turn_trust_on(evil, write_sweep, capsys):
    _, registry = evil
    assert main(["run", str(write_sweep(registry=str(registry), trust_code=True))]) == 2
    assert "trust_code: unknown key" in one_error_line(capsys)


def test_a_run_folder_naming_code_is_not_imported_on_a_dry_resume(evil, tmp_path, capsys):
    mark, registry = evil
    run = gpu_run(tmp_path)
    meta = json.loads((run / "meta.json").read_text())
    meta["config"] = {
        "name": "t",
        "models": ["tiny"],
        "ops": ["encode"],
        "resolutions": ["32x32"],
        "device": "cpu",
        "registry": str(registry),
    }
    meta["device"] = {"device": "cpu", "name": "cpu"}
    (run / "meta.json").write_text(json.dumps(meta))
    main(["run", "--resume", str(run), "--dry-run"])
    assert not mark.exists()
    main(["run", "--resume", str(run)])
    assert not mark.exists()


@pytest.mark.parametrize(
    "cls, why",
    [
        (".evil:X", "not a class name"),
        ("os.path:join", "code outside diffusers"),
        ("DiffusionPipeline", "not a diffusers model class"),
        ("__loader__", "not a diffusers model class"),
        ("a b", "not a class name"),
    ],
)
def test_a_registry_class_that_is_not_a_model_is_one_line_before_anything_is_written(
    write_sweep, tmp_path, capsys, cls, why
):
    import yaml

    from tests.conftest import FIXTURES

    registry = yaml.safe_load((FIXTURES / "tiny-models.yaml").read_text())
    entry = {**registry["tiny"], "class": cls, "config": str(FIXTURES / "tiny-vae.json")}
    (tmp_path / "models.yaml").write_text(yaml.safe_dump({"tiny": entry}))
    assert main(["run", str(write_sweep(registry=str(tmp_path / "models.yaml")))]) == 2
    assert why in one_error_line(capsys)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("stray", ["model.safetensors", "diffusion_pytorch_model.safetensors"])
def test_a_weights_folder_diffusers_cannot_load_is_refused_before_the_run(
    write_sweep, tmp_path, capsys, stray
):
    import yaml

    from tests.conftest import FIXTURES

    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "config.json").write_text((FIXTURES / "tiny-vae.json").read_text())
    (folder / stray).write_bytes(b"not a safetensors file at all")
    registry = yaml.safe_load((FIXTURES / "tiny-models.yaml").read_text())
    entry = {**registry["tiny"], "repo": str(folder), "config": str(FIXTURES / "tiny-vae.json")}
    (tmp_path / "models.yaml").write_text(yaml.safe_dump({"tiny": entry}))
    sweep = write_sweep(registry=str(tmp_path / "models.yaml"), weights="pretrained")
    assert main(["run", str(sweep)]) == 2
    assert "pretrained weights not reachable" in one_error_line(capsys)
    assert not (tmp_path / "runs").exists()


# -- 8 and 9: configs and arguments with numbers no machine has -------------------------------


@pytest.mark.parametrize(
    "text, says",
    [
        ("RTX A: {torch_mib: .nan}", "RTX A.torch_mib: must be a positive number"),
        ("RTX A: {nominal_gib: .inf}", "RTX A.nominal_gib: must be a positive number"),
        ("RTX A: {torch_mib: -1}", "must be a positive number"),
        (f"RTX A: {{torch_mib: {10**400}}}", "must be a positive number"),
        ("RTX A: {torch_mib: 8000}\nGeForce RTX A: {torch_mib: 9000}", "names the same card as 'RTX A'"),
        ("7: {torch_mib: 8000}", "a card's name must be text"),
        ("RTX A: {sizes: {8GB: {torch_mib: 8000}}}", "RTX A.sizes: must map two or more sizes"),
        ("RTX A: {sizes: {8GB: {torch_mib: 8000}, big: {torch_mib: 9}}}", "'big' is not a size like 8GB"),
        (
            "RTX A: {sizes: {8GB: {torch_mib: 1}, 16GB: {torch_mib: .nan}}}",
            "RTX A.sizes.16GB.torch_mib: must be",
        ),
        (
            "RTX A: {sizes: {8GB: {torch_mib: 1}, 16GB: {torch_mib: 2}}, pages: 12GB}",
            "'12GB' is none of its sizes",
        ),
        (
            "RTX A: {sizes: {8GB: {torch_mib: 1}, 16GB: {torch_mib: 2}}, torch_mib: 3}",
            "unknown key beside sizes",
        ),
        (
            "RTX A: {sizes: {8GB: {torch_mib: 1}, 16GB: {torch_mib: 2}}}\nRTX A 8GB: {torch_mib: 9}",
            "names the same card",
        ),
    ],
    ids=[
        "nan",
        "inf",
        "negative",
        "huge",
        "twice",
        "number-name",
        "one-size",
        "bad-size",
        "size-nan",
        "pages",
        "beside-sizes",
        "size-twice",
    ],
)
def test_a_card_table_with_a_size_no_card_has_is_refused(tmp_path, text, says):
    from bench.cards import load_cards
    from bench.errors import BadInput

    path = tmp_path / "cards.yaml"
    path.write_text(text + "\n")
    with pytest.raises(BadInput, match=re.escape(says)):
        load_cards(path)


@pytest.mark.parametrize("field", ["max_time", "warmup_time", "min_time"])
@pytest.mark.parametrize("value", [10**400, 1e308, 86_401, -1])
def test_seconds_out_of_any_range_are_one_line(write_sweep, capsys, field, value):
    assert main(["run", str(write_sweep(**{field: value})), "--dry-run"]) == 2
    assert field in one_error_line(capsys)


@pytest.mark.parametrize(
    "field, value",
    [("warmup", 10**400), ("repeats", 10**400), ("max_repeats", 10**12), ("batch", 10**6), ("frames", 10**9)],
)
def test_counts_out_of_any_range_are_one_line(write_sweep, capsys, field, value):
    assert main(["run", str(write_sweep(**{field: value})), "--dry-run"]) == 2
    assert field in one_error_line(capsys)


@pytest.mark.parametrize(
    "args, option",
    [
        (["--vram", "9" * 400], "--vram"),
        (["--vram", "8GiB", "--headroom", "9" * 400 + "GiB"], "--headroom"),
        (["--vram", "1e999GiB"], "--vram"),
        (["--card", ""], "card"),
    ],
)
def test_sizes_out_of_any_range_are_one_line(tmp_path, capsys, args, option):
    run = gpu_run(tmp_path)
    assert main(["fit", str(run), *args]) == 2
    line = one_error_line(capsys)
    assert option in line and "--vram: None" not in line


def test_a_registry_that_is_a_device_says_so(write_sweep, capsys):
    assert main(["run", str(write_sweep(registry="/dev/zero")), "--dry-run"]) == 2
    assert "not a regular file" in one_error_line(capsys)


def test_a_processor_whose_name_a_cell_cannot_show_still_runs(write_sweep, capsys, monkeypatch):
    """Its own device's name never stops a run: what a cell cannot show becomes a space."""
    monkeypatch.setattr("bench.measure.environment.cpu_name", lambda: "Odd <CPU> | *v2* " + "x" * 200)
    assert main(["run", str(write_sweep()), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "cases on cpu (Odd CPU v2 xxx" in out


# -- found by review: what the first version of the boundary let through ------------------


@pytest.mark.parametrize("name", ["tiny vae", "_tiny", "Tiny+VAE", "../x"])
def test_a_registry_model_name_a_record_could_not_hold_is_refused(write_sweep, tmp_path, capsys, name):
    import yaml

    from tests.conftest import FIXTURES

    registry = yaml.safe_load((FIXTURES / "tiny-models.yaml").read_text())
    entry = {**registry["tiny"], "config": str(FIXTURES / "tiny-vae.json")}
    (tmp_path / "models.yaml").write_text(yaml.safe_dump({name: entry}))
    assert main(["run", str(write_sweep(registry=str(tmp_path / "models.yaml"), models=[name]))]) == 2
    assert "is not a model name" in one_error_line(capsys)


def test_a_line_of_backtick_runs_of_every_length_is_read_in_one_pass(tmp_path, capsys):
    page = tmp_path / "p.md"
    page.write_text(("".join("`" * n + "a" for n in range(1, 1500)) + "\n") * 4)
    with no_hang(10):
        assert main(["docs", "check", str(page)]) == 0


@pytest.mark.parametrize("figure", ["1e999", "-5", "1e23", "nan", "0"])
def test_a_published_figure_no_call_takes_is_refused_before_anything_is_written(tmp_path, capsys, figure):
    from tests.doc_helpers import DOCS

    text = (DOCS / "overview.en.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| NVIDIA"))
    cells = row.split("|")
    cells[3] = f" {figure} "
    page = tmp_path / "page.md"
    page.write_text(text.replace(row, "|".join(cells), 1))
    out = tmp_path / "imported"
    assert main(["docs", "import", str(page), "--out", str(out)]) == 2
    assert "is neither a time above 0 s" in one_error_line(capsys)
    assert not out.exists() or list(out.iterdir()) == []
    assert main(["docs", "check", str(page)]) == 1
    assert "is not a number (a time above 0 s)" in capsys.readouterr().out


def test_a_run_of_nothing_but_oom_and_errors_is_plotted(tmp_path, capsys):
    write_run(tmp_path, "r", [case(status="oom", size=s) for s in (256, 512)] + [case(status="error")])
    assert main(["plot", str(tmp_path / "r")]) == 0
    assert main(["history", str(tmp_path), "--plot"]) == 0


def test_a_results_folder_nested_too_deep_is_one_line(tmp_path, capsys):
    deep = str(tmp_path)
    for _ in range(1500):  # one level at a time: mkdir(parents=True) and rmtree recurse as deep
        deep += "/a"
        os.mkdir(deep)
    try:
        assert main(["history", str(tmp_path)]) == 2
        assert "nested too deeply" in one_error_line(capsys)
    finally:
        while deep != str(tmp_path):
            os.rmdir(deep)
            deep = os.path.dirname(deep)


def test_a_reader_that_may_not_write_the_lock_still_tells_a_sweep_is_writing(tmp_path, monkeypatch):
    from bench import files
    from bench.record.store import RunLock, lock_held

    run = gpu_run(tmp_path)
    held = RunLock(run)
    try:
        real = files.locks._file_lock

        def read_only(path):
            lock = real(path)

            def refuse(*a, **kw):
                raise PermissionError(13, "Permission denied", str(path))

            lock.acquire = refuse
            return lock

        monkeypatch.setattr(files.locks, "_file_lock", read_only)
        assert lock_held(run) is True
    finally:
        held.release()
    assert lock_held(run) is False


def test_a_meta_json_text_with_a_terminal_escape_is_refused(tmp_path, capsys):
    run = gpu_run(tmp_path)
    set_meta(run, run_id="\x1b]0;pwned\x07", environment={"torch": "2.5\x1b[2J"})
    assert main(["show", str(run)]) == 2
    assert "control character" in one_error_line(capsys)


def test_an_empty_host_sibling_is_not_the_results_folder(tmp_path, capsys):
    runs = tmp_path / "runs"
    runs.mkdir()
    run = gpu_run(runs)
    set_meta(run, host={"runs": ["", "run"], "devices": ["cuda:0", "cuda:1"]})
    assert main(["run", "--resume", str(run)]) == 2
    assert "host.runs[0]" in one_error_line(capsys)


def test_config_files_named_on_the_command_line_may_be_links(write_sweep, tmp_path, capsys):
    link = tmp_path / "linked.yaml"
    link.symlink_to(write_sweep())
    assert main(["run", str(link), "--dry-run"]) == 0


def test_a_corrupt_format_field_is_moved_aside_not_taken_for_a_newer_version(tmp_path):
    from bench.record.store import RunWriter

    run = gpu_run(tmp_path)
    records = lines_of(run)
    set_lines(run, records[1:] + [{**records[0], "format": "2"}])
    with pytest.warns(UserWarning, match="not case records"):
        RunWriter.reopen(run).close()
    assert len(lines_of(run)) == len(records) - 1
    assert "format" in (run / "cases.jsonl.torn").read_text()


@pytest.mark.parametrize("label", ["www.example.com", "see http://x", "~~gone~~", "__bold__"])
def test_a_label_markdown_would_link_or_emphasize_is_refused(write_sweep, capsys, label):
    assert main(["run", str(write_sweep()), "--device-label", label, "--dry-run"]) == 2
    assert "a docs table cell cannot show" in one_error_line(capsys)
