"""The parts of `vae-bench matrix` and `bisect` that need no install and no sweep: what
--with accepts, the cache key, the candidates, the search and its skips, the state
file read back as hostile input, and the layer a run records."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.cli import main
from bench.errors import BadInput
from bench.record import layer
from bench.strict import Invalid, Obj
from bench.versions import candidates, state
from bench.versions.bisect import BAD, GOOD, SKIPPED, Bisect, Candidate
from bench.versions.layers import layer_key, pins
from bench.versions.wants import parse_want, tree_hash
from tests.conftest import REFERENCE
from tests.sweep_helpers import assert_one_error_line
from tests.version_helpers import git


def test_a_with_is_requirements_joined_by_plus_and_a_local_label_stays_with_its_version():
    want = parse_want("torch==2.9.1+cpu+diffusers==0.40.0")
    assert [i.text for i in want.items] == ["torch==2.9.1+cpu", "diffusers==0.40.0"]
    assert [i.name for i in want.items] == ["torch", "diffusers"]
    (one,) = parse_want("diffusers>=0.40,<0.42").items
    assert one.name == "diffusers" and one.path is None


def test_a_with_may_be_a_checkout_or_a_wheel(tmp_path):
    checkout = tmp_path / "pkg"
    checkout.mkdir()
    (checkout / "pyproject.toml").write_text("[project]\nname='pkg'\n")
    (item,) = parse_want(str(checkout)).items
    assert item.path == checkout.resolve() and item.name is None
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    wheel.write_bytes(b"zip")
    assert parse_want(f"{wheel}+diffusers==0.41.0").items[0].path == wheel


@pytest.mark.parametrize(
    "text, says",
    [
        ("", "is empty"),
        ("diffusers==0.41.0+", "empty part"),
        ("diffusers==0.41.0+diffusers==0.42.0", "names diffusers more than once"),
        ("diffusers @ https://example.invalid/d.whl", "names a URL"),
        ("not a requirement!", "neither a requirement"),
        ("./no-such-checkout", "cannot be read"),
    ],
)
def test_a_bad_with_is_one_line(text, says):
    with pytest.raises(BadInput, match=says):
        parse_want(text)


def test_a_folder_without_a_package_or_a_link_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInput, match="not a package checkout"):
        parse_want(str(tmp_path / "empty"))
    (tmp_path / "link").symlink_to(tmp_path / "empty")
    with pytest.raises(BadInput, match="not a link"):
        parse_want(str(tmp_path / "link"))


def test_the_command_line_refuses_a_matrix_it_cannot_start(capsys, tmp_path):
    cases = [
        (["matrix", "cpu", "--with", "diffusers==0.41.0"], "at least two environments"),
        (["matrix", "cpu", "--with", "x==1", "--with", "x==1"], "given twice"),
        (["matrix", "--with", "x==1", "--with", "x==2"], "give a sweep"),
        (["matrix", "no-such-sweep", "--with", "x==1", "--with", "x==2"], "no-such-sweep"),
        (["matrix", "--resume", str(tmp_path)], "is not a matrix folder"),
        (["bisect", "cpu", "--good", "0.40.0", "--bad", "0.41.0"], "--package NAME"),
        (["bisect", "cpu", "--good", "0.40.0", "--package", "diffusers"], "--bad: is needed"),
        (["bisect", "--resume", str(tmp_path), "--good", "1"], "keeps what it was started with"),
    ]
    for argv, says in cases:
        code, out, err = cli(capsys, *argv, "--out", str(tmp_path / "out"))
        assert code == 2, argv
        assert says in assert_one_error_line(err), (argv, err)
    assert not (tmp_path / "out").exists()  # nothing was started


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_cache_key_is_what_the_layer_holds(tmp_path):
    versions = {"torch": "2.13.0", "numpy": "2.1.0"}
    a = parse_want("diffusers==0.41.0").items
    assert layer_key(a, versions) == layer_key(parse_want("diffusers==0.41.0").items, versions)
    assert layer_key(a, versions) != layer_key(parse_want("diffusers==0.42.0").items, versions)
    assert layer_key(a, versions) != layer_key(a, {**versions, "torch": "2.12.0"})  # another base torch
    tree = tmp_path / "pkg"
    (tree / ".git").mkdir(parents=True)
    (tree / "pyproject.toml").write_text("[project]\nname='pkg'\n")
    before = tree_hash(tree)
    (tree / ".git" / "index").write_text("git's own files are not the package")
    assert tree_hash(tree) == before
    (tree / "pyproject.toml").write_text("[project]\nname='pkg2'\n")
    assert tree_hash(tree) != before


def test_the_base_torch_build_is_pinned_unless_the_layer_names_it():
    versions = {"torch": "2.13.0+cu128", "nvidia-cudnn-cu12": "9.1", "triton": "3.4", "numpy": "2.1"}
    assert pins(set(), versions) == ["nvidia-cudnn-cu12==9.1", "torch==2.13.0+cu128", "triton==3.4"]
    assert pins({"torch"}, versions) == ["nvidia-cudnn-cu12==9.1", "triton==3.4"]


INDEX = """diffusers (0.42.1)
Available versions: 0.42.1, 0.42.0, 0.41.0, 0.40.0rc1, 0.40.0, 0.39.2, bogus
  INSTALLED: 0.42.1
"""


def test_releases_between_two_versions_come_from_the_index_answer():
    available = candidates.parse_index_versions(INDEX)
    assert [str(v) for v in available] == ["0.39.2", "0.40.0", "0.41.0", "0.42.0", "0.42.1"]
    assert candidates.between_releases(available, "0.40.0", "0.42.0") == ["0.40.0", "0.41.0", "0.42.0"]
    for good, bad, says in [
        ("0.42.0", "0.40.0", "must be older"),
        ("0.38.0", "0.42.0", "not a release"),
        ("x", "0.42.0", "released versions"),
    ]:
        with pytest.raises(BadInput, match=says):
            candidates.between_releases(available, good, bad)
    with pytest.raises(BadInput, match="without a list"):
        candidates.parse_index_versions("ERROR: nothing")


@pytest.fixture
def repo(tmp_path) -> tuple[Path, list[str]]:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.invalid")
    git(repo, "config", "user.name", "t")
    shas = []
    for n in range(4):
        (repo / "f.py").write_text(f"N = {n}\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"c{n}")
        shas.append(git(repo, "rev-parse", "HEAD"))
    return repo, shas


def test_commits_between_are_the_first_parent_line_and_each_exports_alone(repo, tmp_path):
    path, shas = repo
    assert candidates.between_commits(path, "HEAD~3", "main") == shas
    assert candidates.between_commits(path, shas[1], shas[2]) == shas[1:3]
    folder = candidates.export(path, shas[1], tmp_path / "exports")
    assert (folder / "f.py").read_text() == "N = 1\n" and not (folder / ".git").exists()
    for good, bad, says in [
        (shas[2], shas[1], "not an ancestor"),
        (shas[1], shas[1], "same commit"),
        ("no-such-ref", shas[1], "not a commit"),
        ("--upload-pack=x", shas[1], "not a commit"),
    ]:
        with pytest.raises(BadInput, match=says):
            candidates.between_commits(path, good, bad)
    with pytest.raises(BadInput, match="top of a git checkout"):
        candidates.between_commits(tmp_path, "a", "b")


def _bisect(tmp_path, n: int, first_bad: int, broken: set[int] = frozenset()) -> Bisect:
    """A bisect of n candidates whose measurements are faked: candidate i is bad from
    first_bad on, and those in `broken` cannot be installed."""
    sweep = tmp_path / "s.yaml"
    sweep.write_text("name: s\n")
    b = Bisect(
        tmp_path,
        state.SweepFile.of(str(sweep)),
        "package",
        "pkg",
        [Candidate(f"1.{i}") for i in range(n)],
        tmp_path / "envs",
    )
    measured: list[int] = []

    def measure(cache, i):
        measured.append(i)
        return "could not be installed: no wheel" if i in broken else None

    b._measure = measure
    b._regressions = lambda i: [("case", "time")] if i >= first_bad else []
    b._worse = lambda i: i >= first_bad
    b.measured = measured
    return b


@pytest.mark.parametrize("n, first_bad", [(2, 1), (5, 2), (9, 1), (9, 8), (33, 17)])
def test_the_search_names_the_first_bad_in_about_log2_steps(tmp_path, n, first_bad):
    b = _bisect(tmp_path, n, first_bad)
    b.bisect(lambda line: None)
    assert b.bounds() == (first_bad - 1, first_bad)
    assert b.measured[:2] == [0, n - 1]
    assert len(b.measured) <= 2 + (n - 2).bit_length()
    assert len(set(b.measured)) == len(b.measured)  # no candidate twice
    saved = json.loads((tmp_path / "bisect.json").read_text())
    assert [c["verdict"] for c in saved["candidates"]].count(BAD) >= 1


def test_a_skipped_candidate_is_stepped_around_and_may_leave_a_range(tmp_path):
    b = _bisect(tmp_path, 9, 4, broken={4})
    b.bisect(lambda line: None)
    assert b.candidates[4].verdict == SKIPPED and "no wheel" in b.candidates[4].why
    assert b.bounds() == (3, 5)  # 4 could not be measured: bad is 4 or 5
    assert b.next_index() is None


def test_good_and_bad_that_do_not_differ_stop_the_bisect(tmp_path):
    from bench.versions.bisect import CannotBisect

    b = _bisect(tmp_path, 5, first_bad=99)
    b._not_reproduced = lambda last: "the regression does not reproduce"
    with pytest.raises(CannotBisect, match="does not reproduce"):
        b.bisect(lambda line: None)
    assert b.measured == [0, 4]


def test_a_resumed_bisect_reads_its_state_strictly(tmp_path, capsys):
    b = _bisect(tmp_path, 5, 2)
    b.candidates[0].verdict, b.candidates[0].run = GOOD, "r0"
    b.save()
    back = Bisect.resume(tmp_path)
    assert [c.ref for c in back.candidates] == [c.ref for c in b.candidates]
    assert back.candidates[0].verdict == GOOD and back.trust_code is False
    path = tmp_path / "bisect.json"
    good = json.loads(path.read_text())
    for change, says in [
        ({"format": 9}, "format"),
        ({"kind": "matrix"}, "kind"),
        ({"candidates": [{"ref": "1.0", "run": "../../etc"}, {"ref": "1.1"}]}, "run"),
        ({"candidates": [{"ref": "1.0", "verdict": "maybe"}, {"ref": "1.1"}]}, "verdict"),
        ({"candidates": [{"ref": "-r/etc/x"}, {"ref": "1.1"}]}, "ref"),
        ({"candidates": [{"ref": "1.0", "verdict": "bad", "run": "r"}, {"ref": "1.1"}]}, "begin with good"),
        ({"candidates": [{"ref": "1.0", "verdict": "good"}, {"ref": "1.1"}]}, "good without a run"),
        ({"signature": [{"case_id": "x", "aspect": "colour"}]}, "aspect"),
        ({"signature": [{"case_id": "x", "aspect": "time"}]}, "exactly when bad"),
        ({"source": "-r/tmp/requirements.txt"}, "not a package name"),
        ({"mode": "repo"}, "ref"),  # versions are not commits
    ]:
        path.write_text(json.dumps({**good, **change}))
        code, out, err = cli(capsys, "bisect", "--resume", str(tmp_path))
        assert code == 2 and says in assert_one_error_line(err), (change, err)
    path.write_text(json.dumps(good))
    (tmp_path / "s.yaml").write_text("name: changed\n")
    code, out, err = cli(capsys, "bisect", "--resume", str(tmp_path))
    assert code == 2 and "changed since" in assert_one_error_line(err)


def test_a_resume_builds_what_its_state_file_names_only_with_trust_code(tmp_path):
    from bench.versions.layers import Cache

    cache = Cache(tmp_path / "envs", "pip", say=lambda line: None)
    items = parse_want("diffusers==0.41.0").items
    with pytest.raises(BadInput, match="give --trust-code to let this resume build it"):
        cache.ensure(items, ("diffusers==0.41.0",), "diffusers 0.41.0", may_build=False)
    assert not any((tmp_path / "envs").glob("[!.]*"))  # nothing was built


def test_matrix_and_bisect_refuse_what_they_cannot_measure_before_anything_runs(tmp_path, capsys):
    sweep = tmp_path / "gpus.yaml"
    sweep.write_text(
        "name: g\nmodels: [sd-v1]\nops: [decode]\nresolutions: [64]\ndtype: float32\n"
        "devices: [cuda:0, cuda:1]\nweights: random\n"
    )
    code, out, err = cli(
        capsys, "matrix", str(sweep), "--with", "a==1", "--with", "a==2", "--out", str(tmp_path / "o")
    )
    assert code == 2 and "on one device" in assert_one_error_line(err)
    one = tmp_path / "one.yaml"
    one.write_text(sweep.read_text().replace("devices: [cuda:0, cuda:1]", "device: cpu"))
    code, out, err = cli(
        capsys,
        "bisect",
        str(one),
        "--package",
        "diffusers",
        "--good",
        "0.40.0",
        "--bad",
        "0.41.0",
        "--case",
        "encode",
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 2 and "'encode' is in no case of the sweep (sd-v1 decode 64x64" in assert_one_error_line(
        err
    )
    assert not (tmp_path / "o").exists()


def test_a_run_records_its_layer_and_readers_check_it(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(REFERENCE, run)
    meta = json.loads((run / "meta.json").read_text())
    recorded = {
        "want": ["diffusers==0.41.0"],
        "key": "0" * 20,
        "commit": None,
        "label": "diffusers==0.41.0",
        "packages": {"diffusers": "0.41.0", "huggingface-hub": "1.33.0"},
    }
    meta["environment"]["layer"] = recorded
    (run / "meta.json").write_text(json.dumps(meta))
    from bench.record.store import open_run

    found = layer.from_environment(open_run(run).meta.environment)
    assert found.version("diffusers") == "0.41.0" and found.version("huggingface_hub") == "1.33.0"
    meta["environment"]["layer"] = {**recorded, "packages": {"diffusers": 41}}
    (run / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(BadInput, match="environment.layer.packages.diffusers"):
        open_run(run)
    with pytest.raises(Invalid, match="want"):
        layer.read(Obj({"want": [], "key": "0" * 20}))


def test_history_orders_runs_by_the_version_they_recorded(tmp_path):
    from bench.analysis.history import history, render

    for n, (version, when) in enumerate([("0.42.0", "01"), ("0.9.0", "02"), ("0.41.0", "03")]):
        run = tmp_path / f"run{n}"
        shutil.copytree(REFERENCE, run)
        meta = json.loads((run / "meta.json").read_text())
        meta["run_id"] = f"run{n}"
        meta["started_at"] = f"2026-12-{when}T00:00:00Z"
        meta["environment"]["diffusers"] = version
        (run / "meta.json").write_text(json.dumps(meta))
    h = history(tmp_path, by="diffusers")
    assert h.versions == ["0.9.0", "0.41.0", "0.42.0"]  # as versions, not as text or by date
    assert [r.run_id for r in h.runs] == ["run1", "run2", "run0"]
    assert "by diffusers version" in render(h)
    with pytest.raises(BadInput, match="no run of this device recorded a version of 'nothing'"):
        history(tmp_path, by="nothing")


def test_plots_name_runs_of_one_device_by_their_environment(tmp_path):
    from bench.analysis.plot_axes import load

    folders = []
    for version in ("0.41.0", "0.42.0"):
        run = tmp_path / version
        shutil.copytree(REFERENCE, run)
        meta = json.loads((run / "meta.json").read_text())
        meta["run_id"] = f"run-{version}"
        meta["environment"]["layer"] = {"want": [f"diffusers=={version}"], "key": "0" * 20}
        (run / "meta.json").write_text(json.dumps(meta))
        folders.append(run)
    labels = [r.label for r in load(folders)]
    assert [label.split(", ")[-1] for label in labels] == ["diffusers==0.41.0", "diffusers==0.42.0"]
