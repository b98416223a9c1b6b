"""Inline SVG charts for the HTML report, written here (no library, no script, no network).

``line_chart`` draws series over a shared x axis and can shade x ranges and mark points, so a
timeline of another kind (fault windows over latency, say) reuses it. ``bar_chart`` draws
labelled bars. Every text that reaches the SVG is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 30
COLOURS = ("#2563eb", "#dc2626", "#7c3aed", "#059669", "#d97706")


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[float, float]]


@dataclass(frozen=True)
class Chart:
    """What a line chart shows: series, shaded x ranges (label, x0, x1) and marked points."""

    series: Sequence[Series]
    x_label: str
    y_label: str
    shaded: Sequence[tuple[str, float, float]] = field(default_factory=tuple)
    marks: Sequence[tuple[str, float, float]] = field(default_factory=tuple)


class _Scale:
    def __init__(self, xs: Sequence[float], ys: Sequence[float]) -> None:
        self.x0, self.x1 = min(xs, default=0.0), max(xs, default=1.0)
        self.y1 = max(ys, default=1.0) * 1.1 or 1.0
        if self.x1 == self.x0:
            self.x1 = self.x0 + 1

    def x(self, v: float) -> float:
        return LEFT + (v - self.x0) / (self.x1 - self.x0) * (WIDTH - LEFT - RIGHT)

    def y(self, v: float) -> float:
        return HEIGHT - BOTTOM - v / self.y1 * (HEIGHT - TOP - BOTTOM)


def line_chart(chart: Chart) -> str:
    xs = [x for s in chart.series for x, _ in s.points] + [
        x for _, a, b in chart.shaded for x in (a, b)
    ]
    scale = _Scale(xs, [y for s in chart.series for _, y in s.points])
    parts = [_frame(scale, chart.x_label, chart.y_label)]
    parts += [_shade(scale, label, a, b) for label, a, b in chart.shaded]
    for i, series in enumerate(chart.series):
        parts.append(_polyline(scale, series, COLOURS[i % len(COLOURS)]))
    parts += [_mark(scale, label, x, y) for label, x, y in chart.marks]
    parts.append(_legend([s.name for s in chart.series]))
    return _svg("".join(parts))


def bar_chart(bars: Sequence[tuple[str, float]], x_label: str, y_label: str) -> str:
    scale = _Scale([0, max(len(bars), 1)], [v for _, v in bars])
    width = (WIDTH - LEFT - RIGHT) / max(len(bars), 1)
    parts = [_frame(scale, x_label, y_label, x_ticks=False)]
    for i, (label, value) in enumerate(bars):
        x, y = scale.x(i), scale.y(value)
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(width - 2, 1):.1f}" '
            f'height="{HEIGHT - BOTTOM - y:.1f}" fill="{COLOURS[0]}">'
            f"<title>{escape(label)}: {value:g}</title></rect>"
        )
        if i % max(1, len(bars) // 8) == 0:
            parts.append(_text(x + width / 2, HEIGHT - BOTTOM + 14, label, anchor="middle"))
    return _svg("".join(parts))


def _svg(body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" font-size="11" font-family="sans-serif">{body}</svg>'
    )


def _frame(scale: _Scale, x_label: str, y_label: str, *, x_ticks: bool = True) -> str:
    bottom, parts = HEIGHT - BOTTOM, []
    parts.append(
        f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" stroke="#999"/>'
    )
    parts.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#999"/>')
    for frac in (0.0, 0.5, 1.0):
        value = scale.y1 / 1.1 * frac
        parts.append(_text(LEFT - 4, scale.y(value) + 4, f"{value:.3g}", anchor="end"))
    if x_ticks:
        for frac in (0.0, 0.5, 1.0):
            value = scale.x0 + (scale.x1 - scale.x0) * frac
            parts.append(_text(scale.x(value), bottom + 14, f"{value:.3g}", anchor="middle"))
    parts.append(_text((LEFT + WIDTH) / 2, HEIGHT - 2, x_label, anchor="middle"))
    parts.append(_text(4, TOP + 8, y_label))
    return "".join(parts)


def _polyline(scale: _Scale, series: Series, colour: str) -> str:
    coords = " ".join(f"{scale.x(x):.1f},{scale.y(y):.1f}" for x, y in series.points)
    return f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{coords}"/>'


def _shade(scale: _Scale, label: str, a: float, b: float) -> str:
    x0, x1 = scale.x(a), scale.x(b)
    return (
        f'<rect x="{x0:.1f}" y="{TOP}" width="{max(x1 - x0, 1):.1f}" '
        f'height="{HEIGHT - TOP - BOTTOM}" fill="#f59e0b" opacity="0.2">'
        f"<title>{escape(label)}</title></rect>"
    )


def _mark(scale: _Scale, label: str, x: float, y: float) -> str:
    return (
        f'<circle cx="{scale.x(x):.1f}" cy="{scale.y(y):.1f}" r="3" fill="#111">'
        f"<title>{escape(label)}</title></circle>"
    )


def _legend(names: Sequence[str]) -> str:
    parts = []
    for i, name in enumerate(names):
        x = WIDTH - RIGHT - 90 * (len(names) - i)
        colour = COLOURS[i % len(COLOURS)]
        parts.append(f'<rect x="{x}" y="{TOP}" width="10" height="10" fill="{colour}"/>')
        parts.append(_text(x + 14, TOP + 9, name))
    return "".join(parts)


def _text(x: float, y: float, text: str, *, anchor: str = "start") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(text)}</text>'
