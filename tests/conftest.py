from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TINY_REGISTRY = FIXTURES / "tiny-models.yaml"
# Committed runs: configs/cpu.yaml on a 2-core CPU, and configs/docs.yaml (before its
# SDXL was float32) on an NVIDIA H200.
REFERENCE = ROOT / "results" / "reference" / "20261125-173850-cpu-cpu"
REFERENCE_H200 = ROOT / "results" / "reference" / "20261126-010212-nvidia-h200-docs"
# configs/docs.yaml again on an H200, in the record's format 2 (intervals, clocks, throttling)
REFERENCE_H200_DOCS = ROOT / "bench" / "reference" / "20261126-054619-nvidia-h200-docs"
# configs/variants.yaml on the same card, shortened and stopped after 87 of 144 cases.
REFERENCE_H200_VARIANTS = ROOT / "bench" / "reference" / "20261126-054842-nvidia-h200-variants-lease"
# HunyuanVideo and Wan at 512x320 with 17 and 33 frames on the same card.
REFERENCE_H200_VIDEO = ROOT / "results" / "reference" / "20261126-010845-nvidia-h200-video-small"

# Nothing in the suite may reach the hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# The Ctrl-C tests send SIGINT as a terminal does. A shell that starts the suite in the
# background without job control (a CI script's `make test &`) sets SIGINT to be
# ignored, and an ignored signal stays ignored in every process started from here:
# Python then never raises KeyboardInterrupt. A handler (unlike SIG_IGN) is reset to the
# default in a child, so the sweeps these tests start react to Ctrl-C as a user's do.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


# The files that take longest, longest first. Two workers take whole files (--dist
# loadfile) in the order they are collected: the long ones first leaves short ones for
# the end, where a long file would keep one worker busy while the other has nothing.
LONGEST_FIRST = (  # seconds of a 2-core run, all its tests together: 96, 89, 79, 78, 74, ...
    "test_runner.py",
    "test_variants.py",
    "test_hostile_corpus.py",
    "test_bisect.py",
    "test_matrix.py",
    "test_run_safety.py",
    "test_fleet.py",
    "test_video_sweeps.py",
    "test_hostile_corpus_cpu.py",
    "test_launch.py",
    "test_families.py",
    "test_host.py",
    "test_audio.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: n for n, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file keeps its order
    if has_cuda():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; torch sees none here")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def write_sweep(tmp_path):
    """Write a sweep YAML into tmp_path: a tiny-VAE sweep with `fields` on top."""

    def write(name: str = "sweep.yaml", **fields) -> Path:
        from tests.runs import tiny_sweep

        sweep = tiny_sweep(warmup=1, output=str(tmp_path / "runs"))
        sweep.update(fields)
        path = tmp_path / name
        path.write_text(yaml.safe_dump(sweep))
        return path

    return write
