"""Small widgets shared by the overview and the chair view."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Literal

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.geometry import Size
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from drivers.wire import LatestValue
from monitor.localtime import clock_time

from .format import age_s, fmt_age, fmt_value, is_old
from .history import Point, Span, block_rows, columns, scale

# --- banners ---------------------------------------------------------------------------


class Banners(Vertical):
    """The demo banner (if any), who is signed in (and whether the screen is locked), and the
    monitoring-offline banner, on every screen."""

    DEFAULT_CSS = """
    Banners { height: auto; }
    Banners > #banner { background: $accent; color: $text; text-style: bold; padding: 0 1; }
    Banners > #who {
        background: $primary-darken-2;
        color: $text;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    Banners > #who.locked { background: $warning-darken-2; text-style: bold; }
    Banners > #offline { background: $error; color: $text; text-style: bold; padding: 0 1; }
    Banners > .hidden { display: none; }
    """

    def __init__(self, banner: str | None) -> None:
        super().__init__()
        self._banner = banner
        self._said: dict[str, tuple[str | None, bool]] = {}

    def compose(self) -> ComposeResult:
        yield Static(self._banner or "", id="banner", classes="" if self._banner else "hidden")
        yield Static("", id="who", classes="hidden")
        yield Static("", id="offline", classes="hidden")

    def _say(self, line_id: str, text: str | None, flag: bool = False) -> bool:
        """Note what a line says now; True when that changed (every refresh asks again)."""
        if self._said.get(line_id) == (text, flag):
            return False
        self._said[line_id] = (text, flag)
        return True

    def identity(self, who: str | None, locked: bool = False) -> None:
        """Who is signed in (None: nobody, on a site without sign-in)."""
        if not self._say("who", who, locked):
            return
        line = self.query_one("#who", Static)
        if who is not None:
            line.update(who)
        line.set_class(who is None, "hidden")
        line.set_class(locked, "locked")

    def show(self, offline: str | None) -> None:
        if not self._say("offline", offline):
            return
        banner = self.query_one("#offline", Static)
        if offline is not None:
            banner.update(offline)
        banner.set_class(offline is None, "hidden")


# --- big numbers -----------------------------------------------------------------------

_GLYPHS: dict[str, tuple[str, str, str]] = {
    "0": ("╭─╮", "│ │", "╰─╯"),
    "1": ("╶╮ ", " │ ", "╶┴╴"),
    "2": ("╶─╮", "┌─┘", "╰─╴"),
    "3": ("╶─╮", " ─┤", "╶─╯"),
    "4": ("╷ ╷", "╰─┤", "  ╵"),
    "5": ("╭─╴", "╰─╮", "╶─╯"),
    "6": ("╭─╴", "├─╮", "╰─╯"),
    "7": ("╶─┐", "  │", "  ╵"),
    "8": ("╭─╮", "├─┤", "╰─╯"),
    "9": ("╭─╮", "╰─┤", "╶─╯"),
    "/": ("  \u2571", " \u2571 ", "\u2571  "),  # box-drawing diagonals
    "-": ("   ", "╶─╴", "   "),
    ".": ("   ", "   ", " ╻ "),
    " ": ("   ", "   ", "   "),
}


def big_rows(value: str) -> tuple[str, str, str]:
    """A value in 3-row glyphs (digits, ``/``, ``-``); other characters become blanks."""
    rows = ["", "", ""]
    for char in value:
        glyph = _GLYPHS.get(char, _GLYPHS[" "])
        for i in range(3):
            rows[i] += glyph[i]
    return (rows[0], rows[1], rows[2])


class BigNumber(Widget):
    """A number three rows tall, readable from the infusion chair."""

    DEFAULT_CSS = """
    BigNumber { height: 3; width: auto; }
    """

    value: reactive[str] = reactive("--", layout=True)

    def render(self) -> Text:
        return Text("\n".join(big_rows(self.value)), no_wrap=True)

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return max(3, 3 * len(self.value))


class VitalPanel(Vertical):
    """One vital sign in big numbers, with its age; greyed when old or offline."""

    DEFAULT_CSS = """
    VitalPanel {
        border: round $primary;
        height: 5;
        width: 1fr;
        padding: 0 1;
        border-subtitle-align: right;
    }
    VitalPanel > BigNumber { color: $text; text-style: bold; }
    VitalPanel.stale { border: round $panel-lighten-2; }
    VitalPanel.stale > BigNumber { color: $text-disabled; text-style: none; }
    VitalPanel.stale { border-subtitle-color: $text-disabled; }
    VitalPanel.invalid > BigNumber { text-style: strike; color: $text-disabled; }
    VitalPanel.unreadable { border-subtitle-color: $warning; }
    """

    def __init__(self, kind: str, label: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.kind = kind
        self.border_title = label

    def compose(self) -> ComposeResult:
        yield BigNumber()

    def show(
        self, latest: LatestValue | None, now: datetime, limits: dict[str, float], offline: bool,
        unreadable: str | None = None,
    ) -> None:
        """``unreadable``: why a device's value of this vital cannot be read (the chair's
        state says), shown instead of a bare "no value"."""
        found = self.query(BigNumber)
        if not found:
            return  # its number is not mounted yet: the next refresh shows it
        number = found.first()
        if self.tooltip != unreadable:
            self.tooltip = unreadable
        self.set_class(unreadable is not None, "unreadable")
        if latest is None:
            number.value = "--"
            self._set_subtitle("NOT READABLE" if unreadable else "no value")
            self.set_class(True, "stale")
            self.set_class(False, "invalid")
            return
        shown = fmt_value(self.kind, latest)
        number.value = shown.replace(" kPa", "")
        age = fmt_age(age_s(latest, now))
        flag = {"questionable": " ?", "invalid": " invalid"}.get(latest.quality, "")
        self._set_subtitle(f"{age} ago{flag}" + (" · NOT READABLE" if unreadable else ""))
        self.set_class(offline or is_old(self.kind, latest, now, limits), "stale")
        self.set_class(latest.quality == "invalid", "invalid")

    def _set_subtitle(self, subtitle: str) -> None:
        """Setting a subtitle repaints the panel, even when it says the same."""
        if (self.border_subtitle or "") != subtitle:
            self.border_subtitle = subtitle


# --- trends ----------------------------------------------------------------------------

_LABEL_WIDTH = 9


class TrendPlot(Widget):
    """One series of the session as block columns over time; dose times are marked."""

    DEFAULT_CSS = """
    TrendPlot { height: 1fr; min-height: 1; }
    """

    def __init__(
        self,
        label: str,
        *,
        worst: Literal["min", "max"] = "max",
        minimum_span: float = 20.0,
        ceiling: float | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.label = label
        self.ceiling = ceiling
        self.worst: Literal["min", "max"] = worst
        self.minimum_span = minimum_span
        self._points: Sequence[Point] = ()
        self._span: Span | None = None
        self._doses: Sequence[datetime] = ()
        self._key: object = None

    def show(self, points: Sequence[Point], span: Span, doses: Sequence[datetime]) -> None:
        key = (len(points), points[-1] if points else None, span, tuple(doses))
        if key == self._key:
            return
        self._key = key
        self._points, self._span, self._doses = points, span, doses
        self.refresh()

    def render(self) -> Text:
        width = max(0, self.size.width - _LABEL_WIDTH)
        height = max(1, self.size.height)
        text = Text(no_wrap=True)
        if self._span is None or width <= 0:
            return Text(self.label)
        values = columns(self._points, self._span, width, self.worst)
        low, high = scale(values, self.minimum_span, self.ceiling)
        rows = block_rows(values, low, high, height)
        marks = set(self._span.columns_of(self._doses, width))
        latest = f"{self._points[-1][1]:.0f}" if self._points else "--"
        mark_style = Style(bgcolor="grey30")
        for r, row in enumerate(rows):
            if r == 0:
                label = f"{self.label} {latest}"
            elif r == height - 1:
                label = f"{low:.0f}-{high:.0f}"
            else:
                label = ""
            line = Text()
            line.append(f"{label:<{_LABEL_WIDTH - 1}.{_LABEL_WIDTH - 1}} ", style="dim")
            cells = list(row)
            for col in marks:
                if cells[col] == " ":
                    cells[col] = "┊"
            start = line.cell_len
            line.append("".join(cells))
            for col in marks:
                line.stylize(mark_style, start + col, start + col + 1)
            text.append_text(line)
            if r < height - 1:
                text.append("\n")
        return text


class TimeAxis(Widget):
    """The time under the trends: the session's start, each dose (``▲``) and now."""

    DEFAULT_CSS = """
    TimeAxis { height: 1; color: $text-muted; }
    """

    def __init__(self, tz: tzinfo | None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.tz = tz
        self._span: Span | None = None
        self._doses: Sequence[datetime] = ()

    def show(self, span: Span, doses: Sequence[datetime]) -> None:
        if (span, tuple(doses)) != (self._span, tuple(self._doses)):
            self._span, self._doses = span, tuple(doses)
            self.refresh()

    def render(self) -> Text:
        width = max(0, self.size.width - _LABEL_WIDTH)
        if self._span is None or width <= 0:
            return Text("")
        line = [" "] * width
        marks = self._span.columns_of(self._doses, width)
        start, end = clock_time(self._span.start, self.tz), clock_time(self._span.end, self.tz)
        if not marks or marks[0] > len(start):
            line[: len(start)] = start
        if width > len(start) + len(end) + 1 and (not marks or marks[-1] < width - len(end) - 1):
            line[width - len(end):] = end
        for col in marks:
            line[col] = "▲"
        if marks:
            label = "dose" if len(marks) == 1 else "doses"
            last = marks[-1]
            if last + 2 + len(label) <= width and all(
                c == " " for c in line[last + 1: last + 2 + len(label)]
            ):
                line[last + 2: last + 2 + len(label)] = label
        return Text(" " * _LABEL_WIDTH + "".join(line)[:width], no_wrap=True)
