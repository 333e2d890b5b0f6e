"""The families beyond AutoencoderKL: HunyuanVideo, Wan 2.1, LTX-Video, Qwen-Image,
Flux.2, DC-AE and TAESD. Their registry facts, each real architecture built from
its bundled config (parameter count, tiling defaults, encode and decode shapes at a
tiny size, tiled and untiled), the frame rules checked against what diffusers does,
and the pretrained loading path for a video family."""

from __future__ import annotations

import dataclasses
import gc
import json

import pytest
import torch
import yaml

from bench.models.build import Weights, build, count_params, model_class, resolve_weights
from bench.models.registry import frame_step, load_registry
from bench.models.workloads import FRAMEWISE, input_shape, output_shape, prepare
from bench.record.case import Case
from bench.shipped import CONFIGS_DIR
from bench.sweep.cases import tiling_in_force
from tests.conftest import FIXTURES

REGISTRY = load_registry()
FAMILIES = ("hunyuanvideo", "wan", "ltx", "qwen-image", "flux2", "dc-ae", "taesd")
VIDEO = ("hunyuanvideo", "wan", "ltx")


def test_every_family_is_registered():
    assert set(FAMILIES) <= set(REGISTRY)
    assert set(VIDEO) <= {n for n, s in REGISTRY.items() if s.is_video}


# (name, class, repo, subfolder, family, input rank, latent channels, spatial and
#  temporal compression, frame rule, tiling kind): the issue's facts and diffusers'.
FACTS = [
    ("hunyuanvideo", "AutoencoderKLHunyuanVideo", "hunyuanvideo-community/HunyuanVideo", "vae",
     "video", 5, 16, 8, 4, "1+4k", "spatiotemporal"),
    ("wan", "AutoencoderKLWan", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "vae",
     "video", 5, 16, 8, 4, "1+4k", "spatial"),
    ("ltx", "AutoencoderKLLTXVideo", "Lightricks/LTX-Video", "vae",
     "video", 5, 128, 32, 8, "1+8k", "spatiotemporal"),
    ("qwen-image", "AutoencoderKLQwenImage", "Qwen/Qwen-Image", "vae",
     "image", 5, 16, 8, 4, None, "spatial"),
    ("flux2", "AutoencoderKLFlux2", "black-forest-labs/FLUX.2-dev", "vae",
     "image", 4, 32, 8, 1, None, "kl"),
    ("dc-ae", "AutoencoderDC", "mit-han-lab/dc-ae-f32c32-sana-1.0-diffusers", None,
     "image", 4, 32, 32, 1, None, "spatial"),
    ("taesd", "AutoencoderTiny", "madebyollin/taesd", None,
     "image", 4, 4, 8, 1, None, "kl"),
]  # fmt: skip


@pytest.mark.parametrize("fact", FACTS, ids=[f[0] for f in FACTS])
def test_registry_facts(fact):
    check_facts(fact)


def check_facts(fact) -> None:
    """One registry entry against its facts (tests/test_every_vae.py has more)."""
    name, cls, repo, subfolder, family, rank, latent, spatial, temporal, rule, kind = fact
    spec = REGISTRY[name]
    assert (spec.cls, spec.repo, spec.subfolder) == (cls, repo, subfolder)
    assert (spec.family, spec.input_rank, spec.latent_channels) == (family, rank, latent)
    assert (spec.spatial_compression, spec.temporal_compression) == (spatial, temporal)
    assert (spec.frame_rule, spec.tiling_kind) == (rule, kind)
    assert spec.config["_class_name"] == cls
    assert spec.params and spec.params_source and spec.source
    assert "diffusers 0.42.1" in spec.params_source


def test_bundled_configs_hold_the_issue_facts():
    hy, wan, ltx, qwen, flux2, dcae, taesd = (REGISTRY[n].config for n in FAMILIES)
    assert (hy["latent_channels"], hy["block_out_channels"], hy["scaling_factor"]) == (
        16, [128, 256, 512, 512], 0.476986,
    )  # fmt: skip
    assert (hy["spatial_compression_ratio"], hy["temporal_compression_ratio"]) == (8, 4)
    assert (wan["base_dim"], wan["z_dim"], wan["dim_mult"]) == (96, 16, [1, 2, 4, 4])
    assert wan["num_res_blocks"] == 2
    assert wan["temperal_downsample"] == [False, True, True]
    assert len(wan["latents_mean"]) == len(wan["latents_std"]) == 16
    assert (ltx["latent_channels"], ltx["patch_size"]) == (128, 4)
    assert ltx["block_out_channels"] == [128, 256, 512, 512]
    assert ltx["layers_per_block"] == [4, 3, 3, 3, 4]
    assert (qwen["z_dim"], qwen["temperal_downsample"]) == (16, [False, True, True])
    assert flux2["latent_channels"] == 32
    assert (dcae["latent_channels"], dcae["scaling_factor"]) == (32, 0.41407)
    assert dcae["encoder_block_types"][3:] == ["EfficientViTBlock"] * 3
    assert taesd["latent_channels"] == 4
    for name in FAMILIES:  # every bundled config is what the class accepts, nothing more
        config = REGISTRY[name].config
        accepted = model_class(REGISTRY[name]).extract_init_dict(config)[0]
        assert set(config) - {"_class_name"} <= set(accepted), name


# A tiny input for each family and tiling knobs that split it, so that the tiled call
# really runs tiles (and, for HunyuanVideo and LTX, frame tiles).
TINY_RUNS = {
    "hunyuanvideo": ("32x16", 5, {"tile_sample_min_height": 16, "tile_sample_min_width": 24,
                                  "tile_sample_stride_height": 16, "tile_sample_stride_width": 16,
                                  "tile_sample_min_num_frames": 4, "tile_sample_stride_num_frames": 4}),
    "wan": ("32x16", 5, {"tile_sample_min_height": 16, "tile_sample_min_width": 24,
                         "tile_sample_stride_height": 16, "tile_sample_stride_width": 16}),
    "ltx": ("64x32", 9, {"tile_sample_min_height": 32, "tile_sample_min_width": 32,
                         "tile_sample_stride_height": 32, "tile_sample_stride_width": 32,
                         "tile_sample_min_num_frames": 8, "tile_sample_stride_num_frames": 8,
                         "use_framewise_encoding": True, "use_framewise_decoding": True}),
    "qwen-image": ("32x16", None, {"tile_sample_min_height": 16, "tile_sample_min_width": 24,
                                   "tile_sample_stride_height": 16, "tile_sample_stride_width": 16}),
    "flux2": ("48x32", None, {"tile_sample_min_size": 32, "tile_overlap_factor": 0.25}),
    "dc-ae": ("64x32", None, {"tile_sample_min_height": 32, "tile_sample_min_width": 32,
                              "tile_sample_stride_height": 32, "tile_sample_stride_width": 32}),
    "taesd": ("32x32", None, {"tile_sample_min_size": 32, "tile_overlap_factor": 0.5}),
}  # fmt: skip

# What encode and decode return for those inputs, written out by hand.
EXPECTED = {
    "hunyuanvideo": ((1, 16, 2, 2, 4), (1, 3, 5, 16, 32)),
    "wan": ((1, 16, 2, 2, 4), (1, 3, 5, 16, 32)),
    "ltx": ((1, 128, 2, 1, 2), (1, 3, 9, 32, 64)),
    "qwen-image": ((1, 16, 1, 2, 4), (1, 3, 1, 16, 32)),
    "flux2": ((1, 32, 4, 6), (1, 3, 32, 48)),
    "dc-ae": ((1, 32, 1, 2), (1, 3, 32, 64)),
    "taesd": ((1, 4, 4, 4), (1, 3, 32, 32)),
}


def _shape(out) -> tuple[int, ...]:
    """A latent distribution's shape is its mean's; DC-AE and TAESD return a tensor."""
    return tuple((out if isinstance(out, torch.Tensor) else out.mean).shape)


class CallCounter:
    """Counts calls of the model's encoder and decoder modules (one per tile)."""

    def __init__(self, model):
        self.counts = {"encoder": 0, "decoder": 0}
        for part in self.counts:
            getattr(model, part).register_forward_hook(self._hook(part))

    def _hook(self, part):
        def hook(*_):
            self.counts[part] += 1

        return hook

    def run(self, call) -> tuple[object, dict]:
        self.counts.update(encoder=0, decoder=0)
        with torch.inference_mode():
            out = call()
        return out, dict(self.counts)


def _case(name: str, op: str, spec, tiling=None) -> Case:
    size, frames, _ = TINY_RUNS[name.removeprefix("tiny-")]
    w, h = map(int, size.split("x"))
    return Case(spec.name, op, w, h, frames, 1, "float32", tiling is not None, tiling)


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILIES)
def test_family_builds_from_its_bundled_config(name):
    """The real architecture: its parameter count, the tiling defaults diffusers sets,
    and the shapes encode and decode give at a tiny size."""
    spec = REGISTRY[name]
    model = build(spec, Weights("random"), "cpu", "float32")
    try:
        assert count_params(model) == spec.params
        for knob, value in spec.tiling.items():
            assert getattr(model, knob) == value, knob
        if spec.tiling_kind == "kl":
            assert model.tile_latent_min_size == tiling_in_force(spec, None)["tile_latent_min_size"]
        if hasattr(model, "spatial_compression_ratio"):
            assert model.spatial_compression_ratio == spec.spatial_compression
        if getattr(model, "temporal_compression_ratio", 1) != 1:
            assert model.temporal_compression_ratio == spec.temporal_compression
        for op, expected in zip(("encode", "decode"), EXPECTED[name], strict=True):
            case = _case(name, op, spec)
            with torch.inference_mode():
                out = prepare(model, spec, case, "cpu")()
            assert _shape(out) == expected == output_shape(case, spec), op
    finally:
        del model
        gc.collect()


@pytest.mark.parametrize("name", FAMILIES)
def test_tiling_splits_the_input_and_keeps_the_shapes(tmp_path, name):
    """A tiny config of the family, untiled then tiled with tiles that split the input
    (and, for HunyuanVideo and LTX, its frames): the same shapes, more encoder and
    decoder calls, and the switches the case asked for."""
    spec = tiny_registry(tmp_path)[f"tiny-{name}"]
    model = build(spec, Weights("random"), "cpu", "float32")
    tiling = tuple(tiling_in_force(spec, TINY_RUNS[name][2]).items())
    counter = CallCounter(model)
    calls = {}
    for tiled in (False, True):
        for op, expected in zip(("encode", "decode"), EXPECTED[name], strict=True):
            part = {"encode": "encoder", "decode": "decoder"}[op]
            case = _case(name, op, spec, tiling if tiled else None)
            out, counts = counter.run(prepare(model, spec, case, "cpu"))
            shape = _shape(out)
            assert shape == output_shape(case, spec), (op, tiled)
            assert shape[:1] + shape[2:] == expected[:1] + expected[2:], (op, tiled)
            calls[op, tiled] = counts[part]
            assert counts["decoder" if part == "encoder" else "encoder"] == 0
            assert model.use_tiling is tiled
            if spec.tiling_kind == "spatiotemporal":
                wanted = [tiled and dict(tiling)[f] for f in FRAMEWISE]
                assert [getattr(model, f) for f in FRAMEWISE] == wanted
    for op in ("encode", "decode"):
        assert calls[op, True] > calls[op, False], f"{op}: tiling did not split the input: {calls}"


def test_input_shapes_follow_each_family():
    def shape(name, op, frames, size="512x320"):
        w, h = map(int, size.split("x"))
        return input_shape(Case(name, op, w, h, frames, 2, "float16", False, None), REGISTRY[name])

    assert shape("hunyuanvideo", "encode", 61) == (2, 3, 61, 320, 512)
    assert shape("hunyuanvideo", "decode", 61) == (2, 16, 16, 40, 64)
    assert shape("wan", "decode", 17) == (2, 16, 5, 40, 64)
    assert shape("ltx", "encode", 65) == (2, 3, 65, 320, 512)
    assert shape("ltx", "decode", 65) == (2, 128, 9, 10, 16)
    assert shape("qwen-image", "encode", None) == (2, 3, 1, 320, 512)
    assert shape("qwen-image", "decode", None) == (2, 16, 1, 40, 64)
    assert shape("flux2", "decode", None) == (2, 32, 40, 64)
    assert shape("dc-ae", "decode", None) == (2, 32, 10, 16)
    assert shape("taesd", "decode", None) == (2, 4, 40, 64)


# ------------------------------------------------------- tiny configs of each family


def tiny_registry(tmp_path, **entry_changes) -> dict:
    """The bundled registry's entries for every family, each with a tiny config of
    the same class from tests/fixtures/families/: the same facts at a size that
    builds and runs in well under a second."""
    bundled = yaml.safe_load((CONFIGS_DIR / "models.yaml").read_text())
    registry = {}
    for name in FAMILIES:
        entry = dict(bundled[name])
        entry["config"] = str(FIXTURES / "families" / f"tiny-{name}.json")
        config = json.loads((FIXTURES / "families" / f"tiny-{name}.json").read_text())
        if "latent_channels" in entry:  # Wan and Qwen-Image name it z_dim
            entry["latent_channels"] = config["z_dim"]
        entry.pop("params")
        entry.pop("params_source")
        entry.pop("source")
        registry[f"tiny-{name}"] = {**entry, **entry_changes.get(name, {})}
    path = tmp_path / "tiny-families.yaml"
    path.write_text(yaml.safe_dump(registry, sort_keys=False))
    return load_registry(path)


@pytest.mark.parametrize("name", VIDEO)
def test_frame_rule_is_what_diffusers_keeps(tmp_path, name):
    """Frame counts the rule allows come back whole from encode + decode; the others
    lose their last frames. Latent frames are (frames - 1) // t + 1 either way."""
    spec = tiny_registry(tmp_path)[f"tiny-{name}"]
    model = build(spec, Weights("random"), "cpu", "float32")
    step = frame_step(spec.frame_rule)
    w = h = spec.spatial_compression
    for frames in (1, 2, step, step + 1, step + 2, 2 * step + 1):
        x = torch.randn(1, 3, frames, h, w)
        with torch.inference_mode():
            latent = model.encode(x, return_dict=False)[0].mode()
            back = model.decode(latent, return_dict=False)[0]
        assert latent.shape[2] == spec.latent_frames(frames) == (frames - 1) // spec.temporal_compression + 1
        assert (back.shape[2] == frames) is spec.frames_ok(frames), frames


def test_a_video_family_loads_from_a_saved_model(tmp_path):
    """save_pretrained -> from_pretrained, through the registry, for HunyuanVideo."""
    spec = tiny_registry(tmp_path)["tiny-hunyuanvideo"]
    saved = model_class(spec).from_config(spec.config)
    saved.save_pretrained(tmp_path / "repo" / "vae", safe_serialization=True)
    local = dataclasses.replace(spec, repo=str(tmp_path / "repo"), subfolder="vae")

    weights = resolve_weights(local, "pretrained")
    assert weights.kind == "pretrained" and weights.path == str(tmp_path / "repo")
    loaded = build(local, weights, "cpu", "float32")
    assert type(loaded).__name__ == "AutoencoderKLHunyuanVideo"
    saved_state, loaded_state = saved.state_dict(), loaded.state_dict()
    assert list(saved_state) == list(loaded_state)
    for key, tensor in saved_state.items():
        assert torch.equal(tensor, loaded_state[key]), key
    # and it measures like the random-weight build: a tiled decode of 9 frames
    frame_tiles = {"tile_sample_min_num_frames": 4, "tile_sample_stride_num_frames": 4}
    tiling = tuple(tiling_in_force(local, frame_tiles).items())
    case = Case("tiny-hunyuanvideo", "decode", 16, 16, 9, 1, "float32", True, tiling)
    with torch.inference_mode():
        assert tuple(prepare(loaded, local, case, "cpu")().shape) == (1, 3, 9, 16, 16)
