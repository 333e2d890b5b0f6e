"""The kinds of GPU a Ray cluster offers, read from what `ray.nodes()` returns: the
`accelerator_type:<KIND>` resource Ray gives a node with a known GPU (or that
`ray start --resources` declares), or the node's `ray.io/accelerator-type` label."""

from __future__ import annotations

from dataclasses import dataclass

RESOURCE_PREFIX = "accelerator_type:"
LABEL = "ray.io/accelerator-type"


@dataclass
class Kind:
    name: str
    gpus: float = 0.0  # GPUs on the live nodes of this kind, together

    @property
    def resource(self) -> str:
        return RESOURCE_PREFIX + self.name


def kinds_of(nodes: list[dict]) -> dict[str, Kind]:
    """Every kind a live node offers, by name."""
    found: dict[str, Kind] = {}
    for node in nodes:
        if not node.get("Alive", True):
            continue
        resources = node.get("Resources") or {}
        names = {k[len(RESOURCE_PREFIX) :] for k in resources if k.startswith(RESOURCE_PREFIX)}
        label = (node.get("Labels") or {}).get(LABEL)
        if label:
            names.add(label)
        for name in names:
            kind = found.setdefault(name, Kind(name))
            kind.gpus += float(resources.get("GPU", 0))
    return found


def _norm(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def choose(found: dict[str, Kind], wanted: list[str] | None) -> tuple[list[Kind], list[str]]:
    """The kinds to run on: those asked for (matched without case, spaces or dashes, so
    that "RTX 4090" finds a node's "RTX-4090"), or every kind found; and the asked-for
    kinds that no node offers."""
    if not wanted:
        return [found[k] for k in sorted(found)], []
    by_norm = {_norm(k): v for k, v in found.items()}
    chosen, missing = [], []
    for w in wanted:
        kind = by_norm.get(_norm(w))
        if kind is None:
            missing.append(w)
        elif kind not in chosen:
            chosen.append(kind)
    return chosen, missing
