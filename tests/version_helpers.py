"""A git repository of a small package with a VAE class whose decode gets slower at one
commit of several, and a sweep of it: what `vae-bench bisect --repo` is tested on."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from tests.conftest import FIXTURES

PACKAGE = '''"""A tiny AutoencoderKL whose decode decodes TIMES times."""
from diffusers import AutoencoderKL

TIMES = {times}


class SlowDecode(AutoencoderKL):
    def decode(self, z, *args, **kwargs):
        for _ in range(TIMES - 1):
            super().decode(z, *args, **kwargs)
        return super().decode(z, *args, **kwargs)
'''
PYPROJECT = """[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "slowvae"
version = "0.1.0"
"""
# What each commit does; the third makes decode ten times slower. Work, not a sleep: a
# loaded machine stretches the quick and the slow decode alike (a sleep of 100 ms was
# seen to lose against quick calls stretched to 430 ms), and the ratio stays ten.
COMMITS = [
    ("the package", 1),
    ("a readme", 1),
    ("decode decodes ten times", 10),
    ("a comment", 10),
    ("another comment", 10),
]
SLOW_AT = 2


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def make_repo(root: Path) -> tuple[Path, list[str]]:
    """The repository and its commits, oldest first."""
    repo = root / "slowvae-repo"
    (repo / "slowvae").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.invalid")
    git(repo, "config", "user.name", "t")
    (repo / "pyproject.toml").write_text(PYPROJECT)
    shas = []
    for n, (message, times) in enumerate(COMMITS):
        (repo / "slowvae" / "__init__.py").write_text(PACKAGE.format(times=times) + f"# {n}\n")
        if n == 1:
            (repo / "README").write_text("slowvae\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", message)
        shas.append(git(repo, "rev-parse", "HEAD"))
    return repo, shas


def write_sweep(root: Path) -> Path:
    """A sweep of SlowDecode's decode at 32x32, its registry beside it."""
    shutil.copy(FIXTURES / "tiny-vae.json", root / "tiny-vae.json")
    registry = root / "slow-models.yaml"
    registry.write_text(
        yaml.safe_dump(
            {
                "slow": {
                    "class": "slowvae:SlowDecode",
                    "family": "image",
                    "config": "tiny-vae.json",
                    "spatial_compression": 2,
                    "tiling_kind": "kl",
                    "tiling": {"tile_sample_min_size": 32, "tile_overlap_factor": 0.25},
                }
            }
        )
    )
    sweep = root / "slow.yaml"
    sweep.write_text(
        yaml.safe_dump(
            {
                "name": "slow",
                "models": ["slow"],
                "ops": ["decode"],
                "resolutions": [32],
                "dtype": "float32",
                "tiled": [False],
                "warmup": 1,
                "warmup_time": 0,
                "repeats": 12,
                "device": "cpu",
                "weights": "random",
                "registry": str(registry),
                "output": str(root / "unused"),
            }
        )
    )
    return sweep
