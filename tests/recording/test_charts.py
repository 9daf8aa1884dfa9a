"""Thinning a long trend keeps, of each pixel column, its lowest and its highest point."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from monitor.recording.charts import thin

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def by_columns(points: list[tuple[datetime, float]], end: datetime, columns: int
               ) -> list[tuple[datetime, float]]:
    """The rule spelt out: per column, the first lowest and the first highest, by time."""
    span = (end - START).total_seconds()
    groups: dict[int, list[tuple[datetime, float]]] = {}
    for p in points:
        groups.setdefault(int((p[0] - START).total_seconds() / span * columns), []).append(p)
    out: list[tuple[datetime, float]] = []
    for col in sorted(groups):
        low = min(groups[col], key=lambda p: p[1])
        high = max(groups[col], key=lambda p: p[1])
        out.extend(sorted({low, high}, key=lambda p: p[0]))
    return out


@given(st.lists(st.tuples(st.integers(0, 3600), st.sampled_from([85.0, 90.0, 97.0, 99.5])),
                min_size=0, max_size=300),
       st.integers(1, 40))
def test_thin_keeps_each_columns_extremes(raw: list[tuple[int, float]], columns: int) -> None:
    points = sorted(((START + timedelta(seconds=s), v) for s, v in raw), key=lambda p: p[0])
    end = START + timedelta(seconds=3600)
    thinned = thin(points, START, end, columns)
    if len(points) <= columns * 2:
        assert thinned == points
    else:
        assert thinned == by_columns(points, end, columns)
        assert len(thinned) <= 2 * (columns + 1)


def test_a_dip_survives_thinning() -> None:
    points = [(START + timedelta(seconds=s), 97.0) for s in range(3600)]
    points[1800] = (points[1800][0], 84.0)
    thinned = thin(points, START, START + timedelta(seconds=3600), 100)
    assert len(thinned) <= 200 and points[1800] in thinned
