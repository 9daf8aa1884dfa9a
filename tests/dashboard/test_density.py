"""The overview's density as a pure choice: full tiles, compact tiles or one line per chair,
from the chair count and the terminal's size; and what the head line says of alarming chairs
out of view."""

from __future__ import annotations

import pytest

from monitor.dashboard.density import (
    COMPACT,
    FULL,
    FULL_UP_TO,
    ROWS,
    ROWS_FROM,
    choose,
    out_of_view_text,
)


@pytest.mark.parametrize(("chairs", "size", "kind"), [
    (7, (80, 24), "full"),  # up to 16 chairs: full tiles at any size, as always
    (FULL_UP_TO, (160, 48), "full"),
    (FULL_UP_TO, (80, 24), "full"),
    (20, (160, 48), "full"),  # 5 rows of full tiles, 40 lines, fit the 43 there are
    (21, (160, 48), "compact"),  # 6 rows of full tiles would not
    (24, (160, 48), "compact"),
    (24, (200, 48), "full"),  # 5 across: 5 rows of full tiles fit
    (28, (160, 48), "compact"),  # 7 rows of compact tiles: 42 lines
    (32, (160, 48), "rows"),  # compact would take 48 lines; rows, 2 across, take 16
    (ROWS_FROM - 1, (160, 48), "rows"),
    (ROWS_FROM, (160, 48), "rows"),
    (ROWS_FROM, (320, 100), "full"),  # full tiles wherever they all fit
    (ROWS_FROM, (320, 60), "rows"),  # compact tiles would fit, but from 50 chairs, rows
    (24, (80, 24), "compact"),  # neither fits: the tiles scroll
    (24, (100, 30), "rows"),  # 24 rows fit 25 lines
])
def test_the_density_follows_the_chair_count_and_the_size(
        chairs: int, size: tuple[int, int], kind: str) -> None:
    assert choose(chairs, *size).kind == kind


def test_every_chair_fits_where_the_choice_says_so() -> None:
    """At 160x48, the full, compact and row layouts each hold what they were chosen for."""
    room = 48 - 5
    assert FULL.lines(16, 160) == 32 <= room
    assert FULL.lines(24, 160) == 48 > room
    assert COMPACT.lines(24, 160) == 36 <= room
    assert ROWS.columns(160) == 2 and ROWS.lines(50, 160) == 25 <= room
    assert ROWS.lines(86, 160) == 43 and ROWS.lines(87, 160) == 44
    assert FULL.columns(20) == 1  # never no column


def test_which_side_of_the_view_a_place_lies() -> None:
    """Compact tiles 4 across, a view of 19 lines: rows 0-2 (lines 0-17) fit, row 3 does not;
    scrolled down 6 lines, row 0 is above, row 3 in view, row 4 cut off below."""
    assert [COMPACT.side(p, 4, 0, 19) for p in (0, 3, 4, 11, 12)] == [0, 0, 0, 0, 1]
    assert [COMPACT.side(p, 4, 6, 19) for p in (0, 4, 12, 16)] == [-1, 0, 0, 1]
    assert ROWS.side(30, 2, 0, 15) == 1 and ROWS.side(29, 2, 0, 15) == 0


def test_what_the_head_says_of_alarming_chairs_out_of_view() -> None:
    assert out_of_view_text(0, 0, "a") == ""
    assert out_of_view_text(0, 1, "a") == "▼ 1 below: 1 alarming chair not in view (press a)"
    assert out_of_view_text(2, 3, "a") == (
        "▲ 2 above · ▼ 3 below: 5 alarming chairs not in view (press a)")
