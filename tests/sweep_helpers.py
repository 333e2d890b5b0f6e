"""Helpers for the tests of sweep files and of `run --resume` (tests.test_config,
tests.test_resume): a small valid sweep, a workspace no real sweep can run in, and the
check that bad input stops with one line and writes nothing."""

from __future__ import annotations

from pathlib import Path

import yaml

import bench.sweep.runner
from bench.cli import main

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "bench" / "configs"
SD_V1_JSON = CONFIGS / "models" / "sd-v1.json"


def base_sweep(**fields) -> dict:
    """A small valid sweep against the bundled registry; `fields` replace or add keys
    (a value of `...` removes the key)."""
    sweep = {
        "name": "t",
        "models": ["sd-v1"],
        "ops": ["encode"],
        "resolutions": [64],
        "dtype": "float32",
        "device": "cpu",
        "weights": "random",
    }
    sweep.update(fields)
    return {k: v for k, v in sweep.items() if v is not ...}


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under root, with the bytes of each file (None for folders)."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))
    }


def workspace(tmp_path: Path, monkeypatch) -> Workspace:
    """A workspace (each test module makes it its `ws` fixture): cwd is an empty tmp
    folder, the hub is offline, and no test can start a real sweep."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)

    def no_sweeps(self):
        raise AssertionError("the sweep was accepted and started running; it should have been rejected")

    monkeypatch.setattr(bench.sweep.runner.Runner, "run", no_sweeps)
    return Workspace(tmp_path)


class Workspace:
    def __init__(self, root: Path):
        self.root = root
        self.runs = root / "runs"  # every sweep written here has `output:` pointing at it
        self.out = root / "out"  # and --out, where given, points here

    def sweep(self, content: dict | str | bytes, name: str = "sweep.yaml", output: bool = True) -> Path:
        """Write a sweep file: a dict (dumped as YAML, with `output:` added), or raw text/bytes."""
        path = self.root / name
        if isinstance(content, dict):
            content = dict(content)
            if output:
                content.setdefault("output", str(self.runs))
            path.write_text(yaml.safe_dump(content, sort_keys=False))
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    def registry(self, repo: str, name: str = "models.yaml") -> Path:
        """A one-model registry: the bundled sd-v1 entry with another `repo`."""
        bundled = yaml.safe_load((CONFIGS / "models.yaml").read_text())
        entry = dict(bundled["sd-v1"], repo=repo, config=str(SD_V1_JSON))
        path = self.root / name
        path.write_text(yaml.safe_dump({"sd-v1": entry}))
        return path


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["run", *map(str, argv)])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def assert_one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stderr, got {len(lines)}:\n{err}"
    assert lines[0].startswith("vae-bench: error: "), lines[0]
    assert "Traceback" not in err
    return lines[0]


def reject(
    ws: Workspace, capsys, path: Path, *needles: str, extra: tuple[str, ...] = (), names_file: bool = True
) -> str:
    """Run `vae-bench run PATH` in-process; it must be bad input (exit 2) with one
    line holding every needle, and must leave the workspace as it found it."""
    before = tree(ws.root)
    rc, out, err = run_cli(capsys, path, *extra)
    line = assert_one_error_line(err)
    assert rc == 2, f"exit status {rc}, stderr: {err}"
    assert out == ""
    if names_file:
        assert str(path) in line, f"the message does not name the file {path}: {line}"
    for needle in needles:
        assert needle in line, f"{needle!r} not in: {line}"
    assert not ws.runs.exists() and not ws.out.exists(), "a run folder was made"
    assert tree(ws.root) == before, "bad input wrote something"
    return line
