"""A run named as a person names it: a path, a run id or a unique prefix of one
(`20261126-0106`), `latest` or `previous`. Ids and the two words are looked up in
folders given in order (the command's --runs folder, then the shipped reference
runs); a path is taken as given."""

from __future__ import annotations

import warnings
from pathlib import Path

from bench.errors import BadInput, shown
from bench.record.store import META, read_meta

LATEST, PREVIOUS = "latest", "previous"
SHOWN_MATCHES = 5


def resolve_run(text: str, folders: list[Path], field: str = "RUN_DIR") -> Path:
    path = Path(text)
    if "/" in text or text in (".", "..") or path.is_dir():
        return path
    if text in (LATEST, PREVIOUS):
        return _by_time(text, folders, field)
    for folder in folders:
        ids = _ids(folder)
        if text in ids:
            return ids[text]
        matches = sorted(name for name in ids if name.startswith(text))
        if len(matches) == 1:
            return ids[matches[0]]
        if matches:
            listed = ", ".join(matches[:SHOWN_MATCHES]) + (", ..." if len(matches) > SHOWN_MATCHES else "")
            raise BadInput(
                None, field, f"{shown(text)} is the start of {len(matches)} run ids in {folder}: {listed}"
            )
    where = " or ".join(str(f) for f in folders)
    raise BadInput(
        None, field, f"{shown(text)} is no run folder, nor a run id or the start of one in {where}"
    )


def _ids(folder: Path) -> dict[str, Path]:
    """The run folders below `folder` by their names (links are not followed)."""
    if not folder.is_dir():
        return {}
    try:
        return {meta.parent.name: meta.parent for meta in sorted(folder.rglob(META))}
    except (OSError, RecursionError):
        return {}


def _by_time(word: str, folders: list[Path], field: str) -> Path:
    """The newest run (`latest`) or the one before it (`previous`) of the first folder
    that holds any, by the time each started (its meta.json alone: a run stopped before
    its first case is still one to resume)."""
    back = 1 if word == LATEST else 2
    for folder in folders:
        started = []
        for path in _ids(folder).values():
            try:
                meta = read_meta(path)
            except BadInput as exc:
                warnings.warn(f"left out: {exc}", stacklevel=2)  # it may be why another is the latest
                continue
            started.append((meta.started_at or "", meta.run_id or path.name, path))
        if not started:
            continue
        started.sort()
        if len(started) < back:
            why = f"{word}: {folder} holds one run, {started[0][1]}; there is none before it"
            raise BadInput(None, field, why)
        return started[-back][2]
    where = " or ".join(str(f) for f in folders)
    raise BadInput(None, field, f"{word}: no run in {where}")
