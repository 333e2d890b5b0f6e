"""The registry and the two ways of getting a model: pretrained (via
save_pretrained -> from_pretrained) and random weights from a bundled config."""

from __future__ import annotations

import dataclasses
import warnings

import pytest
import torch
import yaml

from bench.cli import main
from bench.errors import BadInput
from bench.models.build import Weights, build, count_params, model_class, resolve_weights
from bench.models.registry import load_registry
from bench.models.workloads import prepare
from bench.record.case import Case
from bench.record.store import open_run
from bench.sweep.cases import tiling_in_force
from tests.conftest import FIXTURES

REGISTRY = load_registry()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(n for n, s in REGISTRY.items() if s.cls == "AutoencoderKL"))
def test_bundled_config_builds_the_registered_architecture(name):
    """AutoencoderKL entries; the other families are built in test_families.py."""
    spec = REGISTRY[name]
    model = build(spec, Weights("random"), "cpu", "float32")
    assert count_params(model) == spec.params
    # The facts the workloads rely on agree with what diffusers derives itself.
    assert 2 ** (len(spec.config["block_out_channels"]) - 1) == spec.spatial_compression
    assert model.tile_sample_min_size == spec.tiling["tile_sample_min_size"]
    assert model.tile_overlap_factor == spec.tiling["tile_overlap_factor"]
    assert model.tile_latent_min_size == tiling_in_force(spec, None)["tile_latent_min_size"]
    assert spec.params_source and spec.repo


def test_published_facts_of_the_bundled_configs():
    sd, sdxl, flux, sd3 = (REGISTRY[n].config for n in ("sd-v1", "sdxl", "flux", "sd3"))
    assert REGISTRY["sd-v1"].params == 83_653_863
    assert sd["block_out_channels"] == [128, 256, 512, 512] and sd["latent_channels"] == 4
    assert (sd["sample_size"], sd["scaling_factor"]) == (256, 0.18215)
    assert (sdxl["sample_size"], sdxl["scaling_factor"], sdxl["force_upcast"]) == (1024, 0.13025, False)
    assert (flux["latent_channels"], flux["scaling_factor"], flux["shift_factor"]) == (16, 0.3611, 0.1159)
    assert flux["use_quant_conv"] is False and flux["use_post_quant_conv"] is False
    assert (sd3["latent_channels"], sd3["scaling_factor"], sd3["shift_factor"]) == (16, 1.5305, 0.0609)
    assert (REGISTRY["flux"].subfolder, REGISTRY["sd3"].subfolder) == ("vae", "vae")


@pytest.mark.slow
def test_real_architecture_encodes_and_decodes_at_a_small_size():
    spec = REGISTRY["sd-v1"]
    model = build(spec, Weights("random"), "cpu", "float32")
    small_tile = tuple(tiling_in_force(spec, {"tile_sample_min_size": 32}).items())
    for tiling in (None, small_tile):
        common = dict(
            model="sd-v1",
            width=64,
            height=48,
            frames=None,
            batch=1,
            dtype="float32",
            tiled=tiling is not None,
            tiling=tiling,
        )
        with torch.inference_mode():
            latent = prepare(model, spec, Case(op="encode", **common), "cpu")()
            image = prepare(model, spec, Case(op="decode", **common), "cpu")()
        assert tuple(latent.mean.shape) == (1, 4, 6, 8)
        assert tuple(image.shape) == (1, 3, 48, 64)
    assert model.use_tiling  # the last case asked for tiling, and got it


def _tiny_spec(**changes):
    return dataclasses.replace(load_registry(FIXTURES / "tiny-models.yaml")["tiny"], **changes)


def test_pretrained_weights_load_from_a_saved_model(tmp_path):
    spec = _tiny_spec()
    saved = model_class(spec).from_config(spec.config)
    saved.save_pretrained(tmp_path / "repo" / "vae", safe_serialization=True)
    local = _tiny_spec(repo=str(tmp_path / "repo"), subfolder="vae")

    weights = resolve_weights(local, "pretrained")
    assert weights.kind == "pretrained" and weights.path == str(tmp_path / "repo")
    loaded = build(local, weights, "cpu", "float32")
    saved_state, loaded_state = saved.state_dict(), loaded.state_dict()
    assert list(saved_state) == list(loaded_state)
    for name, tensor in saved_state.items():
        assert torch.equal(tensor, loaded_state[name]), name
    # Random weights differ: the loaded ones really came from the file.
    fresh = build(local, Weights("random"), "cpu", "float32")
    fresh_state = fresh.state_dict()
    assert not all(torch.equal(t, fresh_state[name]) for name, t in saved_state.items())


def test_only_safetensors_are_loaded(tmp_path):
    model = model_class(_tiny_spec()).from_config(_tiny_spec().config)
    model.save_pretrained(tmp_path / "bin", safe_serialization=False)
    spec = _tiny_spec(repo=str(tmp_path / "bin"))
    with pytest.raises(BadInput, match="only safetensors weights are loaded"):
        resolve_weights(spec, "pretrained")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        weights = resolve_weights(spec, "auto")
    assert weights.kind == "random" and "safetensors" in weights.note
    assert any("using random weights" in str(w.message) for w in caught)


def test_an_unreachable_hub_repo_falls_back_to_random_under_auto(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = _tiny_spec(repo="nobody-here/no-such-vae")
    with pytest.warns(UserWarning, match="using random weights"):
        weights = resolve_weights(spec, "auto")
    assert weights.kind == "random"
    with pytest.raises(BadInput, match="not reachable"):
        resolve_weights(spec, "pretrained")


@pytest.mark.slow
def test_a_pretrained_run_records_its_weights(tmp_path, write_sweep):
    spec = _tiny_spec()
    model_class(spec).from_config(spec.config).save_pretrained(tmp_path / "saved")
    registry = yaml.safe_load((FIXTURES / "tiny-models.yaml").read_text())
    entry = {**registry["tiny"], "repo": str(tmp_path / "saved"), "config": str(FIXTURES / "tiny-vae.json")}
    (tmp_path / "models.yaml").write_text(yaml.safe_dump({"tiny": entry}))
    sweep = write_sweep(weights="pretrained", registry=str(tmp_path / "models.yaml"))
    assert main(["run", str(sweep)]) == 0
    run = next((tmp_path / "runs").iterdir())
    assert [r.weights for r in open_run(run).records] == ["pretrained"]
    assert open_run(run).meta.models["tiny"]["weights"]["kind"] == "pretrained"
