"""Charts drawn on the server as SVG: no chart library, no script. Each point carries a
``<title>``, which the browser shows on hover."""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

from pairloop.usecases.curve import LearningCurve
from pairloop.usecases.round_progress import RoundProgress

WIDTH, HEIGHT = 1000, 420
LEFT, RIGHT, TOP, BOTTOM = 60, 170, 18, 48
# One colour per series: macro-F1 first, then the relations (colour-blind safe, Okabe-Ito).
COLOURS = ("#0b3d91", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00")


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round numbers from ``low`` to ``high``."""
    if high <= low:
        return [low]
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if step * m >= raw)
    first = math.ceil(low / step - 1e-9) * step
    return [round(first + i * step, 10) for i in range(int((high - first) / step + 1e-9) + 1)]


def _label(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:g}"


def learning_curve_svg(curve: LearningCurve) -> Markup:
    """Held-out macro-F1 (and per-class F1, dashed) against labels acquired; one marker per closed round."""
    points = [p for p in curve.points if p.macro_f1 is not None]
    if not points:
        return Markup("")
    values = [p.macro_f1 for p in points] + [f for p in points for f in p.per_class_f1.values()]
    y_low = max(0.0, math.floor(min(values) * 10) / 10)
    y_high = min(1.0, math.ceil(max(values) * 10) / 10)
    y_high = y_high if y_high > y_low else y_low + 0.1
    x_low, x_high = 0, max(p.labels for p in points) or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(value: float) -> float:
        return round(LEFT + (value - x_low) / (x_high - x_low) * plot_w, 1)

    def y(value: float) -> float:
        return round(TOP + (1 - (value - y_low) / (y_high - y_low)) * plot_h, 1)

    out = [f'<svg class="chart" id="learning-curve" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
           f'aria-label="held-out macro-F1 against labels acquired" xmlns="http://www.w3.org/2000/svg">']
    for tick in _ticks(y_low, y_high):
        out.append(f'<line class="grid" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(tick)}" y2="{y(tick)}"/>'
                   f'<text class="tick" x="{LEFT - 6}" y="{y(tick) + 4}" text-anchor="end">{tick:.2f}</text>')
    for tick in _ticks(x_low, x_high):
        out.append(f'<line class="axis" x1="{x(tick)}" x2="{x(tick)}" y1="{TOP + plot_h}" y2="{TOP + plot_h + 4}"/>'
                   f'<text class="tick" x="{x(tick)}" y="{TOP + plot_h + 18}" text-anchor="middle">'
                   f'{_label(tick)}</text>')
    out.append(f'<line class="axis" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{TOP + plot_h}" y2="{TOP + plot_h}"/>'
               f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}"/>'
               f'<text class="axis-title" x="{LEFT + plot_w / 2}" y="{HEIGHT - 6}" text-anchor="middle">'
               'labels acquired</text>'
               f'<text class="axis-title" transform="rotate(-90)" x="{-(TOP + plot_h / 2)}" y="14" '
               'text-anchor="middle">held-out F1</text>')
    series = [("macro-F1", [(p, p.macro_f1) for p in points])]
    series += [(name, [(p, p.per_class_f1[name]) for p in points if name in p.per_class_f1])
               for name in curve.classes]
    for index, (name, pairs) in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        kind = "main" if index == 0 else "class"
        path = " ".join(f"{x(p.labels)},{y(v)}" for p, v in pairs)
        out.append(f'<polyline class="line {kind}" points="{path}" stroke="{colour}"/>')
        for p, v in pairs:
            tip = (f"round {p.round} · {p.labels:,} labels acquired · classifier {p.classifier or '?'}"
                   f" · {name} {v:.3f}")
            attrs = (f'class="point {kind}" data-round="{p.round}" data-labels="{p.labels}" '
                     f'data-series="{escape(name)}"' if index == 0 else
                     f'class="point {kind}" data-series="{escape(name)}"')
            out.append(f'<circle {attrs} cx="{x(p.labels)}" cy="{y(v)}" r="{5 if index == 0 else 3.5}" '
                       f'fill="{colour}"><title>{escape(tip)}</title></circle>')
        legend_y = TOP + 10 + index * 20
        out.append(f'<line class="line {kind}" x1="{WIDTH - RIGHT + 14}" x2="{WIDTH - RIGHT + 38}" '
                   f'y1="{legend_y}" y2="{legend_y}" stroke="{colour}"/>'
                   f'<text class="legend" x="{WIDTH - RIGHT + 44}" y="{legend_y + 4}">{escape(name)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


# The parts of a round's progress bar, in order, with the figure each is drawn from ("unsure"
# pairs are pending or disputed too: listed beside the bar, not drawn twice).
PROGRESS_PARTS = (("verified", "verified"), ("in adjudication", "in_adjudication"), ("disputed", "disputed"),
                  ("partly answered", "partly_answered"), ("pending", "pending"))


def progress_svg(row: RoundProgress, width: int = 220, height: int = 14) -> Markup:
    """A stacked bar of the round's pairs: verified (auto-accepted included), in adjudication,
    disputed, partly answered, pending; each part titled with its count."""
    total = row.pairs or 0
    if not total:
        return Markup("")
    out = [f'<svg class="progress" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
           f'xmlns="http://www.w3.org/2000/svg"><rect class="bar-bg" width="{width}" height="{height}"/>']
    offset = 0.0
    for name, attr in PROGRESS_PARTS:
        count = getattr(row, attr) or 0
        share = min(count, total) / total * width
        if share <= 0:
            continue
        out.append(f'<rect class="part {attr}" x="{offset:.1f}" width="{share:.1f}" height="{height}">'
                   f'<title>{count} {name}</title></rect>')
        offset += share
    out.append("</svg>")
    return Markup("".join(out))


def heat(value: int, maximum: int) -> str:
    """A confusion-matrix cell's shade class: heat-0 (none) to heat-5 (the matrix's largest)."""
    return "heat-0" if not value or not maximum else f"heat-{max(1, round(5 * value / maximum))}"


def matrix_max(matrix: Sequence[Sequence[int]]) -> int:
    return max((v for row in matrix for v in row), default=0)
