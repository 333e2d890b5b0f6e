"""Sweeps with video and newer VAEs: the frames axis, each family's frame rule and
tiling knobs checked up front (bad input is one line, exit 2, nothing written),
frames in the cases and their ids, the shipped video sweeps, and every family
end to end on CPU with tiny configs."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from bench.analysis.summary import summary_table
from bench.cli import main
from bench.measure.driver import make_backend
from bench.measure.protocol import Protocol
from bench.models.build import Weights, build
from bench.models.registry import load_registry
from bench.record.case import Case
from bench.record.store import open_run
from bench.sweep import worker
from bench.sweep.cases import expand
from bench.sweep.config import from_dict, load_sweep
from tests.conftest import REFERENCE
from tests.test_config import CONFIGS, ROOT, base_sweep, reject, tree, ws  # noqa: F401
from tests.test_families import FAMILIES, VIDEO, tiny_registry

# ------------------------------------------------------------ bad input, one line

# (id, fields replaced in the base sweep, substrings the one line must hold)
BAD = [
    (
        "video-without-frames",
        {"models": ["sd-v1", "wan"]},
        ["frames: missing", "wan is a video model", "frames: [17, 33]"],
    ),
    (
        "videos-without-frames",
        {"models": ["hunyuanvideo", "ltx"]},
        ["frames: missing", "hunyuanvideo, ltx are video models"],
    ),
    (
        "frames-without-a-video-model",
        {"models": ["sd-v1", "qwen-image"], "frames": [17]},
        ["frames", "none of the models is a video model"],
    ),
    (
        "frames-breaking-the-wan-rule",
        {"models": ["wan"], "frames": [17, 16]},
        ["frames", "16 is not a valid frame count for wan", "1 + 4k (1, 5, 9, 13, 17, ...)"],
    ),
    (
        "frames-breaking-the-ltx-rule",
        {"models": ["hunyuanvideo", "ltx"], "resolutions": [64], "frames": [17, 61]},
        ["frames", "61 is not a valid frame count for ltx", "1 + 8k (1, 9, 17, 25, 33, ...)"],
    ),
    (
        "frames-breaking-the-hunyuan-rule",
        {"models": ["hunyuanvideo"], "frames": 8},
        ["frames", "8 is not a valid frame count for hunyuanvideo", "1 + 4k"],
    ),
    ("frames-zero", {"models": ["wan"], "frames": [0]}, ["frames", "positive integer", "got 0"]),
    ("frames-str", {"models": ["wan"], "frames": "17"}, ["frames", "positive integer", "'17'"]),
    ("frames-bool", {"models": ["wan"], "frames": [True]}, ["frames", "positive integer"]),
    ("frames-empty", {"models": ["wan"], "frames": []}, ["frames", "must not be empty"]),
    (
        "resolution-not-a-multiple-of-32-for-dc-ae",
        {"models": ["sd-v1", "dc-ae"], "resolutions": [64, "200x200"]},
        ["resolutions", "200x200 does not suit dc-ae", "multiples of 32", "spatial compression"],
    ),
    (
        "resolution-not-a-multiple-of-32-for-ltx",
        {"models": ["ltx"], "resolutions": ["720x1280"], "frames": [17]},
        ["resolutions", "720x1280 does not suit ltx", "multiples of 32"],
    ),
    (
        "stride-larger-than-tile",
        {"models": ["wan"], "frames": [5], "tiling": {"wan": {"tile_sample_stride_height": 320}}},
        [
            "tiling.wan.tile_sample_stride_height",
            "320 is larger than tile_sample_min_height 256",
            "silently truncate the output",
            "use a stride <= the tile size",
            "tile_sample_min_height is wan's default",
        ],
    ),
    (
        "stride-larger-than-tile-both-given",
        {
            "models": ["dc-ae"],
            "tiling": {"dc-ae": {"tile_sample_min_width": 256, "tile_sample_stride_width": 288}},
        },
        ["tiling.dc-ae.tile_sample_stride_width", "288 is larger than tile_sample_min_width 256", "truncate"],
    ),
    (
        "tile-smaller-than-the-default-stride",
        {"models": ["qwen-image"], "tiling": {"qwen-image": {"tile_sample_min_width": 128}}},
        [
            "tiling.qwen-image.tile_sample_min_width",
            "tile_sample_stride_width 192 is larger than tile_sample_min_width 128",
            "tile_sample_stride_width is qwen-image's default",
        ],
    ),
    (
        "frame-stride-larger-than-frame-tile",
        {
            "models": ["hunyuanvideo"],
            "frames": [17],
            "tiling": {"hunyuanvideo": {"tile_sample_stride_num_frames": 20}},
        },
        [
            "tiling.hunyuanvideo.tile_sample_stride_num_frames",
            "20 is larger than tile_sample_min_num_frames 16",
        ],
    ),
    (
        "frame-tile-not-a-multiple-of-the-temporal-compression",
        {
            "models": ["ltx"],
            "resolutions": [64],
            "frames": [17],
            "tiling": {"ltx": {"tile_sample_min_num_frames": 12}},
        },
        ["tiling.ltx.tile_sample_min_num_frames", "positive multiple of 8", "temporal compression", "got 12"],
    ),
    (
        "tile-not-a-multiple-of-the-spatial-compression",
        {"models": ["dc-ae"], "tiling": {"dc-ae": {"tile_sample_min_height": 500}}},
        ["tiling.dc-ae.tile_sample_min_height", "positive multiple of 32", "spatial compression", "got 500"],
    ),
    (
        "framewise-not-a-bool",
        {
            "models": ["hunyuanvideo"],
            "frames": [17],
            "tiling": {"hunyuanvideo": {"use_framewise_decoding": "yes"}},
        },
        ["tiling.hunyuanvideo.use_framewise_decoding", "true or false", "'yes'"],
    ),
    (
        "frame-knob-on-a-model-without-frame-tiling",
        {"models": ["wan"], "frames": [17], "tiling": {"wan": {"tile_sample_min_num_frames": 16}}},
        ["tiling.wan.tile_sample_min_num_frames", "unknown tiling knob", "allowed: tile_sample_min_height"],
    ),
    (
        "kl-knob-on-a-spatial-model",
        {"models": ["dc-ae"], "tiling": {"dc-ae": {"tile_sample_min_size": 512}}},
        ["tiling.dc-ae.tile_sample_min_size", "unknown tiling knob"],
    ),
    (
        "spatial-knob-on-taesd",
        {"models": ["taesd"], "tiling": {"taesd": {"tile_sample_stride_height": 256}}},
        ["tiling.taesd.tile_sample_stride_height", "unknown tiling knob", "tile_overlap_factor"],
    ),
]


@pytest.mark.parametrize("fields,needles", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_video_sweep(ws, capsys, fields, needles):  # noqa: F811
    path = ws.sweep(base_sweep(**fields))
    reject(ws, capsys, path, *needles)


def registry_with(workspace, name: str, **changes):
    """A registry holding the bundled entry `name` with `changes` (None removes a key)."""
    bundled = yaml.safe_load((CONFIGS / "models.yaml").read_text())
    entry = {**bundled[name], "config": str(CONFIGS / bundled[name]["config"]), **changes}
    path = workspace.root / "models.yaml"
    path.write_text(yaml.safe_dump({name: {k: v for k, v in entry.items() if v is not None}}))
    return path


BAD_REGISTRY = [
    (
        "stride-larger-than-tile",
        "wan",
        {"tiling": {"tile_sample_min_height": 256, "tile_sample_min_width": 256,
                    "tile_sample_stride_height": 192, "tile_sample_stride_width": 384}},
        ["wan.tiling.tile_sample_stride_width", "384 is larger than tile_sample_min_width 256", "truncate"],
    ),
    (
        "a-knob-missing",
        "dc-ae",
        {"tiling": {"tile_sample_min_height": 512, "tile_sample_min_width": 512,
                    "tile_sample_stride_height": 448}},
        ["dc-ae.tiling", "missing tile_sample_stride_width", "every knob of spatial tiling"],
    ),
    ("video-without-frame-rule", "wan", {"frame_rule": None}, ["wan.frame_rule", "missing", '"1+4k"']),
    ("video-without-temporal", "ltx", {"temporal_compression": None},
     ["ltx.temporal_compression", "missing"]),
    ("frame-rule-format", "wan", {"frame_rule": "4k+1"}, ["wan.frame_rule", '"1+Nk"', "'4k+1'"]),
    ("frame-rule-on-an-image", "qwen-image", {"frame_rule": "1+4k"}, ["qwen-image.frame_rule", "only video"]),
    ("video-with-rank-4", "wan", {"input_rank": 4}, ["wan.input_rank", "must be 5", "got 4"]),
    ("unknown-family", "taesd", {"family": "hologram"}, ["taesd.family", "image, video, audio"]),
    (
        "no-latent-channels",
        "wan",
        {"latent_channels": None},
        ["wan.json", "latent_channels", "missing", "wan's registry entry"],
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    "name,changes,needles", [c[1:] for c in BAD_REGISTRY], ids=[c[0] for c in BAD_REGISTRY]
)
def test_bad_registry_entry(ws, capsys, name, changes, needles):  # noqa: F811
    registry = registry_with(ws, name, **changes)
    fields = {"models": [name], "registry": str(registry)}
    if name in ("wan", "ltx"):
        fields.update(frames=[17], resolutions=[64])
    path = ws.sweep(base_sweep(**fields))
    line = reject(ws, capsys, path, *needles, names_file=False)
    assert "models.yaml" in line or ".json" in line


# ------------------------------------------------------------- cases and their ids

MIXED = base_sweep(
    models=["sd-v1", "wan", "qwen-image", "hunyuanvideo"],
    ops=["encode", "decode"],
    resolutions=["512x320", 256],
    frames=[17, 5, 17],
    tiled=[False, True],
)


def test_frames_apply_to_video_models_only(ws):  # noqa: F811
    sweep = load_sweep(ws.sweep(MIXED))
    assert sweep.frames == (17, 5)
    cases = expand(sweep, sweep.specs())
    by_model = {m: [c for c in cases if c.model == m] for m in sweep.models}
    assert len(by_model["sd-v1"]) == len(by_model["qwen-image"]) == 2 * 2 * 2
    assert len(by_model["wan"]) == len(by_model["hunyuanvideo"]) == 2 * 2 * 2 * 2
    assert {c.frames for c in by_model["sd-v1"] + by_model["qwen-image"]} == {None}
    assert {c.frames for c in by_model["wan"]} == {5, 17}
    assert len({c.case_id for c in cases}) == len(cases)
    # inside a group, smaller inputs (frames included) first
    wan_encode = [c.width * c.height * c.frames for c in by_model["wan"] if c.op == "encode"]
    assert wan_encode == sorted(wan_encode)
    labels = {c.size_label for c in by_model["wan"]}
    assert labels == {"512x320x17", "512x320x5", "256x256x17", "256x256x5"}
    assert {c.size_label for c in by_model["sd-v1"]} == {"512x320", "256x256"}


def test_frames_are_part_of_the_case_id(ws):  # noqa: F811
    sweep = load_sweep(ws.sweep(base_sweep(models=["wan"], frames=[5, 9])))
    a, b = expand(sweep, sweep.specs())
    assert (a.frames, b.frames) == (5, 9)
    assert a.case_id != b.case_id
    assert Case.from_params(json.loads(json.dumps(b.params()))).case_id == b.case_id


def test_image_case_ids_are_unchanged_by_the_frames_axis():
    """The reference run's cases are still the cases its stored sweep expands to."""
    run = REFERENCE
    sweep = from_dict(open_run(run).meta.config)
    assert sweep.frames is None
    ids = [c.case_id for c in expand(sweep, sweep.specs())]
    assert sorted(ids) == sorted(r.case_id for r in open_run(run).records)


def test_tiled_video_cases_record_every_knob_and_the_framewise_defaults(ws):  # noqa: F811
    fields = base_sweep(
        models=["hunyuanvideo", "ltx", "wan"],
        resolutions=[64],
        frames=[17],
        tiled=[False, True],
        tiling={"ltx": {"use_framewise_decoding": True, "tile_sample_min_num_frames": 24}},
    )
    sweep = load_sweep(ws.sweep(fields))
    tiled = {c.model: c.tiling_dict for c in expand(sweep, sweep.specs()) if c.tiled}
    assert tiled["hunyuanvideo"] == {
        "tile_sample_min_height": 256,
        "tile_sample_min_num_frames": 16,
        "tile_sample_min_width": 256,
        "tile_sample_stride_height": 192,
        "tile_sample_stride_num_frames": 12,
        "tile_sample_stride_width": 192,
        "use_framewise_decoding": True,
        "use_framewise_encoding": True,
    }
    assert tiled["ltx"]["use_framewise_decoding"] is True  # the override
    assert tiled["ltx"]["use_framewise_encoding"] is False  # the default
    ltx_frames = (tiled["ltx"]["tile_sample_min_num_frames"], tiled["ltx"]["tile_sample_stride_num_frames"])
    assert ltx_frames == (24, 8)
    assert set(tiled["wan"]) == {
        "tile_sample_min_height",
        "tile_sample_min_width",
        "tile_sample_stride_height",
        "tile_sample_stride_width",
    }
    untiled = [c for c in expand(sweep, sweep.specs()) if not c.tiled]
    assert all(c.tiling is None for c in untiled)


def test_video_sweep_round_trips_through_meta_json(ws):  # noqa: F811
    sweep = load_sweep(ws.sweep(MIXED))
    d = json.loads(json.dumps(sweep.to_dict()))
    assert d["frames"] == [17, 5]
    assert from_dict(d) == sweep
    image = load_sweep(ws.sweep(base_sweep(), name="image.yaml"))
    assert image.to_dict()["frames"] is None
    # a run stored before the frames axis existed has no `frames` key at all
    old = {k: v for k, v in image.to_dict().items() if k != "frames"}
    assert from_dict(old) == image


def test_frames_from_a_dataframe_come_back_as_ints_or_none():
    """A run that mixes image and video rows gives frames as floats, NaN for None."""
    params = {"model": "wan", "op": "decode", "width": 64, "height": 64, "batch": 1, "dtype": "float32",
              "tiled": False, "tiling": None}  # fmt: skip
    video = Case.from_params({**params, "frames": 17.0})
    image = Case.from_params({**params, "model": "sd-v1", "frames": math.nan})
    assert (video.frames, video.size_label) == (17, "64x64x17")
    assert (image.frames, image.size_label) == (None, "64x64")
    assert video.case_id == Case.from_params({**params, "frames": 17}).case_id


# ------------------------------------------------------------------ shipped sweeps


def test_shipped_video_sweeps():
    gpu = load_sweep(CONFIGS / "video.yaml")
    assert set(gpu.models) == {"hunyuanvideo", "wan"}
    assert set(gpu.resolutions) == {(512, 320), (1280, 720)}
    assert gpu.frames == (17, 33, 61)
    assert gpu.tiled == (False, True)
    assert len(expand(gpu, gpu.specs())) == 2 * 2 * 2 * 3 * 2

    ltx = load_sweep(CONFIGS / "video-ltx.yaml")
    assert ltx.models == ("ltx",) and ltx.frames == (17, 33, 65)

    cpu = load_sweep(CONFIGS / "video-cpu.yaml")
    assert set(cpu.models) == set(FAMILIES)
    assert cpu.dtype == ("float32",) and cpu.device == "auto"
    cases = expand(cpu, cpu.specs())
    assert {c.model for c in cases} == set(FAMILIES)
    assert {c.frames for c in cases if c.model in VIDEO} == {9}
    for sweep in (gpu, ltx, cpu):
        assert from_dict(sweep.to_dict()) == sweep


def test_dry_run_of_the_video_cpu_sweep_lists_frames(ws, capsys):  # noqa: F811
    before = tree(ws.root)
    assert main(["run", str(CONFIGS / "video-cpu.yaml"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "wan decode 64x32x9 float32 tiled" in out
    assert "dc-ae encode 64x32 float32 untiled" in out
    assert tree(ws.root) == before


# ------------------------------------------------------------------ end to end


# Tiles that split the 64x32x9 input of the tiny families, and its frames where the
# family tiles frames.
TINY_TILING = {
    "tiny-hunyuanvideo": {"tile_sample_min_height": 32, "tile_sample_min_width": 32,
                          "tile_sample_stride_height": 24, "tile_sample_stride_width": 24,
                          "tile_sample_min_num_frames": 8, "tile_sample_stride_num_frames": 4},
    "tiny-wan": {"tile_sample_min_width": 32, "tile_sample_stride_width": 32},
    "tiny-ltx": {"tile_sample_min_width": 32, "tile_sample_stride_width": 32,
                 "tile_sample_min_num_frames": 8, "use_framewise_decoding": True},
    "tiny-qwen-image": {"tile_sample_min_width": 32, "tile_sample_stride_width": 32},
    "tiny-flux2": {"tile_sample_min_size": 32},
    "tiny-dc-ae": {"tile_sample_min_width": 32, "tile_sample_stride_width": 32},
    "tiny-taesd": {"tile_sample_min_size": 32, "tile_overlap_factor": 0.5},
}  # fmt: skip


def tiny_sweep(tmp_path, models: list[str]) -> dict:
    tiny_registry(tmp_path)
    return {
        "name": "families",
        "models": models,
        "ops": ["encode", "decode"],
        "resolutions": ["64x32"],
        "frames": [9],
        "dtype": "float32",
        "tiled": [False, True],
        "tiling": {m: TINY_TILING[m] for m in models},
        "warmup": 1,
        "warmup_time": 0,
        "repeats": 1,
        "device": "cpu",
        "weights": "random",
        "registry": str(tmp_path / "tiny-families.yaml"),
        "output": str(tmp_path / "runs"),
    }


@pytest.mark.slow
def test_every_family_measures_ok_in_the_worker(tmp_path):
    """What a worker does with each case, in this process (a spawned worker per family
    costs seconds): build, prepare, measure; every case of every family is ok."""
    sweep = from_dict(tiny_sweep(tmp_path, [f"tiny-{n}" for n in FAMILIES]))
    specs = sweep.specs()
    cases = expand(sweep, specs)
    backend = make_backend("cpu", "auto")
    backend.baseline()
    for name, spec in specs.items():
        job = worker.Job(spec, Weights("random"), "cpu", "float32", 1, 1, Protocol(repeats=1), "auto")
        model = build(spec, job.weights, "cpu", "float32")
        for case in (c for c in cases if c.model == name):
            outcome = worker.measure_case(model, backend, job, case)
            assert (outcome.status, outcome.error) == ("ok", None), case.label
            assert outcome.median > 0
    assert len(cases) == len(FAMILIES) * 2 * 2


@pytest.mark.slow
def test_families_run_end_to_end_on_cpu(tmp_path):
    """`vae-bench run` with a video family, a single-frame 5D image family and DC-AE
    (a latent tensor, 32x compression), untiled and tiled: every case ok, frames and
    tiling recorded, frames in the size label."""
    models = ["tiny-hunyuanvideo", "tiny-qwen-image", "tiny-dc-ae"]
    path = tmp_path / "families.yaml"
    path.write_text(yaml.safe_dump(tiny_sweep(tmp_path, models)))
    assert main(["run", str(path)]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    records = open_run(run).records
    assert len(records) == len(models) * 2 * 2
    assert {(r.case.model, r.status) for r in records} == {(m, "ok") for m in models}
    for r in records:
        assert r.case.frames == (9 if r.case.model == "tiny-hunyuanvideo" else None), r.case.model
        assert (r.case.tiling_dict is not None) is r.case.tiled
        assert r.time.median > 0
    hy = next(r for r in records if r.case.model == "tiny-hunyuanvideo" and r.case.tiled)
    assert hy.case.tiling_dict["use_framewise_decoding"] is True
    assert hy.case.tiling_dict["tile_sample_stride_num_frames"] == 4
    stored = open_run(run)
    assert stored.meta.config["frames"] == [9]
    table = summary_table(stored.records)
    assert "tiny-hunyuanvideo decode 64x32x9 float32 tiled" in table
    assert "tiny-dc-ae encode 64x32 float32 untiled" in table
    # the rendered tables put frames in the resolution label
    tables = (run / "tables.md").read_text()
    assert "64x32x9" in tables and "64x32x9x" not in tables
    assert set(load_registry(tmp_path / "tiny-families.yaml")) >= set(models)
