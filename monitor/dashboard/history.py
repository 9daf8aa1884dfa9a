"""The trends of one chair's session, kept from the states the dashboard receives.

Bounded: a stream (heart rate, SpO2) keeps at most one point per ``resolution_s`` and every
series at most ``maxlen`` points, so a long day never grows the dashboard. A new session (a
new patient code or start time) starts the trends afresh. Pure: no UI, no clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from drivers.wire import NUMBER_TYPES, ChairState

from .format import pressure_mmhg

SeriesName = Literal["systolic", "diastolic", "heart_rate", "spo2"]
SERIES: tuple[SeriesName, ...] = ("systolic", "diastolic", "heart_rate", "spo2")

Point = tuple[datetime, float]
_STREAMS: dict[str, SeriesName] = {"heart_rate": "heart_rate", "spo2": "spo2"}


@dataclass
class ChairHistory:
    """Points per series, the dose times, and which readings were already taken."""

    maxlen: int = 2048
    resolution_s: float = 5.0
    session: tuple[str, datetime] | None = None
    started_at: datetime | None = None
    doses: list[datetime] = field(default_factory=list)
    series: dict[SeriesName, deque[Point]] = field(default_factory=dict)
    _taken: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.series = {name: deque(maxlen=self.maxlen) for name in SERIES}
        self.doses = []
        self._taken = {}

    def add(self, state: ChairState) -> bool:
        """Take the new values of a state; True when a trend changed."""
        session = state.session
        key = (session.patient_code, session.started_at) if session is not None else None
        if key is not None and key != self.session:
            self._reset()
            self.session = key
            self.started_at = session.started_at if session is not None else None
        changed = False
        if session is not None:
            for when in (session.first_dose_at, session.last_dose_at):
                if when is not None and when not in self.doses:
                    self.doses.append(when)
                    self.doses.sort()
                    changed = True
        for kind, latest in state.latest.items():
            if self._taken.get(kind) == latest.reading_id or latest.quality == "invalid":
                continue
            self._taken[kind] = latest.reading_id
            at = latest.measured_at
            if kind == "blood_pressure":
                for name in ("systolic", "diastolic"):
                    value = pressure_mmhg(latest, name)
                    if value is not None:
                        changed |= self._put(name, at, value, spot=True)
            else:
                stream = _STREAMS.get(kind)
                number = latest.values.get(kind)
                if stream is not None and isinstance(number, NUMBER_TYPES):
                    changed |= self._put(stream, at, float(number), spot=False)
        return changed

    def _bucket(self, at: datetime) -> int:
        return int(at.timestamp() // self.resolution_s)

    def _put(self, name: SeriesName, at: datetime, value: float, *, spot: bool) -> bool:
        points = self.series[name]
        if points and at < points[-1][0]:
            return False  # older than what is shown: a late redelivery
        if not spot and points and self._bucket(points[-1][0]) == self._bucket(at):
            points[-1] = (at, value)  # thin a fast stream: the newest of each bucket stands
        else:
            points.append((at, value))
        return True


# --- plotting ------------------------------------------------------------------------

_BLOCKS = " ▁▂▃▄▅▆▇█"


@dataclass(frozen=True, slots=True)
class Span:
    """The time a plot covers, left edge to right edge."""

    start: datetime
    end: datetime

    @classmethod
    def of(cls, start: datetime | None, now: datetime, minimum_s: float = 600.0) -> Span:
        begin = start if start is not None and start < now else now - timedelta(seconds=minimum_s)
        end = max(now, begin + timedelta(seconds=minimum_s))
        return cls(begin, end)

    def column(self, when: datetime, width: int) -> int | None:
        """The column a time falls in, or None outside the span."""
        total = (self.end - self.start).total_seconds()
        offset = (when - self.start).total_seconds()
        if width <= 0 or total <= 0 or offset < 0 or offset > total:
            return None
        return min(width - 1, int(offset / total * width))

    def columns_of(self, times: Iterable[datetime], width: int) -> list[int]:
        """The columns of the times that fall in the span, in order, once each."""
        found = {self.column(when, width) for when in times}
        return sorted(col for col in found if col is not None)


def columns(
    points: Iterable[Point], span: Span, width: int, worst: Literal["min", "max"]
) -> list[float | None]:
    """One value per column: the worst (lowest SpO2, highest pressure or rate) in it."""
    out: list[float | None] = [None] * max(0, width)
    pick = min if worst == "min" else max
    for at, value in points:
        col = span.column(at, width)
        if col is None:
            continue
        current = out[col]
        out[col] = value if current is None else pick(current, value)
    return out


def scale(
    values: Sequence[float | None], minimum_span: float, ceiling: float | None = None
) -> tuple[float, float]:
    """The bottom and top of the plot: the data's range, widened to ``minimum_span`` so
    noise never looks like a trend, and never above ``ceiling`` (SpO2: 100)."""
    present = [v for v in values if v is not None]
    if not present:
        return (0.0, minimum_span)
    low, high = min(present), max(present)
    if high - low < minimum_span:
        middle = (high + low) / 2
        low, high = middle - minimum_span / 2, middle + minimum_span / 2
    if ceiling is not None and high > ceiling:
        low, high = low - (high - ceiling), ceiling
    return (low, high)


def block_rows(values: Sequence[float | None], low: float, high: float, rows: int) -> list[str]:
    """The plot as ``rows`` lines of block characters, top line first; an empty column (no
    value) stays blank, a present value always shows at least a sliver."""
    rows = max(1, rows)
    levels = rows * 8
    out = [[" "] * len(values) for _ in range(rows)]
    for col, value in enumerate(values):
        if value is None:
            continue
        fraction = 0.0 if high <= low else (value - low) / (high - low)
        level = max(1, min(levels, round(fraction * levels)))
        for r in range(rows):
            fill = max(0, min(8, level - (rows - 1 - r) * 8))
            out[r][col] = _BLOCKS[fill]
    return ["".join(line) for line in out]
