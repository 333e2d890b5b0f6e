"""`vae-bench run SWEEP key=value ...`: one-off changes to a sweep, checked as the file
is checked and kept in meta.json as given."""

from __future__ import annotations

import json

import pytest
import yaml

from bench.cli import main
from bench.errors import BadInput
from bench.record.run import RunMeta
from bench.record.store import open_run
from bench.sweep.config import load_sweep
from bench.sweep.overrides import parse
from tests.cli_helpers import only_run


def test_values_read_as_yaml_scalars_and_commas_make_lists():
    assert parse("ops=decode") == (["ops"], "decode")
    assert parse("resolutions=512,1024") == (["resolutions"], [512, 1024])
    assert parse("repeats=5") == (["repeats"], 5)
    assert parse("tiled=false,true") == (["tiled"], [False, True])
    assert parse("tiling.sd-v1.tile_sample_min_size=256") == (
        ["tiling", "sd-v1", "tile_sample_min_size"],
        256,
    )


def test_an_override_is_the_same_sweep_as_the_file_that_says_it(write_sweep):
    plain = write_sweep(ops=["encode"], resolutions=[32])
    edited = write_sweep("edited.yaml", ops=["decode"], resolutions=[32, 40], repeats=3)
    got = load_sweep(plain, ("ops=decode", "resolutions=32,40", "repeats=3"))
    assert got == load_sweep(edited) and got.overrides == ("ops=decode", "resolutions=32,40", "repeats=3")
    assert load_sweep(plain) != got


@pytest.mark.parametrize(
    "override, says",
    [
        ("ops=delete", "override ops: 'delete' is not allowed; allowed: encode, decode"),
        ("repeats=-1", "override repeats: must be auto or a positive integer"),
        ("bogus=1", "override bogus: unknown key; allowed:"),
        ("resolutions=99999999", "override resolutions"),
        ("ops", "'ops' is not key=value"),
        ("ops=", "ops: '': give a value"),
        ("ops={a: 1}", "give a value, or values separated by commas"),
        ("repeats.x=1", "repeats is not a mapping in the sweep"),
    ],
)
def test_a_bad_override_is_one_line_and_nothing_is_written(write_sweep, tmp_path, capsys, override, says):
    sweep = write_sweep()
    assert main(["run", str(sweep), override]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err
    assert not (tmp_path / "runs").exists()


def test_a_resumed_run_takes_no_override(tmp_path, capsys):
    assert main(["run", "--resume", str(tmp_path), "ops=decode"]) == 2
    assert "a resumed run keeps its sweep; overrides are for a new run" in capsys.readouterr().err


def test_meta_keeps_the_overrides_as_given():
    meta = RunMeta(run_id="r", name="t", status="complete", overrides=["ops=decode", "repeats=5"])
    data = meta.to_json()
    assert data["overrides"] == ["ops=decode", "repeats=5"]
    assert RunMeta.from_json(json.loads(json.dumps(data))).overrides == ["ops=decode", "repeats=5"]
    assert "overrides" not in RunMeta(run_id="r").to_json()  # a run without any says nothing


@pytest.mark.slow
def test_a_run_with_overrides_measures_and_records_them(write_sweep, tmp_path, capsys):
    sweep = write_sweep(ops=["encode"], resolutions=[32])
    assert main(["run", str(sweep), "ops=decode", "resolutions=32,40"]) == 0
    run = only_run(tmp_path / "runs")
    assert capsys.readouterr().out.splitlines()[-1] == str(run)
    stored = open_run(run)
    assert stored.meta.overrides == ["ops=decode", "resolutions=32,40"]
    assert stored.meta.config["ops"] == ["decode"] and len(stored.records) == 2
    assert yaml.safe_load(sweep.read_text())["ops"] == ["encode"]  # the file is left as it was

    # --format json: stdout is one document naming the run; the report went to stderr
    assert main(["run", str(sweep), "repeats=3", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    (second,) = doc["data"]["runs"]
    assert doc["command"] == "run" and doc["data"]["ending"] == "ok" and second != str(run)
    assert open_run(second).meta.overrides == ["repeats=3"] and "run stored in" in err


def test_models_drops_the_files_tiling_of_the_models_it_leaves_out(write_sweep):
    sweep = write_sweep(models=["tiny", "tiny-slow"], tiling={"tiny-slow": {"tile_sample_min_size": 32}})
    assert load_sweep(sweep, ("models=tiny",)).tiling == {}
    kept = load_sweep(sweep, ("models=tiny-slow",))
    assert kept.tiling == {"tiny-slow": {"tile_sample_min_size": 32}}
    # tiling the command line gives is its own: a model it leaves out is still refused
    with pytest.raises(BadInput, match="not in `models`"):
        load_sweep(sweep, ("models=tiny", "tiling.tiny-slow.tile_sample_min_size=32"))
