"""bench/configs/sweep.schema.json: made from the field table, named by the shipped
sweeps, and never stricter than the sweep reader."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.cli import main
from bench.errors import BadInput
from bench.models.registry import load_registry
from bench.shipped import CONFIGS_DIR, names_in
from bench.sweep.config import from_dict
from bench.sweep.fields import FIELDS
from bench.sweep.schema import render, sweep_schema
from tests.sweep_helpers import base_sweep

SCHEMA_FILE = CONFIGS_DIR / "sweep.schema.json"
FIRST_LINE = "# yaml-language-server: $schema=sweep.schema.json"
KNOWN = load_registry()


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_shipped_file_is_what_the_field_table_makes(capsys):
    made = render(sweep_schema(list(KNOWN)))
    assert SCHEMA_FILE.read_text() == made, "run: vae-bench schema > bench/configs/sweep.schema.json"
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == made


def test_every_field_is_described_and_a_models_entry_takes_the_axes():
    schema = sweep_schema(list(KNOWN))
    assert list(schema["properties"]) == list(FIELDS)
    assert all(p.get("description") for p in schema["properties"].values())
    entry = schema["properties"]["models"]["anyOf"][0]["anyOf"][1]
    axes = [n for n, f in FIELDS.items() if f.per_model]
    assert list(entry["properties"]) == ["name", *axes]
    assert schema["required"] == ["name", "models", "ops"]  # resolutions: not for audio models alone


def test_each_shipped_sweep_names_the_schema_and_passes_it(validator):
    sweeps = names_in(CONFIGS_DIR)
    assert {"cpu", "default", "docs", "variants", "video"} <= set(sweeps)
    for name in sweeps:
        path = CONFIGS_DIR / f"{name}.yaml"
        assert path.read_text().splitlines()[0] == FIRST_LINE, path
        assert not list(validator.iter_errors(yaml.safe_load(path.read_text()))), path


BAD = [
    {"bogus": 1},
    {"ops": "train"},
    {"ops": []},
    {"dtype": "float8"},
    {"resolutions": "big"},
    {"resolutions": [63]},
    {"repeats": 0},
    {"precision": 2},
    {"tiled": "yes"},
    {"device": "tpu"},
    {"weights": "magic"},
    {"tiling": {"sd-v1": {"tile_size": 256}}},
    {"tiling": {"sd-v1": {"tile_overlap_factor": 1.5}}},
    {"models": [{"name": "sd-v1", "bogus": 1}]},
    {"models": [{"dtype": "float32"}]},
    {"devices": ["cuda:0", "cuda:0"]},
    {"device_label": ""},
    {"quality": "float16"},
    {"max_time": "auto"},
]


@pytest.mark.parametrize("change", BAD, ids=[next(iter(c)) + "-" + str(i) for i, c in enumerate(BAD)])
def test_what_the_schema_refuses_the_reader_refuses(validator, change):
    sweep = base_sweep(**change)
    assert list(validator.iter_errors(sweep)), change
    with pytest.raises(BadInput):
        from_dict(sweep, known=KNOWN)


# values the fields are tried with, right and wrong; the reader's verdict is the truth
POOL = {
    "name": ["t", "ok.name-1", "a b", "x" * 65, 5],
    "models": [
        "sd-v1",
        ["sd-v1", "sdxl"],
        ["sd-v1", "sd-v1"],
        [{"name": "sd-v1", "dtype": "float16", "tiling": {"tile_sample_min_size": 256}}],
        [{"name": "sdxl", "resolutions": [128]}, "sd-v1"],
        [],
        ["nope"],
    ],
    "ops": ["encode", ["encode", "decode"], "train", [], 3],
    "resolutions": [64, [64, "128x64"], " 64x64 ", 63, [0], "big", [True], 2**21],
    "frames": [None, [17], 5],
    "seconds": [None, [1, 2.5], 0, "ten"],
    "batch": [1, [1, 2], 0, "2", True, 5000],
    "dtype": ["float16", ["float32", "bfloat16"], "float8", []],
    "tiled": [True, [False, True], "yes", [1]],
    "tiling": [
        None,
        {"sd-v1": {"tile_sample_min_size": 256}},
        {"sd-v1": {"tile_sample_min_size": [256, 512], "tile_overlap_factor": 0.5}},
        {"sd-v1": {"bogus": 1}},
        {"sd-v1": {"tile_overlap_factor": 1.5}},
        {"sdxl": {"tile_sample_min_size": 256}},
        "x",
    ],
    "channels_last": [True, [False, True], "yes"],
    "compile": ["none", ["none", "default"], "fast"],
    "attention": ["sdpa", ["sdpa", "naive"], "flash"],
    "cudnn_benchmark": [False, 1],
    "slicing": [False, [True]],
    "quality": [False, True, "float32", "float16", 1],
    "warmup": [1, 0, 2.5, True, 3],
    "warmup_time": ["auto", 0.5, -1, "fast"],
    "repeats": ["auto", 5, 0, "5"],
    "precision": [0.01, 0, 1, 0.5, True],
    "min_repeats": [5, 0, 400],
    "min_time": ["auto", 1, -1, 30],
    "max_time": [20, 0, 1e9, "auto", 10],
    "max_repeats": [300, 0, 4],
    "device": ["auto", "cpu", "cuda:1", "tpu", "all", "cpu\n"],
    "devices": [None, ["cuda:0"], ["cuda:0", "cuda:0"], ["cpu"], []],
    "device_label": [None, "RTX 4090 (300 W)", "", "x" * 81],
    "weights": ["auto", "random", "magic"],
    "memory_metric": ["auto", "reserved", "bogus"],
    "output": ["results/runs", "", 5],
}


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(POOL)), st.integers(0, 7), max_size=5))
def test_the_schema_never_refuses_a_sweep_the_reader_takes(validator, picks):
    change = {f: POOL[f][i % len(POOL[f])] for f, i in picks.items()}
    sweep = base_sweep(**change)
    try:
        from_dict(sweep, known=KNOWN)
    except BadInput:
        return  # the schema may or may not see it: some rules need the registry or other fields
    assert not [e.message for e in validator.iter_errors(sweep)], change
