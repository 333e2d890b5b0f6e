"""configs/cards.yaml: the total memory of GPUs by the name torch gives them, for a
published percentage in MiB, and for cards a run was not made on."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BadInput, shown
from bench.files import read_yaml
from bench.shipped import CONFIGS_DIR

DEFAULT_CARDS = CONFIGS_DIR / "cards.yaml"
_FIELDS = {"nvidia_smi_mib": int, "torch_mib": int, "nominal_gib": (int, float)}
# No card comes near 16 TiB.
MAX_MIB = 16 * 2**20


@dataclass(frozen=True)
class Card:
    name: str
    nvidia_smi_mib: int | None = None
    torch_mib: int | None = None
    nominal_gib: float | None = None

    @property
    def mib(self) -> float:
        """What percentages are of: torch's total where known, then nvidia-smi's, then
        the size the card is sold with (see `approximate`)."""
        return float(self.torch_mib or self.nvidia_smi_mib or self.nominal_gib * 1024)

    @property
    def bytes(self) -> float:
        return self.mib * 2**20

    @property
    def approximate(self) -> bool:
        return self.torch_mib is None and self.nvidia_smi_mib is None


def key(name: str) -> str:
    """Names compare without case, spacing, the "NVIDIA " older drivers omit, or the
    brand ("GeForce RTX 3080", "RTX 3080" and "NVIDIA GeForce RTX 3080" are one card)."""
    text = " ".join(name.lower().split())
    return re.sub(r"^(nvidia )?((geforce|tesla|quadro) )?", "", text)


def load_cards(path: str | Path | None = None) -> dict[str, Card]:
    path = Path(path) if path else DEFAULT_CARDS
    raw = read_yaml(path, "card table", follow=True)
    if not isinstance(raw, dict) or not raw:
        raise BadInput(path, None, "must map card names to their memory")
    cards = {}
    for name, entry in raw.items():
        if not isinstance(name, str) or not name.strip():
            raise BadInput(path, shown(name), "a card's name must be text, as torch names the card")
        if not isinstance(entry, dict) or not entry:
            raise BadInput(path, name, f"must be a mapping of {', '.join(_FIELDS)}")
        for field, value in entry.items():
            typ = _FIELDS.get(field)
            if typ is None:
                raise BadInput(path, f"{name}.{field}", f"unknown key; allowed: {', '.join(_FIELDS)}")
            limit = MAX_MIB / 1024 if field == "nominal_gib" else MAX_MIB
            if isinstance(value, bool) or not isinstance(value, typ) or not 0 < value <= limit:
                # `not 0 < value` also holds for .nan; .inf is past the limit
                why = f"must be a positive number of at most {limit:g}, got {shown(value)}"
                raise BadInput(path, f"{name}.{field}", why)
        if key(name) in cards:
            raise BadInput(
                path,
                name,
                f"names the same card as {cards[key(name)].name!r} (names compare without case or brand)",
            )
        cards[key(name)] = Card(name, **entry)
    return cards


def find_card(cards: dict[str, Card], name: str) -> Card:
    """The card of that name, or bad input naming the close ones."""
    card = cards.get(key(name))
    if card is not None:
        return card
    close = difflib.get_close_matches(key(name), list(cards), n=4, cutoff=0.5)
    hint = f"; close: {', '.join(cards[k].name for k in close)}" if close else "; see the names there"
    raise BadInput(None, "card", f"{shown(name)} is not in configs/cards.yaml{hint}")


def card_mib(cards: dict[str, Card], name: str) -> float | None:
    card = cards.get(key(name))
    return card.mib if card is not None else None
