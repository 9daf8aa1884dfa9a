"""The overview's denser chair widgets, for a floor too large for full tiles: a compact tile
(phase, clock, the vitals on one line, the top alarm) and a one-line row. Both keep what a
full tile keeps for the eye: the priority in colour and as a marker (``***``, ``**``, ``*``),
flashing, grey when old, and they redraw only when what they say changes."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.text import Text

from drivers.wire import ChairState
from monitor.dashboard.format import fmt_minutes, is_old, observation_text

from .tile import VITALS, ChairTile, StaleLimits, value_style, vital

_SHORT = {"blood_pressure": "BP", "heart_rate": "HR", "spo2": "SpO2"}


def vitals_line(state: ChairState, now: datetime, limits: StaleLimits, stale: bool,
                gap: str = "  ") -> Text:
    """``BP 128/82  HR 74  SpO2 97``: grey when old, struck through when invalid, ``?`` when
    questionable, ``n/r`` when a device sends what the gateway cannot read."""
    line = Text()
    for kind, label in VITALS:
        latest, label, value = vital(state, kind, label)
        if line:
            line.append(gap)
        line.append("PR " if label.startswith("PR") else f"{_SHORT[kind]} ")
        if latest is None:
            line.append("n/r" if kind in state.unreadable else value,
                        style="yellow" if kind in state.unreadable else "dim")
            continue
        line.append(value, style=value_style(latest, stale or is_old(kind, latest, now, limits)))
        if latest.quality == "questionable":
            line.append("?", style="yellow")
    return line


class CompactTile(ChairTile):
    """Six lines: the border (the chair, its priority's colour), the session's phase, the
    observation clock, the vitals and the top alarm."""

    DEFAULT_CSS = """
    CompactTile { height: 6; }
    """

    def body(self, state: ChairState, now: datetime, limits: StaleLimits,
             stale: bool) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        session = state.session
        if session:
            text.append(f"{session.patient_code}  ", style="bold")
            text.append(session.phase, style="bold")
            text.append("\n")
        else:
            text.append("no session\n", style="dim")
        text.append(observation_text(state, now, coarse=True) + "\n")
        text.append_text(vitals_line(state, now, limits, stale))
        text.append("\n")
        return text


class ChairRow(ChairTile):
    """One line: the marker's colour at its left edge, the chair, its phase, the observation
    clock, the vitals, then the top alarm with its marker."""

    QUIET: ClassVar[str] = ""

    DEFAULT_CSS = """
    ChairRow { height: 1; border: none; padding: 0 1 0 0; border-left: blank; }
    ChairRow:focus { background: $boost; text-style: reverse; }
    ChairRow.alarm-high { border: none; border-left: thick $error; }
    ChairRow.alarm-medium { border: none; border-left: thick $warning; }
    ChairRow.alarm-low { border: none; border-left: outer $warning; }
    ChairRow.alarm-technical { border: none; border-left: thick cyan; }
    ChairRow.alarm-technical.alarm-low { border: none; border-left: outer cyan; }
    ChairRow.stale { border: none; border-left: blank; }
    """

    def waiting(self) -> Text:
        text = Text(f"{self.chair:<9.9} ", style="bold", no_wrap=True, overflow="ellipsis")
        text.append("no data yet", style="dim")
        return text

    def body(self, state: ChairState, now: datetime, limits: StaleLimits,
             stale: bool) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{self.chair:<9.9} ", style="bold")
        phase = state.session.phase if state.session else "no session"
        text.append(f"{phase:<11.11} ", style="" if state.session else "dim")
        obs = state.observation
        closed = state.session is not None and state.session.phase in ("discharged", "ended")
        clock = "--" if obs is None else fmt_minutes(
            obs.elapsed_s if closed else (now - obs.started_at).total_seconds())
        text.append(f"{clock:>7}  ")
        text.append_text(vitals_line(state, now, limits, stale, gap=" "))
        text.append("  ")
        return text
