"""How values read on screen: pure functions, shared by every view and the headless feed.

Times on screen are local clock times (``09:41``) taken from the structured fields of the
state (a check's window, the earliest discharge), never from the engine's message texts.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from drivers.wire import (
    MMHG_PER_KPA,
    NUMBER_TYPES,
    PRIORITY_RANK,
    ActiveAlarm,
    BpCheck,
    ChairState,
    LatestValue,
)
from monitor.localtime import clock_time, localize_times

MARKERS = {"high": "***", "medium": "**", "low": "*"}
"""Alarm priority markers (IEC 60601-1-8 practice) so priority reads without colour."""

PRIORITY_STYLE = {"high": "bold red", "medium": "bold yellow", "low": "yellow"}
TECHNICAL_STYLE = "bold cyan"

def fmt_duration(seconds: float) -> str:
    """``1:05:09`` for an observation clock."""
    seconds = max(0, int(seconds))
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def fmt_countdown(seconds: float) -> str:
    """``04:12`` under an hour, ``1:05:09`` beyond: for "due in" and "closes in"."""
    seconds = max(0, int(seconds))
    if seconds < 3600:
        return f"{seconds // 60:02d}:{seconds % 60:02d}"
    return fmt_duration(seconds)


def fmt_minutes(seconds: float, up: bool = False) -> str:
    """``40m`` or ``1h19m``: an observation clock to the minute, rounded down (time
    elapsed) or, with ``up``, rounded up (time remaining: never sooner than it is)."""
    seconds = max(0.0, seconds)
    minutes = int(-(-seconds // 60)) if up else int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def fmt_age(seconds: float, coarse: bool = False) -> str:
    """A compact age: ``4s``, ``12m``, ``3h``. ``coarse`` (the overview) counts the first
    minute in steps of five seconds (``<5s``, ``5s``, ``10s``), at least as old as shown."""
    seconds = max(0.0, seconds)
    if coarse and seconds < 5:
        return "<5s"
    if coarse and seconds < 60:
        return f"{int(seconds) // 5 * 5}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m"
    return f"{seconds // 3600:.0f}h"


def age_s(latest: LatestValue, now: datetime) -> float:
    return (now - latest.received_at).total_seconds()


def is_old(kind: str, latest: LatestValue, now: datetime, limits: dict[str, float]) -> bool:
    """Older than its kind's limit: shown greyed, never as if live."""
    return age_s(latest, now) > limits.get(kind, 60.0)


def _num(value: object) -> str:
    return f"{value:.0f}" if isinstance(value, NUMBER_TYPES) else "--"


def fmt_value(kind: str, latest: LatestValue | None) -> str:
    """``176/98``, ``88``, ``97`` or ``--``; kPa pressures are shown in kPa with one decimal."""
    if latest is None:
        return "--"
    v = latest.values
    if kind == "blood_pressure":
        if latest.unit == "kPa":
            parts = [
                f"{x:.1f}" if isinstance(x, NUMBER_TYPES) else "--"
                for x in (v.get("systolic"), v.get("diastolic"))
            ]
            return "/".join(parts) + " kPa"
        return f"{_num(v.get('systolic'))}/{_num(v.get('diastolic'))}"
    field = {"heart_rate": "heart_rate", "spo2": "spo2", "cuff_pressure": "cuff_pressure"}[kind]
    return _num(v.get(field))


def pressure_mmhg(latest: LatestValue, name: str) -> float | None:
    """A pressure of a blood-pressure value in mmHg, whatever unit the device used."""
    value = latest.values.get(name)
    if not isinstance(value, NUMBER_TYPES):
        return None
    return float(value) * MMHG_PER_KPA if latest.unit == "kPa" else float(value)


def observation_text(state: ChairState, now: datetime, coarse: bool = False) -> str:
    """The observation clock and the time to the earliest discharge: to the second, or
    (``coarse``, the overview) to the minute, the time left rounded up."""
    obs = state.observation
    if obs is None:
        return "observation not started"
    elapsed = (now - obs.started_at).total_seconds()
    if state.session is not None and state.session.phase in ("discharged", "ended"):
        done = fmt_minutes(obs.elapsed_s) if coarse else fmt_duration(obs.elapsed_s)
        return f"obs {done}  {state.session.phase}"
    remaining = (obs.earliest_discharge_at - now).total_seconds()
    left = fmt_minutes(remaining, up=True) if coarse else fmt_duration(remaining)
    tail = f"discharge in {left}" if remaining > 0 else "minimum reached"
    return f"obs {fmt_minutes(elapsed) if coarse else fmt_duration(elapsed)}  {tail}"


def check_status(check: BpCheck, now: datetime, tz: tzinfo | None = None) -> tuple[str, str]:
    """A BP check's status as a screen shows it, with its style: done (when, value), due in
    mm:ss, DUE (closing in mm:ss) or OVERDUE."""
    if check.status == "done":
        when = clock_time(check.done_at, tz) if check.done_at else ""
        value = (
            f" {check.systolic:.0f}/{check.diastolic:.0f}"
            if check.systolic is not None and check.diastolic is not None else ""
        )
        return f"done {when}{value}".rstrip(), "green"
    if check.status == "missed":
        since = f" since {clock_time(check.window_end, tz)}" if check.window_end else ""
        return f"OVERDUE{since}", "bold red"
    if check.status == "due":
        if check.window_end is None:
            return "DUE now", "bold yellow"
        left = (check.window_end - now).total_seconds()
        return f"DUE, closes in {fmt_countdown(left)}", "bold yellow"
    if check.window_start is None:
        return "not yet scheduled", "dim"
    return f"due in {fmt_countdown((check.window_start - now).total_seconds())}", ""


def check_window(check: BpCheck, tz: tzinfo | None = None) -> str:
    """``09:40-09:55``, ``from 10:45``, ``until 09:05`` or ``--``."""
    start = clock_time(check.window_start, tz) if check.window_start else None
    end = clock_time(check.window_end, tz) if check.window_end else None
    if start and end:
        return f"{start}-{end}"
    if start:
        return f"from {start}"
    if end:
        return f"until {end}"
    return "--"


LIT_STYLE = {"high": "bold white on red", "medium": "bold black on yellow"}
LIT_TECHNICAL = "bold black on cyan"


def alarm_style(alarm: ActiveAlarm, *, lit: bool = False, mono: bool = False) -> str:
    """Red high, yellow medium and low; technical alarms in cyan (as monitors show INOP).

    ``lit``: the flashing indicator's lit phase, a block of colour (high and medium only; a
    low alarm is steady). ``mono`` (NO_COLOR): text that stays readable without colour."""
    flashing = alarm.priority in ("high", "medium")
    if lit and flashing:
        return LIT_TECHNICAL if alarm.kind == "technical" else LIT_STYLE[alarm.priority]
    if mono:
        return "bold" if flashing else ""
    return TECHNICAL_STYLE if alarm.kind == "technical" else PRIORITY_STYLE[alarm.priority]


def alarm_text(
    alarm: ActiveAlarm, state: ChairState | None, now: datetime, tz: tzinfo | None = None
) -> str:
    """What an alarm says, with times as local clock times: a BP check reminder is told from
    the check's own window; other texts have their ISO times shown as clock times."""
    if alarm.condition == "bp_check_due" and alarm.subject and state is not None:
        check = next((c for c in state.bp_checks if c.name == alarm.subject), None)
        if check is not None:
            status, _ = check_status(check, now, tz)
            return f"BP check {check.name}: {status}"
    return localize_times(alarm.message, tz, now)


def alarm_line(
    alarm: ActiveAlarm, state: ChairState | None, now: datetime, tz: tzinfo | None = None
) -> str:
    """``*** SYS 186 >= 180 mmHg`` with its state: ``(ack)``, ``(latched)``."""
    inop = " INOP" if alarm.kind == "technical" else ""
    text = f"{MARKERS[alarm.priority]}{inop} {alarm_text(alarm, state, now, tz)}"
    if alarm.acknowledged:
        text += " (ack)"
    elif not alarm.active:
        text += " (latched)"
    return text


def urgency(state: ChairState | None) -> tuple[int, int]:
    """How urgently a chair needs eyes: its highest alarm's rank, unacknowledged first."""
    if state is None:
        return (0, 0)
    top = state.highest_alarm()
    if top is None:
        return (0, 0)
    unacked = any(
        not a.acknowledged and a.priority == top.priority for a in state.alarms
    )
    return (PRIORITY_RANK[top.priority], 1 if unacked else 0)
