"""The registry's entries beyond the first families (tests/test_families.py): each
entry's facts, its parameter count and the shapes its encode and decode give,
built on torch's meta device (the architecture without its memory: 1.7B parameters
build in a fraction of a second), and the tiling kinds of their classes."""

from __future__ import annotations

import dataclasses
import functools

import pytest
import torch

from bench.errors import BadInput
from bench.models.build import check_class, model_class
from bench.models.registry import load_registry
from bench.models.tiling import TILING_KNOBS
from bench.models.workloads import apply_tiling, output_shape, prepare
from bench.record.case import Case
from bench.sweep.cases import expand, tiling_in_force
from bench.sweep.config import from_dict
from tests.sweep_helpers import base_sweep
from tests.test_families import check_facts

REGISTRY = load_registry()

# (name, class, repo, subfolder, family, input rank, latent channels, spatial and
#  temporal compression, frame rule, tiling kind), as diffusers 0.42.1 and the
#  pipelines that load each checkpoint say
FACTS = [
    ("kvae", "AutoencoderKLKVAE", "kandinskylab/KVAE-2D-1.0", "diffusers", "image", 4, 16, 8, 1, None, "kl"),
    ("hunyuanimage", "AutoencoderKLHunyuanImage", "hunyuanvideo-community/HunyuanImage-2.1-Diffusers", "vae",
     "image", 4, 64, 32, 1, None, "kl"),
    ("hunyuanimage-refiner", "AutoencoderKLHunyuanImageRefiner",
     "hunyuanvideo-community/HunyuanImage-2.1-Refiner-Diffusers", "vae", "image", 5, 32, 16, 4, None,
     "spatial_overlap"),
    ("hunyuanvideo-1.5", "AutoencoderKLHunyuanVideo15", "hunyuanvideo-community/HunyuanVideo-1.5-480p_t2v",
     "vae", "video", 5, 32, 16, 4, "1+4k", "overlap_latent"),
    ("qwen-image-2.1", "AutoencoderKLQwenImage21", "Qwen/Qwen-Image-2.1", "vae", "image", 5, 64, 16, 1, None,
     "spatial"),
    ("wan2.2", "AutoencoderKLWan", "Wan-AI/Wan2.2-TI2V-5B-Diffusers", "vae",
     "video", 5, 48, 16, 4, "1+4k", "spatial"),
    ("mochi", "AutoencoderKLMochi", "genmo/mochi-1-preview", "vae", "video", 5, 12, 8, 6, "1+6k", "spatial"),
    ("easyanimate", "AutoencoderKLMagvit", "alibaba-pai/EasyAnimateV5.1-7b-zh-diffusers", "vae",
     "video", 5, 16, 8, 4, "1+4k", "spatial"),
    ("ltx2", "AutoencoderKLLTX2Video", "Lightricks/LTX-2", "vae",
     "video", 5, 128, 32, 8, "1+8k", "spatiotemporal"),
    ("cosmos", "AutoencoderKLCosmos", "nvidia/Cosmos-1.0-Diffusion-7B-Text2World", "vae",
     "video", 5, 16, 8, 8, "1+8k", "none"),
    ("kvae-video", "AutoencoderKLKVAEVideo", "kandinskylab/KVAE-3D-1.0", "diffusers",
     "video", 5, 16, 8, 4, "1+4k", "none"),
    ("cogvideox", "AutoencoderKLCogVideoX", "THUDM/CogVideoX-2b", "vae",
     "video", 5, 16, 8, 4, "1+8k", "overlap"),
    ("asymmetric-kl", "AsymmetricAutoencoderKL", "cross-attention/asymmetric-autoencoder-kl-x-1-5", None,
     "image", 4, 4, 8, 1, None, "none"),
    ("kandinsky-movq", "VQModel", "kandinsky-community/kandinsky-2-1", "movq",
     "image", 4, 4, 8, 1, None, "none"),
    ("kandinsky6-sr", "Kandinsky6SRVAE", "kandinskylab/Kandinsky-6.0-VSR-distilled2steps-5s-Diffusers", "vae",
     "video", 5, 64, 16, 4, "1+4k", "none"),
]  # fmt: skip
NAMES = [f[0] for f in FACTS]
AUDIO = ["stable-audio", "same-s", "kvae-audio", "minimax-h3-audio", "cosmos3-audio"]


@pytest.mark.parametrize("fact", FACTS, ids=NAMES)
def test_registry_facts(fact):
    check_facts(fact)
    check_class(REGISTRY[fact[0]])  # the bundled config is one its class takes


def on_meta(spec):
    with torch.device("meta"):
        model = model_class(spec).from_config(spec.config)
    # a buffer cloned from a module-level tensor (Cosmos's wavelets) stays on the CPU
    return model.to("meta").eval()


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_entry_has_the_parameters_it_states(name):
    spec = REGISTRY[name]
    assert sum(p.numel() for p in on_meta(spec).parameters()) == spec.params


def _shape(out) -> tuple:
    if not isinstance(out, torch.Tensor):
        out = out.mode() if hasattr(out, "mode") else out.latents
    return tuple(out.shape)


def smallest(spec, op: str, tiling=None) -> Case:
    if spec.is_audio:
        return Case(
            spec.name, op, spec.samples(1.0), 1, None, 1, "float32", tiling is not None, tiling, seconds=1.0
        )
    side = 4 * spec.spatial_compression
    frames = 1 + 2 * spec.temporal_compression if spec.is_video else None
    return Case(spec.name, op, side, side, frames, 1, "float32", tiling is not None, tiling)


@pytest.mark.parametrize("name", [*NAMES, "consistency-decoder", *AUDIO])
def test_encode_and_decode_give_the_shapes_the_workloads_expect(name):
    """On the meta device: the input the workloads make goes through the class, and
    what comes back has the shape the fit and the tables assume; tiled too where the
    class tiles. ConsistencyDecoderVAE's decode steps a scheduler, which reads numbers
    off its tensors: not on the meta device (test_a_sampling_decoder_... runs it)."""
    spec = REGISTRY[name]
    model = on_meta(spec)
    tilings = [None] + ([tuple(tiling_in_force(spec, None).items())] if spec.tiles else [])
    for tiling in tilings:
        for op in ("encode",) if spec.decode_kwargs else ("encode", "decode"):
            case = smallest(spec, op, tiling)
            with torch.no_grad():
                out = prepare(model, spec, case, "meta")()
            assert _shape(out) == output_shape(case, spec), (op, tiling)


def test_new_tiling_kinds_reach_the_model():
    """CogVideoX takes overlap factors, HunyuanVideo 1.5 a latent tile derived from the
    pixel one, the refiner strides and an overlap; a class without tiling is left alone
    (AsymmetricAutoencoderKL raises if asked)."""
    cases = {
        # a factor of 0 too: enable_tiling takes 0 for "keep the one you have"
        "cogvideox": {"tile_sample_min_height": 128, "tile_overlap_factor_width": 0.0},
        "hunyuanvideo-1.5": {"tile_sample_min_height": 512, "tile_sample_min_width": 384},
        "hunyuanimage-refiner": {"tile_sample_min_width": 128, "tile_overlap_factor": 0.0},
    }
    for name, overrides in cases.items():
        spec = REGISTRY[name]
        model = on_meta(spec)
        knobs = tiling_in_force(spec, overrides)
        apply_tiling(model, spec, knobs)
        assert model.use_tiling
        for knob, value in knobs.items():
            assert getattr(model, knob) == value, (name, knob)
        apply_tiling(model, spec, None)
        assert not model.use_tiling
    assert (
        tiling_in_force(REGISTRY["hunyuanvideo-1.5"], {"tile_sample_min_width": 384})["tile_latent_min_width"]
        == 384 // 16
    )
    spec = REGISTRY["asymmetric-kl"]
    apply_tiling(on_meta(spec), spec, None)  # no disable_tiling call: it would raise
    assert TILING_KNOBS["none"] == {}


def test_a_class_without_tiling_has_untiled_cases_only_and_the_plan_says_so(capsys):
    sweep = from_dict(base_sweep(models=["cosmos", "sd-v1"], frames=[9], tiled=[False, True]))
    cases = expand(sweep, sweep.specs())
    assert {c.tiled for c in cases if c.model == "cosmos"} == {False}
    assert {c.tiled for c in cases if c.model == "sd-v1"} == {False, True}
    from bench.sweep.plan import make_plan

    plan = make_plan(sweep, resolve=False)
    assert "cosmos: AutoencoderKLCosmos has no tiling; its tiled cases are left out" in plan.warnings


def test_tiling_knobs_for_a_class_without_tiling_are_refused():
    with pytest.raises(BadInput) as info:
        from_dict(
            base_sweep(models=["kandinsky-movq"], tiling={"kandinsky-movq": {"tile_sample_min_size": 256}})
        )
    assert "has no tiling (tiling_kind: none)" in str(info.value)


def test_mochi_takes_rgb_though_its_config_counts_fourier_features():
    spec = REGISTRY["mochi"]
    assert spec.config["in_channels"] == 15 and spec.in_channels == 3
    assert smallest(spec, "encode").frames == 13 and spec.frames_ok(13)


def test_every_vae_cpu_takes_each_entry_once_at_its_smallest_valid_size():
    from bench.models.registry import frame_step
    from bench.sweep.config import load_sweep

    sweep = load_sweep("every-vae-cpu")
    assert set(sweep.models) == set(REGISTRY)
    cases = expand(sweep, sweep.specs())
    assert len(cases) == 2 * len(REGISTRY) and {c.op for c in cases} == {"encode", "decode"}
    for case in cases:
        spec = REGISTRY[case.model]
        if spec.is_audio:  # a second
            assert (case.seconds, case.width, case.height) == (1.0, spec.samples(1.0), 1)
            continue
        assert (case.width, case.height, case.tiled, case.dtype) == (64, 64, False, "float32")
        assert 64 % spec.spatial_compression == 0
        assert case.frames == (1 + frame_step(spec.frame_rule) if spec.is_video else None), case.model


def test_a_sampling_decoder_runs_its_recorded_steps_on_the_cpu(monkeypatch):
    """ConsistencyDecoderVAE decodes by sampling: decode is called with the steps the
    registry names, which a run records with the model. Two narrow levels of its
    encoder and UNet (the real one is in every-vae-cpu.yaml): the call, not the size."""
    from bench.models.build import Weights, build
    from bench.sweep.plan import model_entry

    spec = REGISTRY["consistency-decoder"]
    assert spec.decode_kwargs == {"num_inference_steps": 2}
    assert model_entry(spec, Weights("random"))["decode_kwargs"] == {"num_inference_steps": 2}
    narrow = {"encoder_block_out_channels": [32, 32], "decoder_block_out_channels": [32, 32]}
    narrow |= {"encoder_down_block_types": ["DownEncoderBlock2D"] * 2, "encoder_layers_per_block": 1}
    narrow |= {"decoder_down_block_types": ["ResnetDownsampleBlock2D"] * 2, "decoder_layers_per_block": 1}
    narrow |= {"decoder_up_block_types": ["ResnetUpsampleBlock2D"] * 2}
    spec = dataclasses.replace(spec, config={**spec.config, **narrow}, spatial_compression=2)
    model = build(spec, Weights("random"), "cpu", "float32")
    seen = []
    decode = model.decode

    @functools.wraps(decode)  # the signature prepare() reads stays decode's
    def spy(z, **kw):
        seen.append(kw)
        return decode(z, **kw)

    monkeypatch.setattr(model, "decode", spy)
    case = smallest(spec, "decode")
    with torch.no_grad():
        out = prepare(model, spec, case, "cpu")()
    assert tuple(out.shape) == output_shape(case, spec)
    assert seen == [{"return_dict": False, "num_inference_steps": 2}]


def test_every_vae_takes_each_entry_at_the_sizes_its_pipeline_uses():
    from bench.sweep.config import load_sweep

    sweep = load_sweep("every-vae")
    assert set(sweep.models) == set(REGISTRY)
    cases = expand(sweep, sweep.specs())
    assert len(cases) == 216  # the count its estimate of the duration is made for
    for name, spec in REGISTRY.items():
        mine = [c for c in cases if c.model == name]
        assert {c.op for c in mine} == {"encode", "decode"} and {c.dtype for c in mine} == {"bfloat16"}
        assert {c.tiled for c in mine} == ({False, True} if spec.tiles else {False}), name
        if spec.is_video:
            assert all(spec.frames_ok(c.frames) and c.height >= 480 for c in mine), name
        if spec.is_audio:
            assert {c.seconds for c in mine} == {10.0, 30.0}


def test_a_resume_refuses_other_decode_steps(tmp_path):
    from bench.sweep.plan import _check_resumable, make_plan

    plan = make_plan(from_dict(base_sweep(models=["consistency-decoder"])), resolve=False)
    meta = plan.meta("2026-01-01T00:00:00Z")
    _check_resumable(meta, tmp_path, plan, weights=False)  # the same steps: resumable
    meta.models["consistency-decoder"]["decode_kwargs"] = {"num_inference_steps": 4}
    with pytest.raises(BadInput) as info:
        _check_resumable(meta, tmp_path, plan, weights=False)
    assert info.value.field == "models.consistency-decoder.decode_kwargs"
