"""The hostile run-folder corpus of tests/test_hostile_corpus.py, made from a CPU run of
a tiny VAE (a resume can plan it), walked through every reader."""

from __future__ import annotations

import pytest

from tests.test_hostile_corpus import cpu_base, walk_run_corpus  # noqa: F401  (cpu_base: a fixture)

pytestmark = pytest.mark.slow


def test_every_hostile_cpu_run_folder_through_every_reader(capsys, tmp_path, cpu_base):  # noqa: F811
    walk_run_corpus(capsys, tmp_path, cpu_base)
