"""`vae-bench models --coverage`: every autoencoder class of the installed diffusers is
registered or excluded with a reason, found by walking diffusers, not by a list."""

from __future__ import annotations

import json

import diffusers
import pytest
import yaml

from bench.cli import main
from bench.errors import BadInput
from bench.models.coverage import autoencoder_classes, coverage
from bench.models.registry import DEFAULT_REGISTRY, load_exclusions, load_registry

# what diffusers 0.42.1 ships (the release the bundled configs cite)
SHIPPED_0_42 = {
    "AsymmetricAutoencoderKL", "AutoencoderDC", "AutoencoderKL", "AutoencoderKLAllegro",
    "AutoencoderKLCogVideoX", "AutoencoderKLCosmos", "AutoencoderKLFlux2", "AutoencoderKLHunyuanImage",
    "AutoencoderKLHunyuanImageRefiner", "AutoencoderKLHunyuanVideo", "AutoencoderKLHunyuanVideo15",
    "AutoencoderKLKVAE", "AutoencoderKLKVAEAudio", "AutoencoderKLKVAEVideo", "AutoencoderKLLTX2Audio",
    "AutoencoderKLLTX2Video", "AutoencoderKLLTXVideo", "AutoencoderKLMagvit", "AutoencoderKLMiniMaxH3",
    "AutoencoderKLMiniMaxH3Audio", "AutoencoderKLMochi", "AutoencoderKLQwenImage", "AutoencoderKLQwenImage21",
    "AutoencoderKLTemporalDecoder", "AutoencoderKLWan", "AutoencoderOobleck", "AutoencoderRAE",
    "AutoencoderSAME", "AutoencoderTiny", "AutoencoderVidTok", "ConsistencyDecoderVAE", "VQModel",
    "Cosmos3AVAEAudioTokenizer", "Kandinsky6SRVAE", "LTX2VideoDiffusionDecoderModel", "LongCatAudioDiTVae",
    "MMAudioVAE", "MMAudioVocoder", "MiniMaxMusic3Vocoder", "RFD4ProteinaAutoencoder",
}  # fmt: skip


@pytest.mark.skipif(diffusers.__version__ != "0.42.1", reason="the list is diffusers 0.42.1's")
def test_the_walk_finds_every_class_of_the_release():
    assert set(autoencoder_classes()) == SHIPPED_0_42


def test_every_class_of_the_installed_diffusers_is_registered_or_excluded():
    """Turns red, naming the class, when a diffusers release adds a VAE the registry
    neither measures nor explains."""
    new = [c.cls for c in coverage() if c.status == "new"]
    assert not new, f"register in models.yaml, or exclude with a reason: {', '.join(new)}"
    excluded = load_exclusions()
    assert not set(excluded) & {s.cls for s in load_registry().values()}, "both registered and excluded"


@pytest.mark.skipif(diffusers.__version__ != "0.42.1", reason="the counts are diffusers 0.42.1's")
def test_28_of_the_40_classes_are_registered_and_the_rest_say_why_not():
    rows = coverage()
    counts = {s: sum(r.status == s for r in rows) for s in ("registered", "excluded", "new", "gone")}
    assert counts == {"registered": 28, "excluded": 12, "new": 0, "gone": 0}


def registry_without(tmp_path, cls: str) -> str:
    """The bundled registry with `cls`'s entries gone and its configs found where they are."""
    raw = yaml.safe_load(DEFAULT_REGISTRY.read_text())
    kept = {}
    for name, entry in raw.items():
        if name == "excluded":
            kept[name] = {c: why for c, why in entry.items() if c != cls}
        elif entry["class"] != cls:
            kept[name] = {**entry, "config": str(DEFAULT_REGISTRY.parent / entry["config"])}
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(kept))
    return str(path)


def test_a_class_the_registry_leaves_out_is_new_and_fails_the_command(tmp_path, capsys):
    path = registry_without(tmp_path, "AutoencoderKLWan")
    (wan,) = [c for c in coverage(path) if c.cls == "AutoencoderKLWan"]
    assert wan.status == "new" and wan.module.endswith("autoencoder_kl_wan")
    assert main(["models", "--coverage", "--registry", path]) == 1
    out = capsys.readouterr().out
    assert "new: AutoencoderKLWan: register each in models.yaml" in out
    assert main(["models", "--coverage", "--registry", path, "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)["data"]
    assert data["counts"]["new"] == 1
    (row,) = [r for r in data["classes"] if r["class"] == "AutoencoderKLWan"]
    assert row == {
        "class": "AutoencoderKLWan",
        "module": "diffusers.models.autoencoders.autoencoder_kl_wan",
        "status": "new",
        "models": [],
        "detail": "neither registered nor excluded",
    }


def test_the_shipped_registry_passes_and_names_each_class(capsys):
    assert main(["models", "--coverage"]) == 0
    out = capsys.readouterr().out
    assert f"autoencoder classes in diffusers {diffusers.__version__}" in out
    assert "AutoencoderKL " in out and "sd-v1, sdxl, flux" in out


def test_a_class_named_that_this_diffusers_lacks_is_said_to_be_gone(tmp_path):
    raw = yaml.safe_load(DEFAULT_REGISTRY.read_text())
    raw = {n: {**e, "config": str(DEFAULT_REGISTRY.parent / e["config"])} if n != "excluded" else e
           for n, e in raw.items()}  # fmt: skip
    raw["excluded"] = {**raw.get("excluded", {}), "AutoencoderFromTheFuture": "not released yet"}
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(raw))
    (gone,) = [c for c in coverage(path) if c.status == "gone"]
    assert gone.cls == "AutoencoderFromTheFuture" and gone.module is None
    assert "not released yet" in gone.detail


@pytest.mark.parametrize(
    "excluded, says",
    [
        (["VQModel"], "must map class names to the reason"),
        ({"VQModel": ""}, "excluded.VQModel: must give the reason"),
        ({"not a class": "x"}, "'not a class' is not a class name"),
    ],
)
def test_a_bad_exclusion_is_one_clear_line(tmp_path, capsys, excluded, says):
    path = tmp_path / "models.yaml"
    raw = yaml.safe_load(DEFAULT_REGISTRY.read_text())
    raw = {
        n: {**e, "config": str(DEFAULT_REGISTRY.parent / e["config"])}
        for n, e in raw.items()
        if n != "excluded"
    }
    raw["excluded"] = excluded
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(BadInput) as info:
        load_exclusions(path)
    assert says in str(info.value)
    assert load_registry(path)  # the models themselves still read
    assert main(["models", "--coverage", "--registry", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err


def test_the_readme_lists_every_entry_and_every_exclusion():
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    for name, spec in load_registry().items():
        assert f"| `{name}` | {spec.family}" in readme and spec.cls in readme, name
    for cls, why in load_exclusions().items():
        assert f"- {cls}: {why}" in readme, cls
    rows = coverage()
    registered = sum(r.status == "registered" for r in rows)
    flat = " ".join(readme.split())
    assert f"{len(rows)} classes, {registered} registered" in flat
    assert f"(`bench/configs/models.yaml`, {len(load_registry())} of them;" in flat
