"""One chair on the overview: who, which phase, the clock, the vitals with their age, and the
highest alarm, its priority in colour, flashing and as a marker (``***``, ``**``, ``*``).

The overview counts time coarsely (the observation clock to the minute, the time left
rounded up; ages in five-second steps through the first minute): a tile then changes when
its chair does, not every second, and a floor of quiet chairs costs almost nothing to draw.
The chair's own screen and the header clock keep the seconds."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Static

from drivers.wire import NUMBER_TYPES, PRIORITY_RANK, ActiveAlarm, ChairState, LatestValue
from monitor.config import DashboardSettings
from monitor.dashboard.format import (
    age_s,
    alarm_line,
    alarm_style,
    fmt_age,
    fmt_value,
    is_old,
    observation_text,
)

VITALS = (("blood_pressure", "BP  "), ("heart_rate", "HR  "), ("spo2", "SpO2"))
StaleLimits = dict[str, float]
_LOOKS = frozenset({"stale", "alarm-high", "alarm-medium", "alarm-low", "alarm-technical"})
"""The classes a tile's state sets."""


def vital(state: ChairState, kind: str, label: str) -> tuple[LatestValue | None, str, str]:
    """A vital's latest value, label and text; without a heart-rate device the oximeter's
    pulse rate, labelled as such."""
    latest = state.latest.get(kind)
    value = fmt_value(kind, latest)
    if kind == "heart_rate" and latest is None:
        oximeter = state.latest.get("spo2")
        pulse = oximeter.values.get("pulse_rate") if oximeter else None
        if oximeter is not None and isinstance(pulse, NUMBER_TYPES):
            return oximeter, "PR  ", f"{pulse:.0f}"
    return latest, label, value


def value_style(latest: LatestValue, old: bool) -> str:
    """Struck through when invalid, grey when old, bold when current."""
    return "dim strike" if latest.quality == "invalid" else ("dim" if old else "bold")


class ChairTile(Static, can_focus=True):
    """Rendered from a ChairState and the current time; greys what is old."""

    DEFAULT_CSS = """
    ChairTile {
        border: round $primary;
        padding: 0 1;
        height: 8;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        border-title-align: left;
        border-subtitle-align: right;
    }
    ChairTile:focus { background: $boost; border-title-style: reverse; }
    ChairTile.alarm-high { border: heavy $error; }
    ChairTile.alarm-medium { border: heavy $warning; }
    ChairTile.alarm-low { border: round $warning; }
    ChairTile.alarm-technical { border: heavy cyan; }
    ChairTile.alarm-technical.alarm-low { border: round cyan; }
    ChairTile.stale { color: $text-disabled; border: round $panel-lighten-2; }
    """

    QUIET: ClassVar[str] = "no alarms"
    """What the alarm line says when there is none."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select", "Open chair", show=False),
    ]

    class Selected(Message):
        """The user chose this chair (enter or click): open its view."""

        def __init__(self, chair: str, site: str | None = None) -> None:
            super().__init__()
            self.chair = chair
            self.site = site

    def __init__(self, chair: str, site: str | None = None, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self.chair = chair
        self.site = site
        """The chair's site, on a screen of several sites (None: the screen's one site)."""
        self.urgency = 0
        self.priority: str | None = None
        self.border_title = chair
        self.lit = True
        self._body = Text()
        self._alarm: tuple[str, ActiveAlarm] | None = None
        self._stale = False
        self._others = 0
        self._shown: object = None
        self._seen: tuple[object, ...] | None = None

    def action_select(self) -> None:
        self.post_message(self.Selected(self.chair, self.site))

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.focus()
        self.post_message(self.Selected(self.chair, self.site))

    def flash(self, high_on: bool, medium_on: bool) -> None:
        """Set the flashing phase: high ~2 Hz, medium ~0.5 Hz, low steady."""
        lit = {"high": high_on, "medium": medium_on}.get(self.priority or "", True)
        if lit != self.lit:
            self.lit = lit
            self._compose_text()

    def show(
        self,
        state: ChairState | None,
        now: datetime,
        settings: DashboardSettings,
        *,
        stale: bool = False,
        tz: tzinfo | None = None,
    ) -> None:
        # What the tile says follows the state and the clock in whole seconds (ages, the
        # observation clock): the same state within the same second shows the same.
        seen = (state, int(now.timestamp()), stale, tz, settings)
        if self._seen is not None and all(
                a is b or a == b for a, b in zip(seen, self._seen, strict=True)):
            return
        self._seen = seen
        top = state.highest_alarm() if state is not None else None
        self.priority = top.priority if top is not None else None
        self._set_classes(stale, top)
        self._stale = stale
        self._alarm = None
        if state is None:
            self.urgency = 0
            self._set_subtitle("")
            self._body = self.waiting()
            self._compose_text()
            return
        paused = state.audio_paused_until is not None and state.audio_paused_until > now
        self._set_subtitle("AUDIO PAUSED" if paused else "")
        text = self.body(state, now, settings.stale_after_s, stale)
        if top is None:
            text.append(self.QUIET, style="dim")
            self.urgency = 0
        else:
            self._alarm = (alarm_line(top, state, now, tz), top)
            self.urgency = PRIORITY_RANK[top.priority]
        self._body = text
        self._compose_text(others=len(state.alarms) - 1)

    def waiting(self) -> Text:
        """What the tile says before the chair's first state."""
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("no data yet\n", style="dim")
        return text

    def body(self, state: ChairState, now: datetime, limits: StaleLimits,
             stale: bool) -> Text:
        """Everything but the alarm line: the session, the clock, one line per vital."""
        text = Text(no_wrap=True, overflow="ellipsis")
        session = state.session
        if session:
            text.append(f"{session.patient_code}  ", style="bold")
            text.append(session.phase, style="bold")
            text.append(f" · {session.protocol}\n")
        else:
            text.append("no session\n", style="dim")
        text.append(observation_text(state, now, coarse=True) + "\n")
        for kind, label in VITALS:
            latest, label, value = vital(state, kind, label)
            line = Text(f"{label} ")
            if latest is None and kind in state.unreadable:
                # A device sends it and the gateway cannot read it: say so, not "--".
                line.append(f"{value:>9}", style="dim")
                line.append("  not readable", style="yellow")
            elif latest is None:
                line.append(f"{value:>9}", style="dim")
            else:
                old = stale or is_old(kind, latest, now, limits)
                line.append(f"{value:>9}", style=value_style(latest, old))
                age = fmt_age(age_s(latest, now), coarse=True)
                line.append(f"  {age:>4}", style="dim" if old else "")
                if old:
                    line.append(" old", style="dim")
                if latest.quality == "questionable":
                    line.append(" ?", style="yellow")
            text.append_text(line)
            text.append("\n")
        return text

    def _set_classes(self, stale: bool, top: ActiveAlarm | None) -> None:
        """The tile's look, restyled only when it changes."""
        wanted = {"stale"} if stale else set()
        if top is not None:
            wanted.add(f"alarm-{top.priority}")
            if top.kind == "technical":
                wanted.add("alarm-technical")
        if self.classes & _LOOKS != wanted:
            self.remove_class(*(_LOOKS - wanted), update=False)
            self.add_class(*wanted, update=False)
            self.update_node_styles()

    def _set_subtitle(self, subtitle: str) -> None:
        if (self.border_subtitle or "") != subtitle:
            self.border_subtitle = subtitle

    def _compose_text(self, others: int | None = None) -> None:
        """The body and the alarm line in the present flashing phase."""
        if others is not None:
            self._others = others
        text = self._body.copy()
        if self._alarm is not None:
            line, top = self._alarm
            mono = self.app.no_color
            style = "dim" if self._stale else alarm_style(top, lit=self.lit, mono=mono)
            text.append(line, style=style)
            if self._others > 0:
                text.append(f" +{self._others}", style="dim")
        key = (text.plain, tuple(text.spans))
        if key != self._shown:
            self._shown = key
            self.update(text, layout=False)  # a tile's size never follows its text
