"""What fits which card, drawn: a GPU run's allocated peaks plus its CUDA context
against megapixels, with the lines bench.analysis.fit fitted through them."""

from __future__ import annotations

from matplotlib.figure import Figure

from bench.analysis.fit import largest_side, longest_audio, pixels
from bench.analysis.plot_axes import GIB, figure
from bench.record.series import card_need


def fit_figure(rm, model: str, op: str, cards: list[tuple[str, float]], headroom=None) -> Figure | None:
    """A GPU run's allocated peaks (plus its CUDA context) against megapixels, with the
    fitted lines of bench.analysis.fit, one line per card at what it leaves after the
    headroom (bench.analysis.fit.Headroom; none where not given), and where the untiled
    line meets it: the largest untiled square. The figure and the lines are those the
    verdicts of `vae-bench fit` compare."""
    series = [s for s in rm.series if (s.model, s.op) == (model, op) and s.allocated is not None]
    if not series:
        return None
    fig, (ax,) = figure()
    ctx = rm.context or 0

    def room(total: float) -> float:
        return headroom.of(total) if headroom is not None else 0.0

    top = 0.0
    for n, s in enumerate(series):
        color = f"C{n // 2}"
        ok = [r for r in s.records if r.ok and r.mem.peak_allocated is not None]
        xs = [pixels(r) / 1e6 for r in ok]
        ys = [card_need(r.mem.peak_allocated, rm.context) / GIB for r in ok]
        ax.plot(xs, ys, "o", color=color)
        grid = [x * 1e6 for x in _span(min(xs), max(xs) * 4)]
        needs = [card_need(s.allocated(x), rm.context) for x in grid]
        line = [float("nan") if need is None else need / GIB for need in needs]
        style = "--" if s.tiled else "-"
        ax.plot(
            [x / 1e6 for x in grid], line, style, color=color, label=f"{s.label} ({s.allocated.kind} fit)"
        )
        top = max(top, *ys)
        if not s.tiled:
            for _, total in cards:
                # where the untiled line meets the card: the largest square, or the
                # longest audio (the x of an audio case is its samples)
                if s.rate:
                    most, _ = longest_audio(s, total, rm.context, room(total))
                    x, text = (most * s.rate, f"{most:g} s") if most else (None, "")
                else:
                    side, _ = largest_side(s, total, rm.context, room(total))
                    x, text = (side * side, f"{side}px") if side else (None, "")
                usable = (total - room(total)) / GIB
                if x and x <= max(xs) * 4e6:
                    ax.plot([x / 1e6], [usable], marker="D", color=color, linestyle="none")
                    ax.annotate(
                        text,
                        (x / 1e6, usable),
                        xytext=(4, -10),
                        textcoords="offset points",
                        fontsize=7,
                        color=color,
                    )
    for name, total in cards:
        usable = (total - room(total)) / GIB
        ax.axhline(usable, color="0.55", linewidth=0.9, linestyle=":", zorder=0)
        ax.annotate(
            name + (f", less {headroom.describe(total)}" if room(total) else ""),
            xy=(0, usable),
            xycoords=("axes fraction", "data"),
            xytext=(4, 2),
            textcoords="offset points",
            fontsize=8,
            color="0.35",
        )
        top = max(top, usable)
    ax.set_xscale("log")
    ax.set_ylim(0, top * 1.15)
    size = "audio samples (millions" if series[0].rate else "image size (megapixels"
    ax.set_xlabel(f"{size}, log scale); lines: the fit, beyond the points extrapolated")
    ax.set_ylabel(f"allocated peak + CUDA context ({ctx / 2**20:.0f} MiB), GiB")
    ax.set_title(
        f"{model} {op} on {rm.run.device_name}: what fits which card (diamond: largest untiled square)"
    )
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def _span(lo: float, hi: float, n: int = 60) -> list[float]:
    return [lo * (hi / lo) ** (i / (n - 1)) for i in range(n)]
