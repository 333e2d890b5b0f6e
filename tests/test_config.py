"""Sweep files: bad input stops with one line and writes nothing; valid input parses
into the `Sweep` it says; a sweep expands into the cases it measures. (`run --resume`
is tests.test_resume.)

Everything here runs on CPU and never runs a sweep: a guard makes any test that
would start measuring fail at once.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from bench.cli import main
from bench.errors import BadInput
from bench.record.case import Case
from bench.sweep.cases import expand
from bench.sweep.config import Sweep, from_dict, load_sweep
from bench.sweep.fields import FIELDS, REQUIRED
from tests.sweep_helpers import (
    CONFIGS,
    ROOT,
    SD_V1_JSON,
    Workspace,
    assert_one_error_line,
    base_sweep,
    reject,
    run_cli,
    tree,
    workspace,
)

KNOWN_MODELS = ("sd-v1", "sdxl", "flux", "sd3")


def _torch_has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


needs_no_cuda = pytest.mark.skipif(_torch_has_cuda(), reason="this test needs a machine without CUDA")


@pytest.fixture
def ws(tmp_path, monkeypatch):
    return workspace(tmp_path, monkeypatch)


# ---------------------------------------------------------------- 1. bad sweep files

BAD_RESOLUTIONS = [500, 0, -8, "512x100", "abc", True, 512.0, "100x512", "512x", "0x512"]


@pytest.mark.parametrize("value", BAD_RESOLUTIONS, ids=[repr(v) for v in BAD_RESOLUTIONS])
def test_resolution_not_a_positive_multiple_of_8(ws, capsys, value):
    path = ws.sweep(base_sweep(resolutions=[512, value]))
    reject(ws, capsys, path, "resolutions", repr(value), "positive multiple of 8", "768x512")


@pytest.mark.parametrize("value", [500, "abc"], ids=["scalar-int", "scalar-str"])
def test_resolution_given_as_scalar_is_checked_too(ws, capsys, value):
    path = ws.sweep(base_sweep(resolutions=value))
    reject(ws, capsys, path, "resolutions", repr(value), "multiple of 8")


# (id, fields replaced in the base sweep, substrings the one line must hold)
BAD_FIELDS = [
    (
        "unknown-model",
        {"models": ["sd-v1", "nope"]},
        ["models", "unknown model 'nope'", "known: " + ", ".join(KNOWN_MODELS)],
    ),
    ("unknown-model-scalar", {"models": "sd-v2"}, ["models", "'sd-v2'", "sdxl"]),
    (
        "unknown-dtype",
        {"dtype": ["float16", "float64"]},
        ["dtype", "'float64'", "allowed: float16, bfloat16, float32"],
    ),
    ("unknown-dtype-scalar", {"dtype": "fp16"}, ["dtype", "'fp16'", "float16, bfloat16, float32"]),
    ("unknown-op", {"ops": ["encode", "roundtrip"]}, ["ops", "'roundtrip'", "encode, decode"]),
    ("models-int", {"models": 5}, ["models", "must be a model name", "got 5"]),
    ("models-empty", {"models": []}, ["models", "must not be empty"]),
    ("resolutions-empty", {"resolutions": []}, ["resolutions", "must not be empty"]),
    ("repeats-str", {"repeats": "three"}, ["repeats", "positive integer", "'three'"]),
    ("repeats-zero", {"repeats": 0}, ["repeats", "positive integer", "got 0"]),
    ("repeats-bool", {"repeats": True}, ["repeats", "positive integer", "True"]),
    ("repeats-word", {"repeats": "many"}, ["repeats", "auto or a positive integer", "'many'"]),
    ("precision-one", {"precision": 1}, ["precision", "fraction of the median", "got 1"]),
    ("precision-zero", {"precision": 0}, ["precision", "(0, 1)"]),
    ("precision-word", {"precision": "tight"}, ["precision", "'tight'"]),
    ("warmup-time-negative", {"warmup_time": -1}, ["warmup_time", "auto or a number of seconds"]),
    ("min-time-word", {"min_time": "long"}, ["min_time", "'long'"]),
    ("max-time-zero", {"max_time": 0}, ["max_time", "above 0"]),
    ("max-time-below-min", {"min_time": 5, "max_time": 2}, ["max_time", "at least min_time"]),
    ("max-time-inf", {"max_time": float("inf")}, ["max_time", "number of seconds"]),
    ("min-repeats-zero", {"min_repeats": 0}, ["min_repeats", "positive integer"]),
    ("max-below-min-repeats", {"min_repeats": 10, "max_repeats": 5}, ["max_repeats", "at least min_repeats"]),
    ("warmup-zero", {"warmup": 0}, ["warmup", "integer >= 1", "got 0"]),
    ("warmup-float", {"warmup": 1.5}, ["warmup", "integer >= 1", "1.5"]),
    ("batch-zero", {"batch": [1, 0]}, ["batch", "positive integer", "got 0"]),
    ("tiled-str", {"tiled": "yes"}, ["tiled", "true, false or a list of them"]),
    ("tiled-list-str", {"tiled": [False, "yes"]}, ["tiled", "true, false"]),
    ("tiling-not-mapping", {"tiling": ["sd-v1"]}, ["tiling", "must map model names"]),
    ("tiling-knobs-not-mapping", {"tiling": {"sd-v1": 512}}, ["tiling.sd-v1", "mapping of tiling knobs"]),
    ("name-with-space", {"name": "my sweep"}, ["name", "letters, digits", "'my sweep'"]),
    ("name-int", {"name": 7}, ["name", "got 7"]),
    ("unknown-device", {"device": "tpu"}, ["device", "auto, cpu, cuda, cuda:N or all", "'tpu'"]),
    ("unknown-weights", {"weights": "maybe"}, ["weights", "auto, pretrained, random", "'maybe'"]),
    (
        "unknown-memory-metric",
        {"memory_metric": "peak"},
        ["memory_metric", "auto, reserved, allocated, nvml, process", "'peak'"],
    ),
    (
        "own-axis-named-by-its-place-in-models",
        {"models": ["sd-v1", {"name": "sdxl", "dtype": "fp8"}]},
        ["models[1].dtype: 'fp8' is not allowed"],
    ),
    ("output-empty", {"output": ""}, ["output", "folder path"]),
    ("registry-int", {"registry": 3}, ["registry", "path to a models.yaml"]),
    (
        "unknown-top-level-key",
        {"colour": "red"},
        ["colour", "unknown key", "allowed: ", "resolutions", "tiling", "warmup"],
    ),
    ("misspelt-key", {"resolution": [512]}, ["resolution: unknown key", "resolutions"]),
    ("missing-name", {"name": ...}, ["name", "missing (required)"]),
    ("missing-models", {"models": ...}, ["models", "missing (required)"]),
    ("missing-ops", {"ops": ...}, ["ops", "missing (required)"]),
    (
        "missing-resolutions",
        {"resolutions": ...},
        ["resolutions", "missing (required for image and video models"],
    ),
    (
        "tiling-unknown-knob",
        {"tiled": [False, True], "tiling": {"sd-v1": {"tile_size": 256}}},
        [
            "tiling.sd-v1.tile_size",
            "unknown tiling knob",
            "allowed: tile_sample_min_size, tile_overlap_factor",
        ],
    ),
    (
        "tiling-model-not-in-models",
        {"tiling": {"sdxl": {"tile_sample_min_size": 512}}},
        ["tiling.sdxl", "not in `models`"],
    ),
    (
        "tiling-unknown-model",
        {"tiling": {"nope": {"tile_sample_min_size": 512}}},
        ["tiling.nope", "not in `models`"],
    ),
    (
        "tile-size-100",
        {"tiled": [False, True], "tiling": {"sd-v1": {"tile_sample_min_size": 100}}},
        ["tiling.sd-v1.tile_sample_min_size", "a positive multiple of 8", "got 100"],
    ),
    (
        "tile-size-zero",
        {"tiling": {"sd-v1": {"tile_sample_min_size": 0}}},
        ["tiling.sd-v1.tile_sample_min_size", "positive multiple of 8"],
    ),
    (
        "tile-size-str",
        {"tiling": {"sd-v1": {"tile_sample_min_size": "512"}}},
        ["tiling.sd-v1.tile_sample_min_size", "positive multiple of 8", "'512'"],
    ),
    (
        "tile-overlap-1",
        {"tiling": {"sd-v1": {"tile_overlap_factor": 1.0}}},
        ["tiling.sd-v1.tile_overlap_factor", "[0, 1)", "1.0"],
    ),
    (
        "tile-overlap-negative",
        {"tiling": {"sd-v1": {"tile_overlap_factor": -0.1}}},
        ["tiling.sd-v1.tile_overlap_factor", "[0, 1)"],
    ),
    ("device-label-empty", {"device_label": "  "}, ["device_label", "1 to 80 characters"]),
    ("device-label-pipe", {"device_label": "RTX | 4090"}, ["device_label", "table cell"]),
    ("device-label-number", {"device_label": 4090}, ["device_label", "got 4090"]),
    (
        "device-label-several-gpus",
        {"device": "all", "device_label": "box"},
        ["device_label", "several GPUs"],
    ),
    (
        "memory-metric-reserved-on-cpu",
        {"device": "cpu", "memory_metric": "reserved"},
        ["memory_metric", "'reserved'", "needs a CUDA device", "auto or process"],
    ),
    (
        "memory-metric-nvml-on-cpu",
        {"device": "cpu", "memory_metric": "nvml"},
        ["memory_metric", "'nvml'", "auto or process"],
    ),
]


@pytest.mark.parametrize("fields,needles", [c[1:] for c in BAD_FIELDS], ids=[c[0] for c in BAD_FIELDS])
def test_bad_field(ws, capsys, fields, needles):
    path = ws.sweep(base_sweep(**fields))
    reject(ws, capsys, path, *needles)


def test_bad_field_with_out_leaves_out_absent(ws, capsys):
    path = ws.sweep(base_sweep(models=["nope"]))
    reject(ws, capsys, path, "models", "'nope'", extra=("--out", str(ws.out)))


@needs_no_cuda
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_device_without_a_gpu(ws, capsys, device):
    path = ws.sweep(base_sweep(device=device, memory_metric="reserved"))
    reject(
        ws,
        capsys,
        path,
        "device",
        repr(device),
        "no CUDA device",
        "use auto or cpu",
        extra=("--out", str(ws.out)),
    )


@needs_no_cuda
def test_reserved_metric_with_auto_device_on_a_cpu_machine(ws, capsys):
    path = ws.sweep(base_sweep(device="auto", memory_metric="reserved"))
    reject(ws, capsys, path, "memory_metric", "'reserved'", "auto or process")


@needs_no_cuda
def test_dry_run_checks_the_device_too(ws, capsys):
    path = ws.sweep(base_sweep(device="cuda"))
    reject(ws, capsys, path, "device", "'cuda'", extra=("--dry-run",))


BAD_TEXT = [
    (
        "yaml-unclosed-list",
        "name: t\nmodels: [sd-v1\nops: [encode]\nresolutions: [64]\n",
        ["YAML syntax error", "line "],
    ),
    (
        "yaml-bad-indent",
        "name: t\nmodels:\n  - sd-v1\n - sdxl\nops: encode\n",
        ["YAML syntax error", "line "],
    ),
    ("yaml-tab", "name: t\n\tmodels: [sd-v1]\n", ["YAML syntax error"]),
    (
        "key-twice",
        "name: t\nmodels: [sd-v1]\nops: [encode]\nresolutions: [64]\nmodels: [sdxl]\n",
        ["line 5: key 'models' given twice (first on line 2)"],
    ),
    (
        "key-twice-in-a-model",
        "name: t\nmodels:\n  - {name: sd-v1, dtype: float16, dtype: float32}\n"
        "ops: [encode]\nresolutions: [64]\n",
        ["key 'dtype' given twice"],
    ),
    (
        "empty-file",
        "",
        ["empty file", "name, models, ops, and resolutions (image and video models) or seconds"],
    ),
    (
        "only-comments",
        "# nothing here yet\n\n",
        ["empty file", "name, models, ops, and resolutions (image and video models) or seconds"],
    ),
    ("a-list", "- name: t\n- models: [sd-v1]\n", ["must be a mapping of sweep fields"]),
    ("a-scalar", "just some words\n", ["must be a mapping of sweep fields"]),
    (
        "unknown-knob-via-yaml",
        (
            "name: t\nmodels: sd-v1\nops: encode\nresolutions: 64\ndevice: cpu\n"
            "tiling:\n  sd-v1: {tile_sample_min_size: 256, overlap: 0.5}\n"
        ),
        ["tiling.sd-v1.overlap", "unknown tiling knob", "tile_overlap_factor"],
    ),
]


@pytest.mark.parametrize("text,needles", [c[1:] for c in BAD_TEXT], ids=[c[0] for c in BAD_TEXT])
def test_bad_file(ws, capsys, text, needles):
    path = ws.sweep(text)
    reject(ws, capsys, path, *needles)


def test_yaml_syntax_error_names_the_line(ws, capsys):
    path = ws.sweep("name: t\nmodels: [sd-v1]\nops: [encode]\nresolutions: 'unclosed\n")
    line = reject(ws, capsys, path, "YAML syntax error")
    assert re.search(r"line [45]:", line), line


def test_missing_file(ws, capsys):
    path = ws.root / "no-such-sweep.yaml"
    reject(ws, capsys, path, "no such file")


def test_folder_instead_of_a_file(ws, capsys):
    path = ws.root / "configs"
    path.mkdir()
    reject(ws, capsys, path, "is a folder")


def test_missing_registry_file(ws, capsys):
    path = ws.sweep(base_sweep(registry="missing-models.yaml"))
    line = reject(ws, capsys, path, "registry: no such file")
    # the registry path is resolved against the sweep file's folder, not the cwd
    assert str(ws.root / "missing-models.yaml") in line


def test_non_utf8_file_is_bad_input(ws, capsys):
    path = ws.sweep(b"name: caf\xe9\nmodels: [sd-v1]\nops: [encode]\nresolutions: [64]\n")
    reject(ws, capsys, path, "UTF-8")


def test_unknown_key_with_a_newline_is_still_one_line(ws, capsys):
    path = ws.sweep('name: t\nmodels: [sd-v1]\nops: [encode]\nresolutions: [64]\n"dtype\\nbatch": 1\n')
    reject(ws, capsys, path, "unknown key")


# ------------------------------------------------------------- pretrained weights


def test_pretrained_weights_not_reachable_local_folder(ws, capsys):
    registry = ws.registry(repo="./nowhere")
    path = ws.sweep(base_sweep(registry=registry.name, weights="pretrained"))
    assert load_sweep(path).registry == str(registry.resolve())  # the sweep itself is valid
    reject(ws, capsys, path, "weights", "sd-v1", "pretrained weights not reachable", "/nowhere;")
    assert not (ws.root / "nowhere").exists()


def test_pretrained_weights_folder_without_safetensors(ws, capsys):
    folder = ws.root / "weights"
    folder.mkdir()
    (folder / "config.json").write_text(SD_V1_JSON.read_text())
    (folder / "diffusion_pytorch_model.bin").write_bytes(b"not loaded")
    registry = ws.registry(repo=str(folder))
    path = ws.sweep(base_sweep(registry=str(registry), weights="pretrained"))
    reject(
        ws,
        capsys,
        path,
        "weights",
        "sd-v1",
        "only safetensors weights are loaded",
        extra=("--out", str(ws.out)),
    )


def test_pretrained_weights_not_reachable_on_an_offline_hub(ws, capsys, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    registry = ws.registry(repo="vae-bench-tests/no-such-repo")
    path = ws.sweep(base_sweep(registry=str(registry), weights="pretrained"))
    reject(
        ws,
        capsys,
        path,
        "weights",
        "sd-v1",
        "pretrained weights not reachable",
        "vae-bench-tests/no-such-repo",
    )


# ------------------------------------------------------------------ as a subprocess


def _subprocess(ws: Workspace, *argv: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "bench", "run", *argv],
        cwd=ws.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


SUBPROCESS_CASES = [
    pytest.param(base_sweep(models=["nope"]), ["models", "'nope'", "known:"], id="unknown-model"),
    pytest.param("name: t\nmodels: [sd-v1\nops: [encode]\n", ["YAML syntax error"], id="yaml-syntax"),
    pytest.param(base_sweep(resolutions=["512x100"]), ["resolutions", "multiple of 8"], id="bad-resolution"),
    pytest.param(
        base_sweep(device="cuda"), ["device", "'cuda'", "no CUDA"], id="cuda-without-gpu", marks=needs_no_cuda
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize("content,needles", SUBPROCESS_CASES)
@pytest.mark.parametrize("with_out", [False, True], ids=["output-field", "--out"])
def test_subprocess_bad_input(ws, content, needles, with_out):
    path = ws.sweep(content)
    before = tree(ws.root)
    proc = _subprocess(ws, str(path), *(["--out", str(ws.out)] if with_out else []))
    assert proc.returncode == 2, proc.stderr
    line = assert_one_error_line(proc.stderr)
    assert proc.stdout == ""
    assert str(path) in line
    for needle in needles:
        assert needle in line, line
    assert not ws.runs.exists() and not ws.out.exists()
    assert tree(ws.root) == before


# ------------------------------------------------------------------ 3. valid parsing


def test_resolutions_square_and_width_by_height(ws):
    sweep = load_sweep(ws.sweep(base_sweep(resolutions=[512, "768x512", " 64x1024 "])))
    assert sweep.resolutions == ((512, 512), (768, 512), (64, 1024))
    cases = expand(sweep, sweep.specs())
    # cases run smallest input first; width and height keep their sides
    assert [(c.width, c.height) for c in cases] == [(64, 1024), (512, 512), (768, 512)]
    assert [c.size_label for c in cases] == ["64x1024", "512x512", "768x512"]


def test_scalar_resolution(ws):
    assert load_sweep(ws.sweep(base_sweep(resolutions=512))).resolutions == ((512, 512),)
    assert load_sweep(ws.sweep(base_sweep(resolutions="16x8"))).resolutions == ((16, 8),)


def test_scalars_become_tuples(ws):
    sweep = load_sweep(
        ws.sweep(base_sweep(models="sdxl", ops="decode", dtype="bfloat16", batch=4, tiled=True))
    )
    assert sweep.models == ("sdxl",)
    assert sweep.ops == ("decode",)
    assert sweep.dtype == ("bfloat16",)
    assert sweep.batch == (4,)
    assert sweep.tiled == (True,)


MINIMAL = {"name": "minimal", "models": "sd-v1", "ops": ["encode", "decode"], "resolutions": [256]}


def test_a_sweep_leaving_fields_out_stores_the_documented_defaults(ws):
    """What meta.json holds of a sweep that gives only the required fields: every other
    field at its default, in the order meta.json has always stored them."""
    path = ws.sweep(MINIMAL, output=False)
    sweep = load_sweep(path)
    assert sweep.source == str(path)
    stored = json.loads(json.dumps(sweep.to_dict()))
    assert list(stored.items()) == [
        ("name", "minimal"),
        ("models", ["sd-v1"]),
        ("ops", ["encode", "decode"]),
        ("resolutions", ["256x256"]),
        ("frames", None),
        ("batch", [1]),
        ("dtype", ["float16"]),
        ("tiled", [False]),
        ("tiling", {}),
        ("channels_last", [False]),
        ("compile", ["none"]),
        ("attention", ["sdpa"]),
        ("cudnn_benchmark", [False]),
        ("slicing", [False]),
        ("quality", False),
        ("warmup", 1),
        ("warmup_time", "auto"),
        ("repeats", "auto"),
        ("precision", 0.01),
        ("min_repeats", 5),
        ("min_time", "auto"),
        ("max_time", 20.0),
        ("max_repeats", 300),
        ("device", "auto"),
        ("weights", "auto"),
        ("memory_metric", "auto"),
        ("output", "results/runs"),
        ("registry", None),
        ("threads", "auto"),
    ]


# The README's sweep-file block shows these fields at their defaults.
README_DEFAULTS = (
    "batch",
    "dtype",
    "warmup_time",
    "repeats",
    "precision",
    "min_repeats",
    "min_time",
    "max_time",
    "max_repeats",
    "device",
    "weights",
    "memory_metric",
    "output",
)


def test_the_readme_shows_the_defaults_a_sweep_gets():
    text = (ROOT / "README.md").read_text()
    block = text.split("## Sweep files", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    shown = yaml.safe_load(block)
    left_out = from_dict(MINIMAL)
    for name in README_DEFAULTS:
        given = from_dict({**MINIMAL, name: shown[name]})
        assert getattr(given, name) == getattr(left_out, name), name


def test_the_sweep_holds_the_field_table_in_its_order():
    """meta.json writes a sweep's fields in the Sweep's order: a field added to the table
    but not to the Sweep (or in another place) fails here. That a left-out field reads
    as its default is the test above, against README's figures."""
    names = [f.name for f in dataclasses.fields(Sweep)]
    assert names[: len(FIELDS)] == list(FIELDS)
    assert set(names[len(FIELDS) :]) == {"source", "overrides", "per_model", "known"}
    assert {name for name, f in FIELDS.items() if f.default is REQUIRED} <= set(MINIMAL)


def test_explicit_values_are_kept(ws):
    sweep = load_sweep(
        ws.sweep(
            base_sweep(
                warmup=3,
                repeats=9,
                device="cuda:1",
                weights="pretrained",
                memory_metric="allocated",
                output="elsewhere",
            )
        )
    )
    assert (sweep.warmup, sweep.repeats, sweep.device, sweep.weights, sweep.memory_metric, sweep.output) == (
        3,
        9,
        "cuda:1",
        "pretrained",
        "allocated",
        "elsewhere",
    )


def test_duplicates_collapse_in_name_lists(ws):
    sweep = load_sweep(
        ws.sweep(
            base_sweep(
                models=["sdxl", "sd-v1", "sdxl"],
                ops=["decode", "encode", "decode"],
                dtype=["float32", "float16", "float32"],
                tiled=[True, False, True],
            )
        )
    )
    # first occurrence wins, order is kept
    assert sweep.models == ("sdxl", "sd-v1")
    assert sweep.ops == ("decode", "encode")
    assert sweep.dtype == ("float32", "float16")
    assert sweep.tiled == (True, False)


def test_duplicates_collapse_in_resolutions_and_batch(ws):
    sweep = load_sweep(ws.sweep(base_sweep(resolutions=[512, "512x512", 256, 512], batch=[2, 1, 2])))
    assert sweep.resolutions == ((512, 512), (256, 256))
    assert sweep.batch == (2, 1)


def test_duplicate_resolutions_do_not_duplicate_cases(ws):
    sweep = load_sweep(ws.sweep(base_sweep(resolutions=[64, 64, "64x64"], batch=[1, 1])))
    ids = [c.case_id for c in expand(sweep, sweep.specs())]
    assert len(ids) == len(set(ids)) == 1


RICH = base_sweep(
    name="rich.sweep-1",
    models=["sd-v1", "sdxl"],
    ops=["encode", "decode"],
    resolutions=[256, "512x256"],
    dtype=["float16", "bfloat16"],
    batch=[1, 2],
    tiled=[False, True],
    tiling={"sd-v1": {"tile_sample_min_size": 128, "tile_overlap_factor": 0.5}},
    warmup=2,
    repeats=3,
    device="auto",
    weights="auto",
    memory_metric="auto",
)


def test_to_dict_round_trips(ws):
    sweep = load_sweep(ws.sweep(RICH))
    d = sweep.to_dict()
    assert "source" not in d
    assert d["resolutions"] == ["256x256", "512x256"]
    again = from_dict(d)
    assert again == sweep
    # and through JSON, as meta.json stores it
    assert from_dict(json.loads(json.dumps(d))) == sweep
    assert from_dict(json.loads(json.dumps(d))).to_dict() == d


def test_to_dict_round_trips_with_a_registry(ws):
    registry = ws.registry(repo="./nowhere", name="my-models.yaml")
    sweep = load_sweep(ws.sweep(base_sweep(registry="my-models.yaml")))
    assert sweep.registry == str(registry.resolve())
    d = json.loads(json.dumps(sweep.to_dict()))
    assert d["registry"] == str(registry.resolve())
    assert from_dict(d) == sweep
    # a local folder in a registry is relative to the registry file, like `config`
    assert from_dict(d).specs()["sd-v1"].repo == str(registry.parent.resolve() / "nowhere")


def test_the_registry_is_read_once(ws, monkeypatch):
    import bench.sweep.config

    reads = []
    real = bench.sweep.config.load_registry
    monkeypatch.setattr(bench.sweep.config, "load_registry", lambda path: reads.append(path) or real(path))
    sweep = load_sweep(ws.sweep(base_sweep(models=["sd-v1", "sdxl"])))
    assert set(sweep.specs()) == {"sd-v1", "sdxl"}
    again = bench.sweep.config.overridden(sweep, devices="cuda:1", label="box")
    assert again.specs() == sweep.specs() and again.device_label == "box"
    assert reads == [None]


def test_from_dict_without_a_source_names_a_placeholder():
    with pytest.raises(BadInput) as info:
        from_dict(base_sweep(repeats=0))
    assert info.value.field == "repeats"
    assert str(info.value).startswith("<sweep>: repeats: ")


def test_equality_ignores_the_source(ws):
    a = load_sweep(ws.sweep(RICH, name="a.yaml"))
    b = load_sweep(ws.sweep(RICH, name="b.yaml"))
    assert a.source != b.source
    assert a == b


@pytest.mark.parametrize("name", ["default", "docs", "cpu"])
def test_shipped_configs_load(name):
    sweep = load_sweep(CONFIGS / f"{name}.yaml")
    assert sweep.name == name
    assert set(sweep.models) <= set(KNOWN_MODELS)
    assert set(sweep.specs()) == set(sweep.models)
    assert sweep.tiled == (False, True)
    assert from_dict(sweep.to_dict()) == sweep
    assert len(expand(sweep, sweep.specs())) > 0


def test_shipped_docs_config_tiles_sd_v1_at_512():
    sweep = load_sweep(CONFIGS / "docs.yaml")
    assert sweep.models == ("sd-v1", "sdxl")
    assert sweep.axis("sd-v1", "tiling")["tile_sample_min_size"] == 512
    assert sweep.axis("sdxl", "tiling") is None
    assert (sweep.axis("sd-v1", "dtype"), sweep.axis("sdxl", "dtype")) == (("float16",), ("float32",))
    tiled = [c for c in expand(sweep, sweep.specs()) if c.tiled]
    assert {c.tiling_dict["tile_sample_min_size"] for c in tiled if c.model == "sd-v1"} == {512}
    assert {c.tiling_dict["tile_sample_min_size"] for c in tiled if c.model == "sdxl"} == {1024}


def test_shipped_cpu_config():
    sweep = load_sweep(CONFIGS / "cpu.yaml")
    assert sweep.models == ("sd-v1",)
    assert sweep.dtype == ("float32",)
    assert sweep.resolutions == ((128, 128), (256, 256))
    assert sweep.tiling == {"sd-v1": {"tile_sample_min_size": 128}}


# ----------------------------------------------------------------- 4. case expansion


def expanded(ws: Workspace, fields: dict, name: str = "sweep.yaml") -> tuple[Sweep, list[Case]]:
    sweep = load_sweep(ws.sweep(fields, name=name))
    return sweep, expand(sweep, sweep.specs())


def test_case_count_is_the_product(ws):
    sweep, cases = expanded(ws, RICH)
    n = (
        len(sweep.models)
        * len(sweep.dtype)
        * len(sweep.ops)
        * len(sweep.resolutions)
        * len(sweep.batch)
        * len(sweep.tiled)
    )
    assert n == 2 * 2 * 2 * 2 * 2 * 2
    assert len(cases) == n
    every = {(c.model, c.dtype, c.op, (c.width, c.height), c.batch, c.tiled) for c in cases}
    assert every == set(
        itertools.product(sweep.models, sweep.dtype, sweep.ops, sweep.resolutions, sweep.batch, sweep.tiled)
    )


@pytest.mark.parametrize("name,count", [("default", 3 * 2 * 3 * 2), ("docs", 2 * 2 * 4 * 2), ("cpu", 8)])
def test_case_count_of_shipped_configs(name, count):
    sweep = load_sweep(CONFIGS / f"{name}.yaml")
    assert len(expand(sweep, sweep.specs())) == count


def test_case_ids_unique_and_hex(ws):
    _, cases = expanded(ws, RICH)
    ids = [c.case_id for c in cases]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids)


CASE_IDS = """
import json, sys
from bench.sweep.cases import expand
from bench.sweep.config import from_dict
sweep = from_dict(json.loads(sys.argv[1]))
print(json.dumps([c.case_id for c in expand(sweep, sweep.specs())]))
"""


def test_case_ids_are_the_same_in_another_process_for_an_equal_sweep(ws):
    """A case id is a hash of what the case is: another interpreter (another
    PYTHONHASHSEED, other object ids), given the sweep with its keys and tiling knobs
    in another order, computes the same ids."""
    _, cases = expanded(ws, RICH)
    here = [c.case_id for c in cases]
    knobs = RICH["tiling"]["sd-v1"]
    reordered = dict(reversed(RICH.items()), tiling={"sd-v1": dict(reversed(knobs.items()))})
    for seed, raw in (("0", RICH), ("4242", reordered)):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(ROOT))
        proc = subprocess.run(
            [sys.executable, "-c", CASE_IDS, json.dumps(raw)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert json.loads(proc.stdout) == here, seed


def test_case_ids_ignore_what_is_not_a_case_parameter(ws):
    """Sweep name, warmup, repeats, output and key order do not change a case."""
    _, a = expanded(ws, RICH, name="a.yaml")
    other = dict(reversed(list(RICH.items())), name="renamed", warmup=5, repeats=11, output="x")
    _, b = expanded(ws, other, name="b.yaml")
    assert {c.case_id for c in a} == {c.case_id for c in b}


def test_case_ids_survive_params_round_trip(ws):
    _, cases = expanded(ws, RICH)
    for c in cases:
        back = Case.from_params(json.loads(json.dumps(c.params())))
        assert back == c
        assert back.case_id == c.case_id


def test_tile_size_changes_only_tiled_ids(ws):
    base = base_sweep(ops=["encode", "decode"], resolutions=[256, 512], tiled=[False, True])
    _, a = expanded(ws, {**base, "tiling": {"sd-v1": {"tile_sample_min_size": 256}}}, name="a.yaml")
    _, b = expanded(ws, {**base, "tiling": {"sd-v1": {"tile_sample_min_size": 128}}}, name="b.yaml")
    assert len(a) == len(b) == 8
    untiled_a = [c.case_id for c in a if not c.tiled]
    untiled_b = [c.case_id for c in b if not c.tiled]
    tiled_a = {c.case_id for c in a if c.tiled}
    tiled_b = {c.case_id for c in b if c.tiled}
    assert len(untiled_a) == len(tiled_a) == 4
    assert untiled_a == untiled_b
    assert not tiled_a & tiled_b


def test_overriding_a_knob_with_its_default_keeps_ids(ws):
    base = base_sweep(tiled=[False, True])
    _, a = expanded(ws, base, name="a.yaml")
    _, b = expanded(ws, {**base, "tiling": {"sd-v1": {"tile_sample_min_size": 256}}}, name="b.yaml")
    assert [c.case_id for c in a] == [c.case_id for c in b]


def test_tiling_in_force(ws):
    _, cases = expanded(ws, RICH)
    for c in cases:
        if not c.tiled:
            assert c.tiling is None and c.tiling_dict is None
            continue
        knobs = c.tiling_dict
        assert set(knobs) == {"tile_sample_min_size", "tile_overlap_factor", "tile_latent_min_size"}
        assert knobs["tile_latent_min_size"] == knobs["tile_sample_min_size"] // 8
        if c.model == "sd-v1":  # the sweep's override
            assert (knobs["tile_sample_min_size"], knobs["tile_overlap_factor"]) == (128, 0.5)
            assert knobs["tile_latent_min_size"] == 16
        else:  # sdxl: the registry's defaults
            assert (knobs["tile_sample_min_size"], knobs["tile_overlap_factor"]) == (1024, 0.25)
            assert knobs["tile_latent_min_size"] == 128


def test_partial_override_keeps_other_defaults(ws):
    _, cases = expanded(ws, base_sweep(tiled=True, tiling={"sd-v1": {"tile_overlap_factor": 0.125}}))
    (case,) = cases
    assert case.tiling_dict == {
        "tile_latent_min_size": 32,
        "tile_overlap_factor": 0.125,
        "tile_sample_min_size": 256,
    }


def test_cases_grouped_by_model_and_dtype(ws):
    sweep, cases = expanded(ws, RICH)
    keys = [(c.model, c.dtype) for c in cases]
    runs = [k for k, _ in itertools.groupby(keys)]
    assert len(runs) == len(set(runs)), f"a (model, dtype) group is split: {runs}"
    assert runs == list(itertools.product(sweep.models, sweep.dtype))
    per_group = len(sweep.ops) * len(sweep.resolutions) * len(sweep.batch) * len(sweep.tiled)
    assert all(len(list(g)) == per_group for _, g in itertools.groupby(keys))


def test_inside_a_group_ops_in_sweep_order_and_small_inputs_first(ws):
    fields = base_sweep(ops=["decode", "encode"], resolutions=[1024, 256, "512x256"], batch=[2, 1])
    _, cases = expanded(ws, fields)
    assert [c.op for c in cases] == ["decode"] * 6 + ["encode"] * 6
    for op in ("decode", "encode"):
        sizes = [(c.width * c.height, c.batch) for c in cases if c.op == op]
        assert sizes == sorted(sizes)


# ------------------------------------------------------------------- 5. dry run


def test_dry_run_of_cpu_config_lists_8_cases_and_writes_nothing(ws, capsys):
    results = ROOT / "results"
    results_before = tree(results)
    before = tree(ws.root)
    rc = main(["run", str(CONFIGS / "cpu.yaml"), "--dry-run"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    row = r"^\s*(\d+)\s+([0-9a-f]{16})\s+(.+?)\s+(to run|stored)\s*$"
    rows = re.findall(row, captured.out, re.MULTILINE)
    assert [int(r[0]) for r in rows] == list(range(1, 9))
    sweep = load_sweep(CONFIGS / "cpu.yaml")
    assert [r[1] for r in rows] == [c.case_id for c in expand(sweep, sweep.specs())]
    assert all(r[3] == "to run" for r in rows)
    assert {r[2] for r in rows} >= {
        "sd-v1 encode 128x128 float32 untiled",
        "sd-v1 decode 256x256 float32 tiled",
    }
    assert "8 cases on cpu" in captured.out
    assert "nothing was run or written" in captured.out
    assert tree(ws.root) == before == {}
    assert tree(results) == results_before


def test_dry_run_with_out_writes_nothing(ws, capsys):
    path = ws.sweep(base_sweep(ops=["encode", "decode"]))
    before = tree(ws.root)
    rc, out, err = run_cli(capsys, path, "--dry-run", "--out", ws.out)
    assert rc == 0, err
    assert "2 cases on cpu" in out
    assert not ws.runs.exists() and not ws.out.exists()
    assert tree(ws.root) == before


def test_dry_run_does_not_look_for_weights(ws, capsys):
    """A dry run never downloads: unreachable pretrained weights are not its business."""
    registry = ws.registry(repo="./nowhere")
    path = ws.sweep(base_sweep(registry=str(registry), weights="pretrained"))
    rc, out, err = run_cli(capsys, path, "--dry-run")
    assert rc == 0, err
    assert "weights: pretrained" in out
    assert not ws.runs.exists()


def test_a_label_on_one_listed_gpu_is_allowed():
    from bench.sweep.config import from_dict

    sweep = from_dict(base_sweep(device="auto", devices=["cuda:1"], device_label="RTX 4090 (300 W)"))
    assert sweep.device_label == "RTX 4090 (300 W)" and sweep.to_dict()["device_label"] == "RTX 4090 (300 W)"
    assert "device_label" not in from_dict(base_sweep()).to_dict()  # stored only when given
