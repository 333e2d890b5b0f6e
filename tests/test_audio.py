"""The audio family: waveforms (batch, channels, samples) measured by their length in
seconds. The registry's facts, the `seconds` axis of a sweep, the record that keeps
it, the fit that answers in seconds, and a tiny Oobleck run end to end."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import yaml

from bench.analysis.capacity import fit_card, render_fit
from bench.analysis.fit import MIB, model_run
from bench.cli import main
from bench.errors import BadInput
from bench.models.registry import load_registry
from bench.record.case import Case
from bench.record.figures import Memory
from bench.record.run import CaseRecord
from bench.record.store import open_run
from bench.shipped import CONFIGS_DIR
from bench.sweep.cases import expand
from bench.sweep.config import from_dict
from tests.runs import GIB, case, write_run
from tests.sweep_helpers import base_sweep

REGISTRY = load_registry()

# (name, class, repo, subfolder, channels, latent channels, sample rate, samples per
#  latent step, tiling kind)
FACTS = [
    ("stable-audio", "AutoencoderOobleck", "stabilityai/stable-audio-open-1.0", "vae",
     2, 64, 44100, 2048, "audio"),
    ("same-s", "AutoencoderSAME", "stabilityai/SAME-S", None, 2, 256, 44100, 4096, "none"),
    ("kvae-audio", "AutoencoderKLKVAEAudio", "kandinskylab/KVAE-Audio", "diffusers",
     1, 64, 48000, 960, "none"),
    ("minimax-h3-audio", "AutoencoderKLMiniMaxH3Audio", "MiniMaxAI/MiniMax-H3", "audio_vae",
     1, 32, 32000, 800, "none"),
    ("cosmos3-audio", "Cosmos3AVAEAudioTokenizer", "nvidia/Cosmos3-Nano", "sound_tokenizer",
     2, 64, 48000, 1920, "none"),
]  # fmt: skip


@pytest.mark.parametrize("fact", FACTS, ids=[f[0] for f in FACTS])
def test_registry_facts(fact):
    name, cls, repo, subfolder, channels, latent, rate, hop, kind = fact
    spec = REGISTRY[name]
    assert (spec.cls, spec.repo, spec.subfolder, spec.family, spec.input_rank) == (
        cls,
        repo,
        subfolder,
        "audio",
        3,
    )
    assert (spec.in_channels, spec.latent_channels, spec.sample_rate, spec.hop_length) == (
        channels,
        latent,
        rate,
        hop,
    )
    assert spec.tiling_kind == kind and spec.config["_class_name"] == cls


def test_lengths_are_whole_latent_steps():
    oobleck = REGISTRY["stable-audio"]
    assert oobleck.samples(1.0) == 22 * 2048  # 44100 samples, up to whole steps of 2048
    assert oobleck.samples(10) == math.ceil(441000 / 2048) * 2048
    assert REGISTRY["kvae-audio"].samples(1.0) == 48000  # 50 steps of 960 exactly
    assert REGISTRY["minimax-h3-audio"].samples(0.1) == 3200


def test_a_sweep_of_audio_takes_seconds_and_needs_no_resolutions():
    sweep = from_dict(base_sweep(models=["stable-audio", "kvae-audio"], resolutions=..., seconds=[10, 1.5]))
    cases = expand(sweep, sweep.specs())
    assert [(c.model, c.size_label) for c in cases if c.op == "encode"] == [
        ("stable-audio", "1.5s"),
        ("stable-audio", "10s"),
        ("kvae-audio", "1.5s"),
        ("kvae-audio", "10s"),
    ]
    c = next(c for c in cases if c.model == "stable-audio")
    assert (c.width, c.height, c.frames, c.seconds) == (REGISTRY["stable-audio"].samples(1.5), 1, None, 1.5)
    assert c.label == "stable-audio encode 1.5s float32 untiled"
    assert "seconds" in c.params() and "seconds" not in expand_one_image()[0].params()


def test_a_sweep_of_audio_alone_reads_back_from_what_meta_json_stores():
    """A resume reads the sweep meta.json stored: resolutions none is null there."""
    sweep = from_dict(base_sweep(models=["same-s"], resolutions=..., seconds=[1, 2]))
    stored = json.loads(json.dumps(sweep.to_dict()))
    assert stored["resolutions"] is None and stored["seconds"] == [1.0, 2.0]
    assert from_dict(stored) == sweep


def expand_one_image():
    sweep = from_dict(base_sweep())
    return expand(sweep, sweep.specs())


def test_a_mixed_sweep_gives_each_model_its_own_axis():
    sweep = from_dict(base_sweep(models=["sd-v1", "same-s"], resolutions=[64], seconds=[2]))
    cases = expand(sweep, sweep.specs())
    assert {(c.model, c.size_label) for c in cases} == {("sd-v1", "64x64"), ("same-s", "2s")}


@pytest.mark.parametrize(
    "change, says",
    [
        ({"models": ["stable-audio"], "resolutions": ...},
         "seconds: missing; stable-audio is an audio model"),
        ({"seconds": [1]}, "seconds: none of the models is an audio model"),
        ({"models": ["sd-v1", "same-s"], "resolutions": ..., "seconds": [1]},
         "resolutions: missing (required for image and video models: sd-v1)"),
        ({"models": ["same-s"], "seconds": [0]}, "each must be a number of seconds from 0.001 to 3600"),
        ({"models": ["same-s"], "seconds": ["ten"]}, "each must be a number of seconds"),
        ({"models": [{"name": "sd-v1", "seconds": [1]}]}, "models[0].seconds: sd-v1 is not an audio model"),
        ({"models": ["stable-audio"], "seconds": [1],
          "tiling": {"stable-audio": {"tile_sample_overlap": 700000}}},
         "tile_sample_overlap 700000 is half of tile_sample_min_length 1323000 or more"),
    ],
)  # fmt: skip
def test_bad_audio_axes_are_one_clear_line(change, says):
    with pytest.raises(BadInput) as info:
        from_dict(base_sweep(**change))
    assert says in str(info.value)


def registry_with(tmp_path, **changes) -> str:
    entry = yaml.safe_load((CONFIGS_DIR / "models.yaml").read_text())["stable-audio"]
    entry = {**entry, "config": str(CONFIGS_DIR / entry["config"]), **changes}
    entry = {k: v for k, v in entry.items() if v is not ...}
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump({"a": entry}))
    return str(path)


@pytest.mark.parametrize(
    "changes, says",
    [
        ({"sample_rate": ...}, "a.sample_rate: missing: a model of the audio family needs it"),
        ({"spatial_compression": 8}, "a.spatial_compression: not for the audio family"),
        ({"input_rank": 4}, "must be 3 (batch, channels, samples) for the audio family"),
        ({"frame_rule": "1+4k"}, "only video models have a frames axis; an audio model takes none"),
        ({"family": "image", "spatial_compression": 8}, "a.sample_rate: not for the image family"),
    ],
)
def test_a_bad_audio_entry_is_refused(tmp_path, changes, says):
    with pytest.raises(BadInput) as info:
        load_registry(registry_with(tmp_path, **changes))
    assert says in str(info.value)


def test_a_stored_audio_record_reads_back_whole():
    c = Case("stable-audio", "decode", 45056, 1, None, 1, "float32", False, None, seconds=1.0)
    rec = dataclasses.replace(case(), case=c, case_id=c.case_id)
    back = CaseRecord.from_json(json.loads(json.dumps(rec.to_json())))
    assert back.case == c and back.case_id == c.case_id and back.size_label == "1s"
    bad = {**rec.to_json(), "seconds": -1}
    with pytest.raises(Exception, match="seconds"):
        CaseRecord.from_json(bad)


def audio_gpu_run(tmp_path):
    """Allocated peaks of 1 GiB + 4 KiB per sample, at 1, 2, 5 and 10 s of 44.1 kHz
    audio; a context of 500 MiB."""
    cases = []
    for seconds in (1, 2, 5, 10):
        samples = REGISTRY["stable-audio"].samples(seconds)
        alloc = GIB + 4096 * samples
        c = Case(
            "stable-audio", "decode", samples, 1, None, 1, "float16", False, None, seconds=float(seconds)
        )
        rec = dataclasses.replace(case(samples=[0.01 * seconds] * 10), case=c, case_id=c.case_id)
        rec.mem = Memory(
            peak_allocated=alloc,
            peak_reserved=int(alloc * 1.1),
            nvml_peak_used=int(alloc * 1.1) + 800 * MIB,
            nvml_baseline_used=300 * MIB,
            total=80 * GIB,
            metric="reserved",
        ).with_percent()
        cases.append(rec)
    return write_run(tmp_path, "audio", cases, device_name="NVIDIA H100 80GB HBM3")


def test_fit_speaks_in_seconds_of_audio(tmp_path, capsys):
    rm = model_run(open_run(audio_gpu_run(tmp_path)))
    card = 4 * GIB
    (group,) = fit_card(rm, "a 4 GiB card", card).groups
    sizes = [r["size"] for r in group.rows]
    assert sizes[:4] == ["1s", "2s", "5s", "10s"] and sizes[4:] == ["60s", "300s", "600s"]
    rate = REGISTRY["stable-audio"].samples(10) / 10
    longest = math.floor((card - 500 * MIB - GIB) / 4096 / rate)
    assert (group.longest, group.largest, group.largest_extrapolated) == (longest, None, True)
    text = render_fit(fit_card(rm, "a 4 GiB card", card))
    assert f"untiled up to {longest:g} s of audio (extrapolated)" in text
    assert main(["fit", str(rm.run.path), "--vram", "4GiB", "--headroom", "0", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)["data"]
    assert data["groups"][0]["longest_untiled_seconds"] == longest


TINY_OOBLECK = {
    "_class_name": "AutoencoderOobleck",
    "audio_channels": 2,
    "channel_multiples": [1, 2],
    "decoder_channels": 8,
    "decoder_input_channels": 4,
    "downsampling_ratios": [2, 4],
    "encoder_hidden_size": 8,
    "sampling_rate": 1000,
}


@pytest.mark.slow
def test_a_tiny_oobleck_runs_tiled_and_untiled_and_reads_in_seconds(tmp_path, capsys):
    config = tmp_path / "tiny-oobleck.json"
    config.write_text(json.dumps(TINY_OOBLECK))
    registry = tmp_path / "models.yaml"
    tiling = {"tile_sample_min_length": 400, "tile_sample_overlap": 40}
    tiling |= {"tile_latent_min_length": 40, "tile_latent_overlap": 4}
    entry = {"class": "AutoencoderOobleck", "family": "audio", "config": str(config), "input_channels": 2}
    entry |= {
        "latent_channels": 4,
        "sample_rate": 1000,
        "hop_length": 8,
        "tiling_kind": "audio",
        "tiling": tiling,
    }
    registry.write_text(yaml.safe_dump({"tiny-oobleck": entry}))
    sweep = base_sweep(models=["tiny-oobleck"], resolutions=..., seconds=[0.5, 2], tiled=[False, True])
    sweep |= {
        "registry": str(registry),
        "ops": ["encode", "decode"],
        "repeats": 2,
        "output": str(tmp_path / "runs"),
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep))
    assert main(["run", str(path)]) == 0
    run_dir = capsys.readouterr().out.splitlines()[-1]
    run = open_run(run_dir)
    assert len(run.records) == 8 and all(r.ok for r in run.records)
    labels = {r.label for r in run.records}
    assert (
        "tiny-oobleck decode 2s float32 tiled" in labels
        and "tiny-oobleck encode 0.5s float32 untiled" in labels
    )
    tiled = next(r for r in run.records if r.case.tiled)
    assert dict(tiled.case.tiling) == tiling
    assert main(["show", run_dir]) == 0
    assert "tiny-oobleck encode 2s float32 untiled" in capsys.readouterr().out


def test_one_audio_case_in_one_line(tmp_path, capsys):
    run = str(audio_gpu_run(tmp_path))
    ask = ["fit", run, "--vram", "4GiB", "--headroom", "0", "--model", "stable-audio", "--op", "decode"]
    assert main([*ask, "--size", "5s"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("FITS: ") and "5s" in line and line.count("\n") == 1
    assert main([*ask, "--size", "30s"]) == 1
    assert capsys.readouterr().out.startswith("DOES NOT FIT: ")
    assert main([*ask, "--size", "a while"]) == 2
    assert "'a while' is not a size" in capsys.readouterr().err
    assert main([*ask, "--size", "0s"]) == 2
    assert "'0s' is not a length of audio; say 30s" in capsys.readouterr().err


def test_half_a_minute_of_audio_is_stored_and_read_back():
    """30 s at 44.1 kHz is 1.3 million samples: more than any image side, still a case."""
    spec = REGISTRY["stable-audio"]
    c = Case("stable-audio", "decode", spec.samples(30), 1, None, 1, "bfloat16", False, None, seconds=30.0)
    assert c.width > 2**20
    rec = dataclasses.replace(case(), case=c, case_id=c.case_id)
    assert CaseRecord.from_json(json.loads(json.dumps(rec.to_json()))).case == c


@pytest.mark.parametrize(
    "change, says",
    [
        ({"models": ["same-s"], "resolutions": ..., "seconds": [1], "channels_last": True},
         "same-s is an audio model: its (batch, channels, samples) input has no channels_last layout"),
        ({"models": [{"name": "same-s", "resolutions": [512]}], "seconds": [1]},
         "models[0].resolutions: same-s is an audio model; it takes seconds, not resolutions"),
        ({"models": [{"name": "same-s", "frames": [5]}], "seconds": [1]},
         "same-s is an audio model; it has no frames axis"),
        ({"models": ["same-s"], "resolutions": ..., "seconds": [1], "tiled": True},
         "tiled: same-s (AutoencoderSAME) has no tiling: give it tiled: false"),
    ],
)  # fmt: skip
def test_what_an_audio_model_cannot_take_is_refused_before_it_runs(change, says):
    from bench.sweep.plan import make_plan

    with pytest.raises(BadInput) as info:
        make_plan(from_dict(base_sweep(**change)), resolve=False)
    assert says in str(info.value)


def test_an_override_of_models_owns_what_it_leaves_unmatched(capsys):
    assert main(["run", "every-vae-cpu", "models=stable-audio", "--dry-run"]) == 2
    assert "error: override seconds: missing; stable-audio is an audio model" in capsys.readouterr().err
    assert main(["run", "every-vae-cpu", "models=stable-audio", "seconds=1", "--dry-run"]) == 0
    assert "stable-audio decode 1s" in capsys.readouterr().out


def test_json_is_refused_where_the_answer_is_text(tmp_path, capsys):
    run = str(audio_gpu_run(tmp_path))
    ask = ["fit", run, "--vram", "4GiB", "--model", "stable-audio", "--op", "decode", "--size", "5s"]
    assert main([*ask, "--format", "json"]) == 2
    assert "--format: is for the table" in capsys.readouterr().err
    assert main([*ask, "--frames", "9"]) == 2
    assert "an audio length (--size 30s) has no frames" in capsys.readouterr().err
    assert main([*ask[:-1], "1024"]) == 2
    assert "stable-audio decode at 1024x1024 is not in the run(s); they hold stable-audio decode (audio" in (
        capsys.readouterr().err
    )
    assert main(["run", "cpu", "--dry-run", "--format", "json"]) == 2
    assert "a dry run lists the cases as text" in capsys.readouterr().err
