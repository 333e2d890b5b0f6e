"""configs/cards.yaml: the total memory of GPUs by the name torch gives them, for a
published percentage in MiB, and for cards a run was not made on."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from bench.errors import BadInput, shown
from bench.files import read_yaml
from bench.shipped import CONFIGS_DIR

DEFAULT_CARDS = CONFIGS_DIR / "cards.yaml"
_FIELDS = {"nvidia_smi_mib": int, "torch_mib": int, "nominal_gib": (int, float)}
# A name sold in several memory sizes: `sizes` maps each size (8GB, 16GB) to its
# fields, and `pages` says which of them a published page's bare name means.
_GROUP = ("sizes", "pages")
_SIZE = re.compile(r"[1-9][0-9]{0,3}GB")
# What a name may begin with that does not tell cards apart.
BRAND = re.compile(r"^(nvidia )?((geforce|tesla|quadro) )?", re.IGNORECASE)
# No card comes near 16 TiB.
MAX_MIB = 16 * 2**20


@dataclass(frozen=True)
class Card:
    name: str
    nvidia_smi_mib: int | None = None
    torch_mib: int | None = None
    nominal_gib: float | None = None
    sizes: tuple[str, ...] = ()  # a name sold in several sizes: the names of its cards
    pages: str | None = None  # the card of `sizes` a documentation page's bare name means

    @property
    def mib(self) -> float:
        """What percentages are of: torch's total where known, then nvidia-smi's, then
        the size the card is sold with (see `approximate`)."""
        if self.sizes:
            raise ValueError(f"{self.name} is sold in several sizes")  # find_card refuses it first
        return float(self.torch_mib or self.nvidia_smi_mib or self.nominal_gib * 1024)

    @property
    def bytes(self) -> float:
        return self.mib * 2**20

    @property
    def approximate(self) -> bool:
        return self.torch_mib is None and self.nvidia_smi_mib is None


def key(name: str) -> str:
    """Names compare without case, spacing, the "NVIDIA " older drivers omit, or the
    brand ("GeForce RTX 3080", "RTX 3080" and "NVIDIA GeForce RTX 3080" are one card);
    a size reads alike as "16GB", "16 GB" or "16GiB"."""
    text = " ".join(name.lower().split())
    text = re.sub(r"(?<=[0-9]) ?gi?b$", "gb", text)
    return BRAND.sub("", text)


def load_cards(path: str | Path | None = None) -> dict[str, Card]:
    path = Path(path) if path else DEFAULT_CARDS
    raw = read_yaml(path, "card table", follow=True)
    if not isinstance(raw, dict) or not raw:
        raise BadInput(path, None, "must map card names to their memory")
    cards: dict[str, Card] = {}

    def add(card: Card) -> None:
        if key(card.name) in cards:
            why = (
                f"names the same card as {cards[key(card.name)].name!r} (names compare without case or brand)"
            )
            raise BadInput(path, card.name, why)
        cards[key(card.name)] = card

    for name, entry in raw.items():
        if not isinstance(name, str) or not name.strip():
            raise BadInput(path, shown(name), "a card's name must be text, as torch names the card")
        if isinstance(entry, dict) and "sizes" in entry:
            sizes = _sizes(path, name, entry)
            for size, fields in sizes.items():
                add(Card(f"{name} {size}", **_fields(path, f"{name}.sizes.{size}", fields)))
            add(Card(name, sizes=tuple(f"{name} {s}" for s in sizes), pages=_pages(path, name, entry, sizes)))
        else:
            add(Card(name, **_fields(path, name, entry)))
    return cards


def _sizes(path: Path, name: str, entry: dict) -> dict:
    for field in entry:
        if field not in _GROUP:
            raise BadInput(path, f"{name}.{field}", f"unknown key beside sizes; allowed: {', '.join(_GROUP)}")
    sizes = entry["sizes"]
    if not isinstance(sizes, dict) or len(sizes) < 2:
        raise BadInput(path, f"{name}.sizes", "must map two or more sizes (8GB, 16GB) to their memory")
    for size in sizes:
        if not isinstance(size, str) or not _SIZE.fullmatch(size):
            raise BadInput(path, f"{name}.sizes", f"{shown(size)} is not a size like 8GB or 16GB")
    return sizes


def _pages(path: Path, name: str, entry: dict, sizes: dict) -> str | None:
    pages = entry.get("pages")
    if pages is None:
        return None
    if pages not in sizes:
        raise BadInput(path, f"{name}.pages", f"{shown(pages)} is none of its sizes ({', '.join(sizes)})")
    return f"{name} {pages}"


def _fields(path: Path, where: str, entry) -> dict:
    if not isinstance(entry, dict) or not entry:
        raise BadInput(path, where, f"must be a mapping of {', '.join(_FIELDS)} (or of sizes)")
    for field, value in entry.items():
        typ = _FIELDS.get(field)
        if typ is None:
            raise BadInput(
                path, f"{where}.{field}", f"unknown key; allowed: {', '.join((*_FIELDS, *_GROUP))}"
            )
        limit = MAX_MIB / 1024 if field == "nominal_gib" else MAX_MIB
        if isinstance(value, bool) or not isinstance(value, typ) or not 0 < value <= limit:
            # `not 0 < value` also holds for .nan; .inf is past the limit
            why = f"must be a positive number of at most {limit:g}, got {shown(value)}"
            raise BadInput(path, f"{where}.{field}", why)
    return entry


def find_card(cards: dict[str, Card], name: str) -> Card:
    """The card of that name, or bad input naming the close ones; a name sold in
    several sizes is refused with the names of its sizes (an 8 GB card is not a 16 GB
    one, and a verdict for the wrong one is worse than none)."""
    card = cards.get(key(name))
    if card is not None and card.sizes:
        sizes = " or ".join(repr(s) for s in card.sizes)
        raise BadInput(None, "card", f"{shown(name)} is sold in several memory sizes: say {sizes}")
    if card is not None:
        return card
    close = difflib.get_close_matches(key(name), list(cards), n=4, cutoff=0.5)
    hint = f"; close: {', '.join(cards[k].name for k in close)}" if close else "; see the names there"
    raise BadInput(None, "card", f"{shown(name)} is not in configs/cards.yaml{hint}")


def page_card(cards: dict[str, Card], name: str) -> Card | None:
    """The card a documentation page's device name means: the card itself, or for a
    name sold in several sizes the one cards.yaml says the pages were measured on."""
    card = cards.get(key(name))
    if card is not None and card.sizes:
        return cards[key(card.pages)] if card.pages else None
    return card


def card_mib(cards: dict[str, Card], name: str) -> float | None:
    card = page_card(cards, name)
    return card.mib if card is not None else None


class CardSize(NamedTuple):
    label: str  # "24 GiB: RTX 3090, RTX 4090 +1"
    bytes: float  # the least of its cards'
    cards: int  # how many cards of the table come in it


def card_sizes(cards: dict[str, Card]) -> list[CardSize]:
    """The memory sizes the cards come in, smallest first: a line a chart draws per
    size, named by it and by its cards. Cards whose totals round to one GiB share a size."""
    by_size: dict[int, list[Card]] = {}
    for card in cards.values():
        if not card.sizes:
            by_size.setdefault(round(card.mib / 1024), []).append(card)
    out = []
    for gib in sorted(by_size):
        group = sorted(by_size[gib], key=lambda c: c.name)
        short = [BRAND.sub("", c.name) for c in group]
        names = ", ".join(short[:2]) + (f" +{len(short) - 2}" if len(short) > 2 else "")
        out.append(CardSize(f"{gib} GiB: {names}", min(c.bytes for c in group), len(group)))
    return out
