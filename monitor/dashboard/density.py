"""How densely the overview draws the floor: full tiles, compact tiles or one line per chair,
chosen from the chair count and the terminal's size so that every chair of a site fits on one
screen where it can. Pure: sizes in, a choice out; the overview applies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["full", "compact", "rows"]

FULL_UP_TO = 16
"""Up to this many chairs the overview keeps its full tiles at any size (what a 160x48
screen has always shown); beyond it, tiles shrink when the full ones would not fit."""
ROWS_FROM = 50
"""From this many chairs, one line per chair unless full tiles fit: a list reads faster than
a wall of compact tiles."""
RESERVED_LINES = 5
"""Lines the overview keeps for the banners (demo, who, offline), its head and the footer, so
the choice does not change when a banner comes and goes."""


@dataclass(frozen=True)
class Density:
    """One way to lay the overview out: each chair's widget is ``width`` x ``height``."""

    kind: Kind
    width: int
    height: int

    def columns(self, screen_width: int) -> int:
        return max(1, screen_width // self.width)

    def side(self, place: int, columns: int, top: float, lines: int) -> int:
        """Where the widget at ``place`` of the grid lies against a view of ``lines`` lines
        scrolled to ``top``: -1 above it (wholly or in part), 1 below it, 0 inside."""
        return self.side_at(self.y(place, columns), top, lines)

    def y(self, place: int, columns: int) -> int:
        """The first line of the widget at ``place`` of a grid of ``columns``."""
        return place // max(1, columns) * self.height

    def side_at(self, y: int, top: float, lines: int) -> int:
        """Where a widget whose first line is ``y`` lies against the view (as `side`)."""
        if y < top:
            return -1
        return 1 if y + self.height > top + lines else 0

    def lines(self, chairs: int, screen_width: int) -> int:
        """Lines the chairs take, all of them in a grid of as many columns as fit."""
        columns = self.columns(screen_width)
        return -(-chairs // columns) * self.height


FULL = Density("full", 40, 8)
COMPACT = Density("compact", 40, 6)
ROWS = Density("rows", 80, 1)


def choose(chairs: int, width: int, height: int) -> Density:
    """Full tiles while they fit (or up to FULL_UP_TO chairs), rows from ROWS_FROM chairs;
    between them compact tiles, or rows where only rows fit the screen."""
    room = height - RESERVED_LINES
    if chairs <= FULL_UP_TO or FULL.lines(chairs, width) <= room:
        return FULL
    if chairs >= ROWS_FROM:
        return ROWS
    if COMPACT.lines(chairs, width) > room and ROWS.lines(chairs, width) <= room:
        return ROWS
    return COMPACT


def out_of_view_text(above: int, below: int, key: str) -> str:
    """What the head line says of alarming chairs scrolled out of sight; "" when none is."""
    parts = []
    if above:
        parts.append(f"▲ {above} above")
    if below:
        parts.append(f"▼ {below} below")
    if not parts:
        return ""
    total = above + below
    noun = "chair" if total == 1 else "chairs"
    return f"{' · '.join(parts)}: {total} alarming {noun} not in view (press {key})"
