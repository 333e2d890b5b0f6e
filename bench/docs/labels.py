"""The words of the documentation tables, per language: header labels, the OOM word,
and the block titles of tables rendered without a spec.

A language has a default header set and may have named variants: the published
English pages use two (`default` and `consumed`). A variant a language lacks falls
back to its default, so one spec renders in every language.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.errors import BadInput

# What each of the six columns holds, in order; tables without tiled cases stop at four.
COLUMNS = ("device", "resolution", "time", "memory", "tiled_time", "tiled_memory")


@dataclass(frozen=True)
class LabelSet:
    lang: str
    headers: tuple[str, ...]  # one per COLUMNS entry
    oom: str
    encoding: str  # block titles of tables rendered without a spec
    decoding: str


_EN = ("GPU", "Resolution", "Time (seconds)", "Memory (%)", "Tiled Time (secs)", "Tiled Memory (%)")
_EN_CONSUMED = (
    "GPU",
    "Resolution",
    "Time (seconds)",
    "Memory Consumed (%)",
    "Tiled Time (seconds)",
    "Tiled Memory (%)",
)
_ZH = ("GPU", "分辨率", "时间（秒）", "内存（%）", "分块时间（秒）", "分块内存（%）")

LABELS: dict[str, dict[str, LabelSet]] = {
    "en": {
        "default": LabelSet("en", _EN, "OOM", "Encoding", "Decoding"),
        "consumed": LabelSet("en", _EN_CONSUMED, "OOM", "Encoding", "Decoding"),
    },
    "zh": {
        "default": LabelSet("zh", _ZH, "内存不足 (OOM)", "编码", "解码"),
    },
}
LANGS = tuple(LABELS)
VARIANTS = tuple(dict.fromkeys(v for sets in LABELS.values() for v in sets))


def label_set(lang: str, variant: str = "default") -> LabelSet:
    if lang not in LABELS:
        raise BadInput(None, "lang", f"unknown language {lang!r}; known: {', '.join(LANGS)}")
    if variant not in VARIANTS:
        raise BadInput(None, "labels", f"unknown label variant {variant!r}; known: {', '.join(VARIANTS)}")
    sets = LABELS[lang]
    return sets.get(variant, sets["default"])


def headers_of(lang: str) -> set[str]:
    """Every header label of a language, all variants."""
    return {h for s in LABELS[lang].values() for h in s.headers}


def all_headers() -> set[str]:
    return {h for lang in LANGS for h in headers_of(lang)}


def oom_words() -> set[str]:
    return {s.oom for sets in LABELS.values() for s in sets.values()}
