"""Trend charts as inline SVG: no script, no dependency, prints as it shows.

Each chart has a time axis shared with the others, so dose, alarms and discharge line up
across BP, heart rate and SpO2. Long series are thinned to the lowest and highest value per
pixel column, so a 3-hour second-by-second trend stays small and no dip is lost.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from html import escape

PRIORITY_COLOURS = {"high": "#d62728", "medium": "#e6a100", "low": "#17a2b8"}


@dataclass(frozen=True, slots=True)
class Line:
    name: str
    colour: str
    points: Sequence[tuple[datetime, float]]
    dots: bool = False


@dataclass(frozen=True, slots=True)
class Marker:
    at: datetime
    label: str
    colour: str
    dashed: bool = False


@dataclass(slots=True)
class Chart:
    title: str
    unit: str
    start: datetime
    end: datetime
    lines: list[Line] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    limits: list[tuple[float, str]] = field(default_factory=list)
    """Horizontal reference lines (value, label)."""
    y_min: float | None = None
    y_max: float | None = None
    tz: tzinfo | None = UTC
    """The zone the time axis is labelled in (None: the machine's own)."""


WIDTH, HEIGHT = 900, 230
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 26, 30


def thin(points: Sequence[tuple[datetime, float]], start: datetime, end: datetime,
         columns: int) -> list[tuple[datetime, float]]:
    """At most the lowest and the highest point of each column, in time order."""
    if len(points) <= columns * 2:
        return list(points)
    span = max((end - start).total_seconds(), 1e-9)
    buckets: dict[int, list[tuple[datetime, float]]] = {}
    for p in points:
        col = int((p[0] - start).total_seconds() / span * columns)
        buckets.setdefault(col, []).append(p)
    out: list[tuple[datetime, float]] = []
    for col in sorted(buckets):
        group = buckets[col]
        lo = min(group, key=lambda p: p[1])
        hi = max(group, key=lambda p: p[1])
        out.extend(sorted({lo, hi}, key=lambda p: p[0]))
    return out


def _nice_step(span: float, target: int = 5) -> float:
    raw = span / max(target, 1)
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _time_step(seconds: float) -> timedelta:
    for minutes in (1, 2, 5, 10, 15, 30, 60, 120):
        if seconds / (minutes * 60) <= 10:
            return timedelta(minutes=minutes)
    return timedelta(hours=4)


def render(chart: Chart) -> str:
    """One chart as an ``<svg>`` element."""
    span_s = max((chart.end - chart.start).total_seconds(), 1.0)
    values = [v for line in chart.lines for _, v in line.points]
    values += [v for v, _ in chart.limits]
    lo = chart.y_min if chart.y_min is not None else (min(values) if values else 0.0)
    hi = chart.y_max if chart.y_max is not None else (max(values) if values else 1.0)
    if values:
        lo, hi = min(lo, min(values)), max(hi, max(values))
    if hi <= lo:
        hi = lo + 1
    pad = (hi - lo) * 0.08
    lo, hi = lo - pad, hi + pad
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: datetime) -> float:
        return LEFT + (t - chart.start).total_seconds() / span_s * plot_w

    def y(v: float) -> float:
        return TOP + (hi - v) / (hi - lo) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'aria-label="{escape(chart.title)}">',
        f"<title>{escape(chart.title)}</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fbfbfb" '
        'stroke="#bbb"/>',
        f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold">'
        f"{escape(chart.title)} ({escape(chart.unit)})</text>",
    ]
    step = _nice_step(hi - lo)
    v = math.ceil(lo / step) * step
    while v <= hi:
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                     'stroke="#e4e4e4"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" font-size="10" '
                     f'text-anchor="end">{v:g}</text>')
        v += step
    tstep = _time_step(span_s)
    # The grid falls on whole hours and minutes of the zone people read it in.
    t = chart.start.astimezone(chart.tz).replace(minute=0, second=0, microsecond=0)
    while t <= chart.start:
        t += tstep
    while t < chart.end:
        if t > chart.start:
            parts.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{TOP}" '
                         f'y2="{TOP + plot_h}" stroke="#eee"/>')
            parts.append(f'<text x="{x(t):.1f}" y="{HEIGHT - 12}" font-size="10" '
                         f'text-anchor="middle">{t:%H:%M}</text>')
        t += tstep
    for value, label in chart.limits:
        parts.append(f'<line class="limit" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(value):.1f}" '
                     f'y2="{y(value):.1f}" stroke="#d62728" stroke-dasharray="4 3" '
                     'stroke-width="1"/>')
        parts.append(f'<text x="{LEFT + plot_w - 4}" y="{y(value) - 3:.1f}" font-size="10" '
                     f'text-anchor="end" fill="#d62728">{escape(label)}</text>')
    for line in chart.lines:
        pts = thin(line.points, chart.start, chart.end, plot_w)
        if not pts:
            continue
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in pts)
        parts.append(f'<polyline class="series" data-name="{escape(line.name)}" fill="none" '
                     f'stroke="{line.colour}" stroke-width="1.6" points="{coords}"/>')
        if line.dots:
            for t, v in pts:
                parts.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="3" '
                             f'fill="{line.colour}"><title>{escape(line.name)} {v:g} at '
                             f"{t.astimezone(chart.tz):%H:%M:%S}</title></circle>")
    legend_x = LEFT + 230
    for line in chart.lines:
        parts.append(f'<rect x="{legend_x}" y="7" width="12" height="4" fill="{line.colour}"/>'
                     f'<text x="{legend_x + 16}" y="13" font-size="11">{escape(line.name)}</text>')
        legend_x += 30 + 7 * len(line.name)
    for marker in chart.markers:
        if not chart.start <= marker.at <= chart.end:
            continue
        dash = ' stroke-dasharray="3 3"' if marker.dashed else ""
        parts.append(
            f'<g class="marker" data-label="{escape(marker.label)}">'
            f'<line x1="{x(marker.at):.1f}" x2="{x(marker.at):.1f}" y1="{TOP}" '
            f'y2="{TOP + plot_h}" stroke="{marker.colour}" stroke-width="1.4"{dash}/>'
            f'<polygon points="{x(marker.at) - 4:.1f},{TOP} {x(marker.at) + 4:.1f},{TOP} '
            f'{x(marker.at):.1f},{TOP + 7}" fill="{marker.colour}"/>'
            f"<title>{escape(marker.label)} at "
            f"{marker.at.astimezone(chart.tz):%H:%M:%S}</title></g>"
        )
    parts.append("</svg>")
    return "\n".join(parts)
