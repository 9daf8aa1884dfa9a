"""Technical alarms and BP-check reminders: the equipment and the workflow, not the patient.

A silent stream, a device or gateway that went away, a pulse oximeter the protocol requires
but that is not live (Spravato REMS), and a BP check that is due or was missed. Each is shown
apart from physiological alarms, as central stations show "INOP" conditions.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from drivers.wire import AlarmEvent, BpCheck, Kind

from .checks import Slot
from .config import RulePhase, TechnicalAlarm
from .readings import show_time
from .session import Session

if TYPE_CHECKING:
    from .chair import Chair

KIND_LABEL: dict[str, str] = {
    "blood_pressure": "blood pressure",
    "cuff_pressure": "cuff pressure",
    "heart_rate": "heart rate",
    "spo2": "SpO2",
}


def evaluate(chair: Chair, session: Session, phase: RulePhase, now: datetime) -> list[AlarmEvent]:
    """Equipment conditions: silent streams, required SpO2, devices and gateway."""
    cfg = chair.config.technical
    events: list[AlarmEvent] = []
    # Pulse oximetry the protocol requires (Spravato REMS: a pulse oximeter on site).
    spo2_limit = chair.config.no_data_s.for_kind("spo2")
    spo2 = chair.params.get("spo2")
    missing = (
        session.protocol.requires_spo2
        and phase in ("dosing", "observation")
        and (
            spo2 is None
            or (spo2_limit is not None and (now - spo2.at).total_seconds() > spo2_limit)
        )
    )
    events += _condition(
        chair,
        now,
        "spo2_missing",
        "",
        missing,
        cfg.spo2_missing,
        lambda: (
            f"SpO2 required by protocol {session.protocol_name}: "
            + ("no SpO2 reading yet" if spo2 is None else f"none since {show_time(spo2.at)}")
        ),
    )
    for (device, kind), last in sorted(chair.streams.items()):
        limit = chair.config.no_data_s.for_kind(as_kind(kind))
        silent = limit is not None and (now - last).total_seconds() > limit
        if kind == "spo2" and missing:
            silent = False  # the spo2_missing alarm already says it
        events += _condition(
            chair,
            now,
            "no_data",
            f"{device}/{kind}",
            silent,
            cfg.no_data,
            partial(_no_data_text, device, kind, last, limit or 0.0),
        )
    for device, state in sorted(chair.devices.items()):
        reason = chair.device_info.get(device, (now, None))[1]
        detail = f"device {device} {state}" + (f": {reason}" if reason else "")
        events += _condition(
            chair,
            now,
            "device_offline",
            device,
            state in ("disconnected", "offline"),
            cfg.device_offline,
            partial(str, detail),
        )
        refused = device in chair.refusing
        events += _condition(
            chair,
            now,
            "readings_refused",
            device,
            refused,
            cfg.readings_refused,
            partial(str, f"readings of {device} are refused by the gateway and lost"
                    + (f": {reason}" if reason else "")),
        )
        events += _condition(
            chair,
            now,
            "device_degraded",
            device,
            state == "degraded" and not refused,  # readings_refused already says it
            cfg.device_degraded,
            partial(str, detail),
        )
    gateway = chair.gateway
    events += _condition(
        chair,
        now,
        "gateway_offline",
        "",
        gateway is not None and gateway[0] == "offline",
        cfg.gateway_offline,
        lambda: f"gateway offline since {show_time(gateway[1]) if gateway else '?'}",
    )
    return events


def _condition(
    chair: Chair,
    now: datetime,
    condition: str,
    subject: str,
    holds: bool,
    rule: TechnicalAlarm,
    message: Callable[[], str],
) -> list[AlarmEvent]:
    """A technical condition with its delay: alarm once it has held that long."""
    key = (condition, subject)
    if not holds:
        if chair.held.pop(key, None) is None and key not in chair.book.alarms:
            return []
        return chair.book.release(now, condition, subject)
    since = chair.held.setdefault(key, now)
    if now - since < timedelta(seconds=rule.delay_s):
        return []
    if key in chair.book.alarms and chair.book.alarms[key].active:
        return []
    return chair.book.assert_(
        now,
        condition,
        "technical",
        rule.priority,
        message(),
        subject=subject,
        latching=rule.latching,
        audio=chair.config.audio_pause,
    )


def reminders(chair: Chair, slots: list[tuple[Slot, BpCheck]], now: datetime) -> list[AlarmEvent]:
    """A BP check due raises a low reminder; a missed one escalates it, once, and latches."""
    due, missed = chair.config.technical.bp_check_due, chair.config.technical.bp_check_missed
    events: list[AlarmEvent] = []
    for slot, check in slots:
        name = check.name
        if check.status == "due":
            until = (
                f" until {show_time(slot.window_end)}"
                if slot.window_end
                else " before dosing"
                if slot.spec.kind == "pre_dose"
                else " before discharge"
            )
            events += chair.book.assert_(
                now,
                "bp_check_due",
                "technical",
                due.priority,
                f"BP check {name} due{until}",
                subject=name,
                latching=due.latching,
            )
        elif check.status == "missed":
            if name in chair.missed:
                continue
            chair.missed.add(name)
            closed = show_time(slot.window_end) if slot.window_end else "?"
            text = f"BP check {name} missed: window closed at {closed}"
            events += chair.book.assert_(
                now, "bp_check_due", "technical", due.priority, f"BP check {name} due", subject=name
            )
            events += chair.book.assert_(
                now,
                "bp_check_due",
                "technical",
                missed.priority,
                text,
                subject=name,
                latching=missed.latching,
                audio=chair.config.audio_pause,
            )
            events += (
                chair.book.latch(now, "bp_check_due", name)
                if missed.latching
                else chair.book.release(now, "bp_check_due", name)
            )
        else:
            events += chair.book.release(now, "bp_check_due", name)
    # A check can vanish (an infusion that ended before it): its reminder goes too.
    names = {check.name for _, check in slots}
    for condition, subject in list(chair.book.alarms):
        if condition == "bp_check_due" and subject not in names:
            events += chair.book.release(now, condition, subject)
    return events


def _no_data_text(device: str, kind: str, last: datetime, limit: float) -> str:
    return f"{KIND_LABEL[kind]} from {device}: no data since {show_time(last)} > {limit:g} s"


def as_kind(kind: str) -> Kind:
    if kind not in KIND_LABEL:
        raise ValueError(f"unknown kind {kind!r}")
    return kind  # type: ignore[return-value]
