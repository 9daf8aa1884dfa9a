"""Trend charts as inline SVG: no script, no external file, prints as it shows.

Each chart has a time axis shared with the others, so dose, alarms and discharge line up
across BP, heart rate and SpO2. Long series are thinned to the lowest and highest value per
pixel column, so a 3-hour second-by-second trend stays small and no dip is lost.

`layout` works out every position (scales, grid, thinned lines, marks);
``templates/chart.svg.j2`` draws them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from markupsafe import Markup

from . import pages

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
    # One pass, keeping each column's first lowest and first highest point.
    lows: dict[int, tuple[datetime, float]] = {}
    highs: dict[int, tuple[datetime, float]] = {}
    for p in points:
        col = int((p[0] - start).total_seconds() / span * columns)
        low = lows.get(col)
        if low is None:
            lows[col] = highs[col] = p
        elif p[1] < low[1]:
            lows[col] = p
        elif p[1] > highs[col][1]:
            highs[col] = p
    out: list[tuple[datetime, float]] = []
    for col in sorted(lows):
        out.extend(sorted({lows[col], highs[col]}, key=lambda p: p[0]))
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


@dataclass(frozen=True, slots=True)
class Tick:
    at: str
    """The position along its axis, formatted."""
    label: str
    label_at: str = ""
    """Where its label sits, when not at the same place."""


@dataclass(frozen=True, slots=True)
class DrawnLine:
    name: str
    colour: str
    points: str
    """``x,y x,y ...``"""
    dots: list[tuple[str, str, str]]
    """(x, y, what its tooltip says) of each point, when the line has dots"""


@dataclass(frozen=True, slots=True)
class DrawnMarker:
    x: str
    left: str
    right: str
    """Its line's position, and its triangle's corners."""
    label: str
    colour: str
    dashed: bool
    time: str


@dataclass(frozen=True, slots=True)
class Layout:
    """Everything the template draws, positioned."""

    chart: Chart
    width: int
    height: int
    left: int
    top: int
    plot_w: int
    plot_h: int
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    limits: list[Tick]
    lines: list[DrawnLine]
    legend: list[tuple[int, Line]]
    markers: list[DrawnMarker]


def layout(chart: Chart) -> Layout:
    """The chart's scales, grid, lines and marks, positioned for a ``WIDTH`` x ``HEIGHT`` box."""
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

    y_ticks = []
    step = _nice_step(hi - lo)
    v = math.ceil(lo / step) * step
    while v <= hi:
        y_ticks.append(Tick(f"{y(v):.1f}", f"{v:g}", f"{y(v) + 4:.1f}"))
        v += step
    x_ticks = []
    tstep = _time_step(span_s)
    # The grid falls on whole hours and minutes of the zone people read it in.
    t = chart.start.astimezone(chart.tz).replace(minute=0, second=0, microsecond=0)
    while t <= chart.start:
        t += tstep
    while t < chart.end:
        if t > chart.start:
            x_ticks.append(Tick(f"{x(t):.1f}", f"{t:%H:%M}"))
        t += tstep
    lines = []
    for line in chart.lines:
        pts = thin(line.points, chart.start, chart.end, plot_w)
        if not pts:
            continue
        lines.append(DrawnLine(
            line.name, line.colour, " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in pts),
            [(f"{x(t):.1f}", f"{y(v):.1f}",
              f"{line.name} {v:g} at {t.astimezone(chart.tz):%H:%M:%S}")
             for t, v in pts] if line.dots else []))
    legend = []
    legend_x = LEFT + 230
    for line in chart.lines:
        legend.append((legend_x, line))
        legend_x += 30 + 7 * len(line.name)
    return Layout(
        chart=chart, width=WIDTH, height=HEIGHT, left=LEFT, top=TOP, plot_w=plot_w,
        plot_h=plot_h, y_ticks=y_ticks, x_ticks=x_ticks,
        limits=[Tick(f"{y(value):.1f}", label, f"{y(value) - 3:.1f}")
                for value, label in chart.limits],
        lines=lines, legend=legend,
        markers=[DrawnMarker(f"{x(m.at):.1f}", f"{x(m.at) - 4:.1f}", f"{x(m.at) + 4:.1f}",
                             m.label, m.colour, m.dashed, f"{m.at.astimezone(chart.tz):%H:%M:%S}")
                 for m in chart.markers if chart.start <= m.at <= chart.end],
    )


def render(chart: Chart) -> Markup:
    """One chart as an ``<svg>`` element."""
    return Markup(pages.render("chart.svg.j2", c=layout(chart)))
