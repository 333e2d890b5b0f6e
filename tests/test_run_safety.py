"""Nothing stored is lost or mixed, sweep by sweep: one sweep at a time writes a run,
a resume goes through the registry the run was made with, unreadable lines are moved
aside, signals always leave a resumable run, and every OS error or oversized input is
one line with exit status 2 before anything is written. (The store itself, called
without a sweep: tests.test_store.)"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
import yaml

from bench.cli import main
from bench.record.store import open_run
from tests.cli_helpers import one_error_line, only_run, start, wait_for_cases, wait_for_run
from tests.conftest import FIXTURES, ROOT, TINY_REGISTRY
from tests.runs import case, write_run

SLOW = dict(models=["tiny-slow"], resolutions=[32, 40, 48, 56], tiled=[False, True], repeats=2)


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- one writer per run ---------------------------------------------------------------


@pytest.mark.slow
def test_two_resumes_started_together_one_runs(write_sweep, tmp_path):
    sweep = write_sweep(**SLOW)
    first = start(["run", "--trust-code", sweep])
    run = wait_for_run(tmp_path / "runs", first)
    wait_for_cases(run, 1, first)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)

    a, b = start(["run", "--trust-code", "--resume", run]), start(["run", "--trust-code", "--resume", run])
    (_, err_a), (_, err_b) = a.communicate(timeout=120), b.communicate(timeout=120)
    codes = sorted([a.returncode, b.returncode])
    assert codes == [0, 2], (err_a, err_b)
    loser = err_a if a.returncode == 2 else err_b
    assert "is writing this run" in loser and "PID" in loser and "Traceback" not in loser
    assert len(loser.strip().splitlines()) == 1
    lines = (run / "cases.jsonl").read_text().splitlines()
    ids = [json.loads(line)["case_id"] for line in lines]
    assert len(ids) == len(set(ids)) == 8
    assert open_run(run).meta.status == "complete"


# -- resume ---------------------------------------------------------------------------


def _registry_with(tmp_path: Path, **changes) -> Path:
    registry = yaml.safe_load(TINY_REGISTRY.read_text())
    for entry in registry.values():
        entry["config"] = str(FIXTURES / entry["config"])
    registry["tiny"].update(changes)
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(registry))
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    "changes, field",
    [
        ({"class": "tests.fakes:Slow"}, "models.tiny.class"),
        ({"config": "other.json"}, "models.tiny.config_sha256"),
    ],
)
def test_resume_through_another_registry_is_refused(write_sweep, tmp_path, capsys, changes, field):
    registry = _registry_with(tmp_path)
    sweep = write_sweep(registry=str(registry), resolutions=[32, 40])
    assert main(["run", "--trust-code", str(sweep)]) == 0
    run = only_run(tmp_path / "runs")
    (run / "cases.jsonl").write_text((run / "cases.jsonl").read_text().splitlines()[0] + "\n")
    if "config" in changes:
        config = json.loads((FIXTURES / "tiny-vae.json").read_text())
        config["layers_per_block"] = 2
        (tmp_path / "other.json").write_text(json.dumps(config))
        changes = {"config": str(tmp_path / "other.json")}
    _registry_with(tmp_path, **changes)  # the same file, now mapping `tiny` elsewhere
    capsys.readouterr()
    before = tree(run)
    assert main(["run", "--trust-code", "--resume", str(run)]) == 2
    line = one_error_line(capsys)
    assert field in line and "start a new run" in line
    assert tree(run) == before


@pytest.mark.slow
def test_resume_moves_every_unreadable_line_aside(write_sweep, tmp_path, capsys):
    sweep = write_sweep(resolutions=[32, 40, 48])
    assert main(["run", str(sweep)]) == 0
    run = only_run(tmp_path / "runs")
    lines = (run / "cases.jsonl").read_text().splitlines()
    broken = lines[1][: len(lines[1]) // 2]
    (run / "cases.jsonl").write_text("\n".join([lines[0], broken, lines[2], "not json at all"]) + "\n")
    (run / "tables.md").unlink()
    capsys.readouterr()

    assert main(["run", "--resume", str(run)]) == 0
    err = capsys.readouterr().err
    assert "line(s) 2, 4 are not case records" in err and "cases.jsonl.torn" in err
    assert (run / "cases.jsonl.torn").read_text() == broken + "\nnot json at all\n"
    records = open_run(run, strict=True).records  # every line reads again
    assert len(records) == 3 and {r.case.width for r in records} == {32, 40, 48}
    assert (run / "tables.md").exists()
    assert main(["tables", str(run)]) == 0


@pytest.mark.slow
def test_resuming_a_complete_run_changes_nothing(write_sweep, tmp_path, capsys):
    sweep = write_sweep()
    assert main(["run", str(sweep)]) == 0
    run = only_run(tmp_path / "runs")
    meta = (run / "meta.json").read_bytes()
    cases = (run / "cases.jsonl").read_bytes()
    assert main(["run", "--resume", str(run)]) == 0
    assert (run / "meta.json").read_bytes() == meta
    assert (run / "cases.jsonl").read_bytes() == cases


# -- signals --------------------------------------------------------------------------


@pytest.mark.slow
def test_a_double_sigterm_still_leaves_a_resumable_run(write_sweep, tmp_path):
    sweep = write_sweep(**SLOW)
    proc = start(["run", "--trust-code", sweep])
    run = wait_for_run(tmp_path / "runs", proc)
    wait_for_cases(run, 2, proc)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert f"vae-bench run --resume {run}" in err
    assert open_run(run).meta.status == "interrupted"


@pytest.mark.slow
def test_sigterm_during_startup_exits_130(write_sweep, tmp_path):
    proc = start(["run", write_sweep()])
    # As soon as the CLI handles SIGTERM, which is before it imports torch and diffusers
    # or makes a run folder. (Before that, the interpreter itself is still starting.)
    t0 = time.monotonic()
    while not catches(proc.pid, signal.SIGTERM):
        assert time.monotonic() - t0 < 30 and proc.poll() is None
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err


def catches(pid: int, sig: int) -> bool:
    """Whether the process has a handler for `sig` (Linux: SigCgt in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    return False


# -- OS errors and inputs found too late ------------------------------------------------


@pytest.mark.parametrize(
    "out, reason",
    [
        ("/proc/vae-bench-runs", "No such file or directory"),
        ("{tmp}/" + "x" * 300, "File name too long"),
    ],
)
def test_an_out_that_cannot_be_made_is_one_line(write_sweep, tmp_path, capsys, out, reason):
    out = out.format(tmp=tmp_path)
    assert main(["run", str(write_sweep()), "--out", out]) == 2
    assert reason in one_error_line(capsys)


def test_a_long_sweep_name_is_refused_before_the_file_system_sees_it(write_sweep, tmp_path, capsys):
    sweep = write_sweep()
    sweep.write_text(sweep.read_text().replace("name: t", "name: " + "n" * 300))
    assert main(["run", str(sweep)]) == 2
    line = one_error_line(capsys)
    assert "name: must be at most 64 characters" in line and len(line) < 300
    assert not (tmp_path / "runs").exists()


def test_plot_into_an_unwritable_place_is_one_line(tmp_path, capsys):
    run = write_run(tmp_path, "a", [case(), case(size=1024)])
    assert main(["plot", str(run), "--out", "/proc/vae-bench-plots"]) == 2
    assert "/proc/vae-bench-plots" in one_error_line(capsys)


def test_a_registry_config_that_is_not_utf8(write_sweep, tmp_path, capsys):
    config = tmp_path / "latin1.json"
    config.write_bytes('{"_class_name": "AutoencoderKL", "note": "caf\xe9"}'.encode("latin-1"))
    registry = _registry_with(tmp_path)
    data = yaml.safe_load(registry.read_text())
    data["tiny"]["config"] = str(config)
    registry.write_text(yaml.safe_dump(data))
    assert main(["run", str(write_sweep(registry=str(registry)))]) == 2
    line = one_error_line(capsys)
    assert "latin1.json" in line and "not UTF-8" in line


def test_a_registry_that_is_a_folder(write_sweep, tmp_path, capsys):
    assert main(["run", str(write_sweep(registry="."))]) == 2
    assert "is a folder" in one_error_line(capsys)


def test_a_yaml_alias_bomb_is_refused_quickly_and_briefly(tmp_path, capsys):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{','.join([f'*{prev}'] * 9)}]")
    lines.append("name: *i")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    t0 = time.monotonic()
    assert main(["run", str(bomb)]) == 2
    assert time.monotonic() - t0 < 5
    line = one_error_line(capsys)
    assert "too large once its aliases are expanded" in line and len(line) < 300


def test_a_huge_value_is_quoted_short(write_sweep, capsys):
    assert main(["run", str(write_sweep(models=["m" * 100_000]))]) == 2
    line = one_error_line(capsys)
    assert "unknown model" in line and len(line) < 600


@pytest.mark.parametrize(
    "changes, says",
    [
        ({"class": "NoSuchAutoencoder"}, "tiny.class: 'NoSuchAutoencoder' cannot be found"),
        ({"class": "tests.fakes:Nothing"}, "cannot be found"),
        ({"class": "AutoencoderKLWan"}, "not a config of AutoencoderKLWan"),
    ],
)
def test_a_registry_class_that_cannot_build_is_found_before_the_run(
    write_sweep, tmp_path, capsys, changes, says
):
    sweep = write_sweep(registry=str(_registry_with(tmp_path, **changes)))
    assert main(["run", "--trust-code", str(sweep)]) == 2
    assert says in one_error_line(capsys)
    assert not (tmp_path / "runs").exists()


def test_a_size_that_cannot_fit_the_device_is_refused_up_front(write_sweep, tmp_path, capsys):
    assert main(["run", str(write_sweep(resolutions=[32, 100_000]))]) == 2
    line = one_error_line(capsys)
    assert "100000x100000" in line and "GiB" in line and "leave out this resolution" in line
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_a_cpu_allocation_failure_is_oom(write_sweep, tmp_path):
    sweep = write_sweep(models=["tiny-alloc"], resolutions=[32, 48, 64])
    assert main(["run", "--trust-code", str(sweep)]) == 0
    by_width = {r.case.width: r for r in open_run(only_run(tmp_path / "runs")).records}
    assert by_width[48].status == "oom" and "can't allocate memory" in by_width[48].error
    assert by_width[32].status == by_width[64].status == "ok"


@pytest.mark.parametrize("factor", ["nan", "inf", "0", "-1", "1", "fast"])
def test_factors_that_would_turn_checks_off(tmp_path, capsys, factor):
    base = write_run(tmp_path, "a", [case()])
    new = write_run(tmp_path, "b", [case()])
    assert main(["compare", str(base), str(new), "--factor", factor]) == 2
    assert "--factor" in one_error_line(capsys)
    assert main(["history", str(tmp_path), "--factor", factor]) == 2
    assert "--factor" in one_error_line(capsys)
    assert main(["compare", str(base), str(new), "--mem-floor", "nan"]) == 2
    assert "--mem-floor" in one_error_line(capsys)


def test_history_leaves_a_broken_run_out(tmp_path, capsys):
    write_run(tmp_path, "good", [case()], started_at="2026-01-01T00:00:00Z")
    write_run(tmp_path, "newer", [case()], started_at="2026-01-02T00:00:00Z")
    (tmp_path / "latin1").mkdir()
    (tmp_path / "latin1" / "meta.json").write_bytes(b'{"name": "caf\xe9"}')
    (tmp_path / "folder" / "meta.json").mkdir(parents=True)
    assert main(["history", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "2 run(s)" in out
    assert err.count("left out") == 2 and "Traceback" not in err


def test_the_yaml_guard_reads_every_shipped_file_as_yaml_does():
    from bench.files import read_yaml

    paths = sorted((ROOT / "bench" / "configs").rglob("*.yaml")) + sorted(FIXTURES.rglob("*.yaml"))
    assert len(paths) > 8
    for path in paths:
        assert read_yaml(path, "file") == yaml.safe_load(path.read_text()), path
