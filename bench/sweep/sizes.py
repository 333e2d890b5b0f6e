"""The parsers of a case's size axes (bench.sweep.fields names them): resolutions for
images and video, frames for video, seconds for audio. Each checks its values
against the models they are for: a model's own entry in `models`, or every model
that gives none of its own."""

from __future__ import annotations

import re
from typing import Any

from bench.errors import shown
from bench.models.registry import frame_step
from bench.record.case import MAX_AUDIO_SECONDS, MAX_FRAMES, MAX_SIDE, MIN_AUDIO_SECONDS
from bench.sweep.parsers import Reading, as_list, distinct, positive_int

RESOLUTION_RE = re.compile(r"^(\d+)x(\d+)$")


def resolutions(f, value, fld, r, model) -> tuple[tuple[int, int], ...]:
    """Each side a multiple of 8, and of the spatial compression of each model the
    resolutions are for: `model`, or every model that gives none of its own. Audio
    models take none: a sweep of audio models alone may leave them out."""
    if model and r.registry[model].is_audio and value is not None:
        raise r.bad(fld, f"{model} is an audio model; it takes seconds, not resolutions")
    names = [model] if model else [m for m in r.got["models"] if not r.own(m, "resolutions")]
    if value is None or value == []:  # [] too: a stored sweep of audio models alone
        pictures = [m for m in names if not r.registry[m].is_audio]
        if pictures and value == []:
            raise r.bad(fld, "must not be empty")
        if pictures:
            raise r.bad(fld, f"missing (required for image and video models: {', '.join(pictures)})")
        return ()
    parsed = distinct(_resolution(v, fld, r) for v in as_list(value, fld, r))
    for m in names:
        step = r.registry[m].spatial_compression
        for w, h in parsed:
            if w % step or h % step:
                raise r.bad(
                    fld,
                    f"{w}x{h} does not suit {m}: its sides must be multiples of {step}, "
                    f"{m}'s spatial compression (pixels per latent)",
                )
    return parsed


def _resolution(value: Any, fld: str, r: Reading) -> tuple[int, int]:
    """`512` is 512x512; `768x512` is width 768, height 512."""
    why = (
        f"{shown(value)} is not a resolution; use a positive multiple of 8 like 512 or 768x512 (WIDTHxHEIGHT)"
    )
    match = RESOLUTION_RE.match(value.strip()) if isinstance(value, str) else None
    if isinstance(value, int) and not isinstance(value, bool):
        w = h = value
    elif match:
        w, h = int(match.group(1)), int(match.group(2))
    else:
        raise r.bad(fld, why)
    if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE) or w % 8 or h % 8:
        raise r.bad(fld, why)
    return (w, h)


def frames(f, value, fld, r, model) -> tuple[int, ...] | None:
    """Frame counts, checked against the frame rule of each video model they are for
    (`model`, or every model that gives none of its own); image models have none."""
    if model and not r.registry[model].is_video:
        raise r.bad(fld, f"{model} is an {r.registry[model].family} model; it has no frames axis")
    names = [model] if model else [m for m in r.got.get("models", ()) if not r.own(m, "frames")]
    video = [r.registry[m] for m in names if r.registry[m].is_video]
    if value is None:
        if video:
            listed = ", ".join(s.name for s in video)
            example = ", ".join(str(1 + frame_step(video[0].frame_rule) * k) for k in (4, 8))
            raise r.bad(
                fld,
                f"missing; {listed} {'is a video model' if len(video) == 1 else 'are video models'} "
                f"and need{'s' if len(video) == 1 else ''} frame counts, e.g. frames: [{example}]",
            )
        return None
    if not video:
        raise r.bad(
            fld,
            "none of the models is a video model, so there is no frames axis; "
            "remove frames or add a video model",
        )
    counts = distinct(positive_int(v, fld, r, MAX_FRAMES) for v in as_list(value, fld, r))
    for spec in video:
        for n in counts:
            if not spec.frames_ok(n):
                raise r.bad(
                    fld,
                    f"{n} is not a valid frame count for {spec.name}: its frame counts are "
                    f"{spec.frame_rule_text()}",
                )
    return counts


def audio_seconds(f, value, fld, r, model) -> tuple[float, ...] | None:
    """Audio lengths in seconds, for the audio models they are for (`model`, or every
    model that gives none of its own); image and video models have none."""
    if model and not r.registry[model].is_audio:
        raise r.bad(fld, f"{model} is not an audio model; it has no seconds axis")
    names = [model] if model else [m for m in r.got.get("models", ()) if not r.own(m, "seconds")]
    audio = [m for m in names if r.registry[m].is_audio]
    if value is None:
        if audio:
            what = "is an audio model and needs" if len(audio) == 1 else "are audio models and need"
            raise r.bad(fld, f"missing; {', '.join(audio)} {what} lengths in seconds, e.g. seconds: [10, 30]")
        return None
    if not audio:
        raise r.bad(fld, "none of the models is an audio model, so there is no seconds axis")
    out = []
    lo, hi = MIN_AUDIO_SECONDS, MAX_AUDIO_SECONDS
    for v in as_list(value, fld, r):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
            raise r.bad(fld, f"each must be a number of seconds from {lo:g} to {hi:g}, got {shown(v)}")
        out.append(float(v))
    return distinct(out)
