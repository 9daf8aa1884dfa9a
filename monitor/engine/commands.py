"""Commands from the screens: each one checked, then applied or refused with its reasons.

A command counts at the time it says it was given (``at``), unless that is further from the
engine's clock than the skew tolerance; then at the engine's time. A dose is recorded even
when it breaks the protocol's plan (it was given): the answer then carries notes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta

from drivers.wire import (
    AckAlarm,
    AlarmEvent,
    Assessment,
    Command,
    CommandResult,
    Discharge,
    DoseGiven,
    EndSession,
    InfusionEnd,
    ManualBp,
    PauseAudio,
    StartSession,
    Symptoms,
)
from monitor.access.roles import Role, refusal

from .chair import Chair
from .readings import BpSample, Shown, manual_bp_value, show_time
from .session import Session

Outcome = tuple[list[str], list[AlarmEvent], list[str]]
"""Refusal reasons (empty: applied), the alarm events applying it caused, and notes."""


def apply(
    chair: Chair, cmd: Command, now: datetime, *, sender: str | None = None,
    roles: Mapping[str, Role] | None = None,
) -> tuple[CommandResult, list[AlarmEvent]]:
    """Apply one command to a chair; the result says whether it was applied and why not.

    ``sender`` is the user its topic names (the broker let only that user publish there);
    ``roles`` the site's enabled users. With a directory, a command needs a sender whose role
    may send it, and a ``by`` that is that sender. Without one (a site with no sign-in, on
    one machine), ``by`` is believed, as it must then be."""
    at = _when(cmd.at, now, chair.config.clock_skew_s)
    chair.forget_evaluation(now)
    role = None if roles is None or sender is None else roles.get(sender)
    reasons = identify(cmd, sender, roles)
    events: list[AlarmEvent] = []
    notes: list[str] = []
    if not reasons:
        reasons, events, notes = _dispatch(chair, cmd, at, now, role)
    result = CommandResult(
        id=cmd.id, chair=chair.id, type=cmd.type, accepted=not reasons, at=now,
        reasons=reasons or notes, by=sender or cmd.by, role=role,
    )
    return result, events


def identify(cmd: Command, sender: str | None, roles: Mapping[str, Role] | None) -> list[str]:
    """Why the sender may not send this command (empty: it may)."""
    if sender is not None and cmd.by != sender:
        return [f"the command claims to be by {cmd.by!r} but was sent by {sender!r}"]
    if roles is None:
        return []
    if sender is None:
        return ["a command must be sent under its sender's own topic "
                "(chairs/<chair>/commands/<user>): this site signs its users in"]
    role = roles.get(sender)
    if role is None:
        return [f"{sender!r} is not an enabled user of this site"]
    why = refusal(role, sender, cmd.type)
    return [why] if why else []


def _when(at: datetime, now: datetime, skew_s: float) -> datetime:
    return at if abs((at - now).total_seconds()) <= skew_s else now


def _dispatch(
    chair: Chair, cmd: Command, at: datetime, now: datetime, role: Role | None
) -> Outcome:
    if isinstance(cmd, StartSession):
        return _start(chair, cmd, at, now)
    if isinstance(cmd, AckAlarm):
        return _ack(chair, cmd, now)
    if isinstance(cmd, PauseAudio):
        return _pause(chair, cmd, now)
    session = chair.session
    if session is None or not session.open:
        state = "no session" if session is None else f"the session is {session.phase}"
        return [f"{cmd.type} needs an open session; {state}"], [], []
    if isinstance(cmd, DoseGiven):
        reasons = session.refuse_dose()
        if reasons:
            return reasons, [], []
        when = max(at, session.last_dose_at or session.started_at)
        return [], [], session.give_dose(when, cmd.dose_mg)
    if isinstance(cmd, InfusionEnd):
        reasons = session.refuse_infusion_end()
        if not reasons:
            session.end_infusion(at)
        return reasons, [], []
    if isinstance(cmd, ManualBp):
        _manual_bp(chair, session, cmd, at, now)
        return [], [], []
    if isinstance(cmd, Assessment):
        session.assessment = cmd.model_copy(update={"at": at})
        return [], [], []
    if isinstance(cmd, Discharge):
        return _discharge(chair, session, cmd, now, role)
    if isinstance(cmd, EndSession):
        session.end(now, cmd.reason)
        return [], chair.book.clear_all(now, "session ended"), []
    if isinstance(cmd, Symptoms):
        return [], _symptoms(chair, cmd, now), []
    raise AssertionError(f"unhandled command {cmd!r}")  # pragma: no cover


def _start(chair: Chair, cmd: StartSession, at: datetime, now: datetime) -> Outcome:
    if chair.session is not None and chair.session.open:
        s = chair.session
        return [f"chair {chair.id} already has an open session (patient {s.patient_code}, "
                f"{s.phase}); discharge or end it first"], [], []
    protocol = chair.config.protocols.get(cmd.protocol)
    if protocol is None:
        known = ", ".join(sorted(chair.config.protocols))
        return [f"unknown protocol {cmd.protocol!r}; known: {known}"], [], []
    if protocol.dosing == "devices" and cmd.dose_mg is not None:
        devices = math.ceil(cmd.dose_mg / protocol.mg_per_device - 1e-9)
        if devices > protocol.max_devices:
            return [f"a dose of {cmd.dose_mg:g} mg needs {devices} nasal devices; protocol "
                    f"{cmd.protocol} allows at most {protocol.max_devices}"], [], []
    chair.begin(Session.start(cmd, protocol, at), now)
    return [], [], []


def _ack(chair: Chair, cmd: AckAlarm, now: datetime) -> Outcome:
    alarm = chair.book.find(cmd.alarm_id)
    if alarm is None:
        return [f"no alarm {cmd.alarm_id} is shown at chair {chair.id}"], [], []
    if alarm.acknowledged:
        when = show_time(alarm.acknowledged_at) if alarm.acknowledged_at else "?"
        return [f"alarm {cmd.alarm_id} was already acknowledged by "
                f"{alarm.acknowledged_by} at {when}"], [], []
    return [], chair.book.acknowledge(alarm, cmd.by, now), []


SYMPTOM_WORDS = {
    "chest_pain": "chest pain", "shortness_of_breath": "shortness of breath",
    "severe_headache": "sudden severe headache", "visual_disturbance": "visual disturbance",
    "seizure": "seizure", "diminished_consciousness": "diminished consciousness",
    "focal_neurological_deficit": "focal neurological deficit",
}
CRISIS = {"chest_pain", "shortness_of_breath"}
EMERGENCY = "hypertensive_emergency"


def _symptoms(chair: Chair, cmd: Symptoms, now: datetime) -> list[AlarmEvent]:
    """The label: refer a patient with symptoms of a hypertensive crisis or encephalopathy
    for emergency care immediately. A high alarm that says so, latched until acknowledged
    (a second report while it shows raises its message, not a second alarm)."""
    seen = [SYMPTOM_WORDS[s] for s in dict.fromkeys(cmd.symptoms)]
    kinds = []
    if CRISIS & set(cmd.symptoms):
        kinds.append("hypertensive crisis")
    if set(cmd.symptoms) - CRISIS:
        kinds.append("hypertensive encephalopathy")
    message = (f"symptoms of {' or '.join(kinds)}: {', '.join(seen)} (reported by {cmd.by}); "
               "refer for emergency care immediately")
    events = chair.book.holds(now, EMERGENCY, "physiological", "high", message,
                                latching=True, reading_id=cmd.id,
                                audio=chair.config.audio_pause)
    alarm = chair.book.alarms[(EMERGENCY, "")]
    if alarm.message != message and not events:
        alarm.message = message
    return events + chair.book.release(now, EMERGENCY)


def _pause(chair: Chair, cmd: PauseAudio, now: datetime) -> Outcome:
    limit = chair.config.audio_pause.max_s
    if cmd.seconds > limit:
        return [f"audio can be paused for at most {limit} s (asked {cmd.seconds} s)"], [], []
    chair.book.pause_audio(now + timedelta(seconds=cmd.seconds))
    return [], [], []


def _manual_bp(chair: Chair, session: Session, cmd: ManualBp, at: datetime,
               now: datetime) -> None:
    value = manual_bp_value(cmd.id, at, cmd.systolic, cmd.diastolic, cmd.pulse, now)
    current = chair.latest.get("blood_pressure")
    if current is None or current.at <= at:
        chair.latest["blood_pressure"] = Shown.of(value)
    params = {"systolic": float(cmd.systolic), "diastolic": float(cmd.diastolic)}
    if cmd.pulse is not None:
        params["heart_rate"] = float(cmd.pulse)
    chair.set_params(params, at, cmd.id, True)
    session.add_bp(BpSample(at, float(cmd.systolic), float(cmd.diastolic), cmd.id))


def _discharge(
    chair: Chair, session: Session, cmd: Discharge, now: datetime, role: Role | None
) -> Outcome:
    if session.first_dose_at is None:
        return ["no dose was given; use end_session to close the session"], [], []
    ready = chair.readiness(now)
    unmet = [u.reason for u in ready.unmet]
    if unmet:
        if cmd.override_reason is None:
            return unmet, [], []
        allowed = ", ".join(chair.config.discharge_override_roles)
        if role is not None and not chair.config.may_override(role):
            return [*unmet, f"{cmd.by!r} ({role}) may not override; allowed roles: "
                    f"{allowed}"], [], []
        if role is None and not chair.config.may_override(cmd.by):
            return [*unmet, f"{cmd.by!r} may not override; allowed roles: {allowed} "
                    "(give by as role or role:name)"], [], []
    session.discharge(now, cmd.by, cmd.override_reason, unmet)
    return [], chair.book.clear_all(now, "patient discharged"), []
