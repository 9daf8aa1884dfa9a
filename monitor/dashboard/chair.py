"""The chair view, for the nurse at the infusion chair: big numbers, the session's trends with
the dose marked, the protocol's BP checks, the observation clock, what discharge still needs,
the alarms, and the answers to the commands sent from here or from any other screen."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from drivers.wire import PRIORITY_RANK, ActiveAlarm, ChairState, CommandResult
from monitor.localtime import clock_time, localize_times

from .format import (
    alarm_line,
    alarm_style,
    check_status,
    check_window,
    fmt_duration,
)
from .history import ChairHistory, SeriesName, Span
from .host import Host, host_of
from .messages import ShowNow
from .widgets import Banners, TimeAxis, TrendPlot, VitalPanel

log = logging.getLogger(__name__)


def sorted_alarms(state: ChairState | None) -> list[ActiveAlarm]:
    """Highest priority first, then unacknowledged, then oldest."""
    if state is None:
        return []
    return sorted(
        state.alarms,
        key=lambda a: (-PRIORITY_RANK[a.priority], a.acknowledged, a.raised_at, a.alarm_id),
    )


def head_text(chair: str, state: ChairState | None, now: datetime, tz: tzinfo | None) -> Text:
    """Two lines: who and where in the session; the observation clock and discharge time."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(chair, style="bold reverse")
    session = state.session if state else None
    if state is None:
        text.append("  waiting for this chair's state\n", style="dim")
        return text
    if session is None:
        text.append("  no session", style="dim")
    else:
        text.append(f"  {session.patient_code}", style="bold")
        text.append(f" · {session.protocol} · ")
        text.append(session.phase.upper(), style="bold")
        if session.dose_mg is not None:
            text.append(f" · {session.dose_mg:g} mg")
        if session.doses_expected:
            text.append(f" · device {session.doses_given}/{session.doses_expected}")
        if session.lot:
            text.append(f" · lot {session.lot}")
    text.append("\n")
    obs = state.observation
    if session is not None and session.phase == "discharged" and session.discharged_at:
        text.append(f"discharged {clock_time(session.discharged_at, tz)}", style="bold")
        if session.discharged_by:
            text.append(f" by {session.discharged_by}")
        if session.override_reason:
            text.append(f" · OVERRIDE: {session.override_reason}", style="yellow")
    elif session is not None and session.phase == "ended":
        when = clock_time(session.ended_at, tz) if session.ended_at else "?"
        text.append(f"session ended {when}", style="bold")
        if session.end_reason:
            text.append(f" · {session.end_reason}")
    elif obs is not None:
        elapsed = (now - obs.started_at).total_seconds()
        text.append(f"obs {fmt_duration(elapsed)}", style="bold")
        text.append(f" of {fmt_duration(obs.minimum_s)}")
        left = (obs.earliest_discharge_at - now).total_seconds()
        at = clock_time(obs.earliest_discharge_at, tz)
        if left > 0:
            text.append(f" · discharge possible {at} (in {fmt_duration(left)})")
        else:
            text.append(f" · minimum reached at {at}")
    elif session is not None and session.phase in ("pre_dose", "dosing"):
        if session.next_dose_at is not None:
            text.append(f"next device from {clock_time(session.next_dose_at, tz)} · ")
        text.append("observation starts at the " + (
            "infusion's end" if session.phase == "dosing" else "first dose"), style="dim")
    if state.audio_paused_until is not None and state.audio_paused_until > now:
        until = clock_time(state.audio_paused_until, tz, seconds=True)
        text.append(f" · AUDIO PAUSED until {until}", style="bold magenta")
    return text


CheckRow = tuple[str, str, str, str]
"""A BP check as shown: name, window, status, the status's style."""


def check_rows(state: ChairState | None, now: datetime, tz: tzinfo | None) -> list[CheckRow]:
    rows: list[CheckRow] = []
    for check in state.bp_checks if state is not None else []:
        status, style = check_status(check, now, tz)
        name = check.name + ("" if check.required else " (opt)")
        rows.append((name, check_window(check, tz), status, style))
    return rows


def checks_table(rows: list[CheckRow], *, wide: bool = True) -> Table:
    """The protocol's BP checks: done (when, value), due in mm:ss, DUE (closing in mm:ss),
    OVERDUE; the window's clock times when there is room."""
    table = Table(box=None, show_header=True, header_style="bold", expand=True,
                  padding=(0, 1, 0, 0))
    table.add_column("BP check", no_wrap=True, overflow="ellipsis")
    if wide:
        table.add_column("window", no_wrap=True)
    table.add_column("status", no_wrap=True, overflow="ellipsis")
    if not rows:
        table.add_row(*([Text("none yet", style="dim")] + [Text("")] * (2 if wide else 1)))
    for name, window, status, style in rows:
        cells = [Text(name), Text(status, style=style)]
        if wide:
            cells.insert(1, Text(window))
        table.add_row(*cells)
    return table


def discharge_text(state: ChairState | None, now: datetime, tz: tzinfo | None) -> Text:
    """READY, or each unmet condition; times from the structured fields."""
    text = Text()
    if state is None or state.session is None:
        text.append("Discharge: no session", style="dim")
        return text
    session = state.session
    if session.phase in ("discharged", "ended"):
        text.append(f"Discharge: session {session.phase}", style="dim")
        if session.overridden:
            text.append("\noverridden: " + "; ".join(
                localize_times(r, tz, now) for r in session.overridden), style="yellow")
        return text
    readiness = state.discharge
    if readiness.ready:
        text.append("Discharge: READY ✓ every condition met", style="bold green")
        return text
    lines: list[Text] = []
    for unmet in readiness.unmet:
        if unmet.condition == "bp_check":
            continue  # shown from the checks themselves, below
        if unmet.condition == "observation_time" and state.observation is not None:
            at = state.observation.earliest_discharge_at
            left = (at - now).total_seconds()
            reason = (f"observation minimum: possible at {clock_time(at, tz)} "
                      f"(in {fmt_duration(left)[:-3]})")
        else:
            reason = localize_times(unmet.reason, tz, now)
        lines.append(Text(f"✗ {reason}"))
    for check in state.bp_checks:
        if check.required and check.status != "done":
            status, style = check_status(check, now, tz)
            lines.append(Text.assemble("✗ BP check ", check.name, ": ", (status, style)))
    text.append(f"Discharge: NOT READY ({len(lines)})", style="bold yellow")
    for line in lines:
        text.append("\n")
        text.append_text(line)
    return text


def results_text(
    results: list[tuple[CommandResult, bool]], tz: tzinfo | None, limit: int = 3
) -> Text:
    """The newest answers for this chair: accepted, or REFUSED with every reason."""
    text = Text()
    if not results:
        text.append("no commands answered yet", style="dim")
        return text
    for i, (result, own) in enumerate(reversed(results[-limit:])):
        if i:
            text.append("\n")
        who = "" if own else " (other screen)"
        when = clock_time(result.at, tz, seconds=True)
        if result.accepted:
            text.append(f"{when} {result.type} accepted{who}", style="green")
            for note in result.reasons:
                text.append(f"\n  note: {localize_times(note, tz, result.at)}", style="yellow")
        else:
            text.append(f"{when} {result.type} REFUSED{who}", style="bold red")
            for reason in result.reasons:
                text.append(f"\n  ✗ {localize_times(reason, tz, result.at)}")
            if result.type == "discharge":
                text.append("\n  o: override with a reason (physician)", style="dim")
    return text


class ChairScreen(Screen[None]):
    """One chair, in full, to look at: a screen that sends commands shows
    `ActionChairScreen`, which adds them; a replay shows this one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "overview", "Overview"),
    ]

    def __init__(self, chair: str, banner: str | None, tz: tzinfo | None) -> None:
        super().__init__()
        self.chair = chair
        self.banner = banner
        self.tz = tz
        self.ready = False
        self.lit = True
        self._top: tuple[str, ActiveAlarm] | None = None
        self._stale = False
        self._shown: dict[str, object] = {}
        self._alarm_ids: tuple[str, ...] | None = None
        self._alarm_shown: dict[str, object] = {}

    def compose(self) -> ComposeResult:
        yield Banners(self.banner)
        yield Static(id="chair-head")
        yield Static(id="chair-alarm")
        with Horizontal(id="vitals"):
            yield VitalPanel("blood_pressure", "BP mmHg", id="vital-bp")
            yield VitalPanel("heart_rate", "HR /min", id="vital-hr")
            yield VitalPanel("spo2", "SpO2 %", id="vital-spo2")
        with Horizontal(id="body"):
            with Vertical(id="trends"):
                yield TrendPlot("SYS", minimum_span=30, id="trend-sys")
                yield TrendPlot("DIA", minimum_span=20, id="trend-dia")
                yield TrendPlot("HR", minimum_span=20, id="trend-hr")
                yield TrendPlot("SpO2", worst="min", minimum_span=6, ceiling=100,
                                id="trend-spo2")
                yield TimeAxis(self.tz, id="trend-axis")
            with VerticalScroll(id="side"):
                yield Static("Alarms", id="alarms-title")
                yield OptionList(id="alarms")
                yield Static(id="checks", classes="section")
                yield Static(id="discharge", classes="section")
                yield Static(id="results", classes="section")
        yield Footer()

    @property
    def host(self) -> Host:
        return host_of(self.app)

    def on_mount(self) -> None:
        self.title = f"Chairside · {self.chair}"
        self.ready = True
        self.post_message(ShowNow())

    def on_screen_resume(self) -> None:
        self.post_message(ShowNow())

    def action_overview(self) -> None:
        """Back to every chair (whatever lies between, a form left open)."""
        while len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    def system_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Overview", "Back to every chair", self.action_overview)

    def selected_alarm(self) -> str | None:
        """The alarm the nurse highlighted in the list, if any."""
        option = self.query_one("#alarms", OptionList).highlighted_option
        return option.id if option is not None else None

    def flash(self, high_on: bool, medium_on: bool) -> None:
        if not self.ready:
            return
        priority = self._top[1].priority if self._top is not None else ""
        lit = {"high": high_on, "medium": medium_on}.get(priority, True)
        if lit != self.lit:
            self.lit = lit
            self._paint_alarm_line()

    def show(
        self,
        state: ChairState | None,
        history: ChairHistory | None,
        results: list[tuple[CommandResult, bool]],
        now: datetime,
        limits: dict[str, float],
        offline: str | None,
    ) -> None:
        if not self.ready or not self.is_mounted:
            return
        try:
            tz = self.tz
            self.set_class(offline is not None, "stale")
            self.query_one(Banners).show(offline)
            self._put("#chair-head", head_text(self.chair, state, now, tz))
            self._show_alarm_line(state, now, offline is not None)
            latest = state.latest if state else {}
            unreadable: dict[str, str] = dict(state.unreadable.items()) if state else {}
            for panel in self.query(VitalPanel):
                panel.show(latest.get(panel.kind), now, limits, offline is not None,
                           unreadable.get(panel.kind))
            self._show_trends(state, history, now)
            wide = self.query_one("#checks", Static).size.width >= 52
            rows = check_rows(state, now, tz)
            if (rows, wide) != self._shown.get("#checks"):
                self._shown["#checks"] = (rows, wide)
                checks = self.query_one("#checks", Static)
                height = max(1, len(rows)) + 1  # the header, then a row per check
                resized = checks.styles.height is None or checks.styles.height.value != height
                if resized:
                    checks.styles.height = height
                checks.update(checks_table(rows, wide=wide), layout=resized)
            self._put("#discharge", discharge_text(state, now, tz))
            self._show_alarms(state, now)
            self._put("#results", results_text(results, tz))
        except NoMatches:
            # Part of the screen is still being mounted, or already taken down: the next
            # refresh (a quarter second away) shows all of it.
            log.debug("chair screen %s: refreshed while not all of it is mounted", self.chair)

    def _put(self, selector: str, text: Text) -> None:
        """Update a Static only when what it says changed (a refresh is cheap when idle); the
        one-line and two-line ones never change size, so they skip the layout."""
        key = (text.plain, tuple(text.spans), text.style)
        if self._shown.get(selector) != key:
            self._shown[selector] = key
            fixed = selector in ("#chair-head", "#chair-alarm")
            self.query_one(selector, Static).update(text, layout=not fixed)

    def _show_alarm_line(self, state: ChairState | None, now: datetime, stale: bool) -> None:
        top = state.highest_alarm() if state is not None else None
        self._top = (alarm_line(top, state, now, self.tz), top) if top is not None else None
        self._stale = stale
        self._paint_alarm_line()

    def _paint_alarm_line(self) -> None:
        """The highest alarm as a flashing indicator: lit (a block of its colour) or not."""
        if self._top is None:
            self._put("#chair-alarm", Text(" no alarms", style="dim"))
            return
        line, top = self._top
        style = "dim" if self._stale else alarm_style(top, lit=self.lit, mono=self.app.no_color)
        width = self.query_one("#chair-alarm", Static).size.width
        self._put("#chair-alarm", Text(f" {line} ".ljust(width), style=style))

    def _show_trends(
        self, state: ChairState | None, history: ChairHistory | None, now: datetime
    ) -> None:
        start = history.started_at if history is not None else None
        if start is None and state is not None and state.session is not None:
            start = state.session.started_at
        span = Span.of(start, now)
        doses = history.doses if history is not None else []
        plots: tuple[tuple[str, SeriesName], ...] = (
            ("#trend-sys", "systolic"), ("#trend-dia", "diastolic"),
            ("#trend-hr", "heart_rate"), ("#trend-spo2", "spo2"),
        )
        for plot_id, name in plots:
            points = list(history.series[name]) if history is not None else []
            self.query_one(plot_id, TrendPlot).show(points, span, doses)
        self.query_one(TimeAxis).show(span, doses)

    def _show_alarms(self, state: ChairState | None, now: datetime) -> None:
        alarms = sorted_alarms(state)
        option_list = self.query_one("#alarms", OptionList)
        prompts: dict[str, Text] = {}
        for alarm in alarms:
            prompt = Text(alarm_line(alarm, state, now, self.tz),
                          style=alarm_style(alarm, mono=self.app.no_color))
            prompt.append(f"  {clock_time(alarm.raised_at, self.tz)}", style="dim")
            if alarm.acknowledged and alarm.acknowledged_by:
                prompt.append(f" by {alarm.acknowledged_by}", style="dim")
            prompts[alarm.alarm_id] = prompt
        ids = tuple(prompts)
        shown: dict[str, object] = {
            key: (text.plain, tuple(text.spans), text.style) for key, text in prompts.items()
        }
        if ids != self._alarm_ids:
            selected = self.selected_alarm()
            option_list.set_options(Option(text, id=key) for key, text in prompts.items())
            if selected in prompts:
                option_list.highlighted = ids.index(selected)
            title = Text("Alarms", style="bold")
            title.append(f"  {len(ids)}" if ids else "  none", style="dim")
            self.query_one("#alarms-title", Static).update(title)
        else:
            for key, text in prompts.items():
                if shown[key] != self._alarm_shown.get(key):
                    option_list.replace_option_prompt(key, text)
        self._alarm_ids = ids
        self._alarm_shown = shown
