"""Discharge readiness: every condition that must hold before a patient may leave.

The Spravato label and REMS ask for at least two hours of monitoring from the first device
*and* until sedation, dissociation and respiratory depression have resolved, with blood
pressure "consistent at a safe level". Chairside lists each unmet condition with the time
until it can be met by waiting alone (only the observation clock can), so a screen can say
what is left to do. A clinician with an allowed role may discharge before readiness with a
reason, which the session records.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from drivers.wire import ActiveAlarm, BpCheck, DischargeReadiness, UnmetCondition

from .checks import Check, describe
from .deadlines import INSTANT, soonest
from .readings import show_time, shown_number
from .session import Session


def readiness(
    session: Session | None,
    checks: Iterable[BpCheck | Check],
    blocking: Iterable[ActiveAlarm],
    now: datetime,
) -> DischargeReadiness:
    if session is None:
        return DischargeReadiness(ready=False, unmet=[_unmet("session", "no session")])
    if not session.open:
        return DischargeReadiness(
            ready=False, unmet=[_unmet("session", f"the session is {session.phase}")]
        )
    unmet: list[UnmetCondition] = []
    unmet.extend(_observation(session, now))
    unmet.extend(
        _unmet("bp_check", describe(c)) for c in checks if c.required and c.status != "done"
    )
    unmet.extend(_blood_pressure(session, now))
    unmet.extend(
        _unmet("alarm", f"{a.priority} alarm {a.condition}: {a.message} "
               f"({'active' if a.active else 'not acknowledged'})")
        for a in blocking
    )
    unmet.extend(_assessment(session, now))
    return DischargeReadiness(ready=not unmet, unmet=unmet)


def next_change(session: Session | None, now: datetime) -> datetime | None:
    """The first moment after ``now`` at which time alone changes a condition here: the
    minimum observation ending, the latest BP or assessment growing too old. (BP checks
    and alarms say their own.)"""
    if session is None or not session.open:
        return None
    found: list[datetime] = []
    earliest = session.earliest_discharge
    if earliest is not None:
        found.append(earliest)
    limits = session.protocol.discharge
    latest = session.latest_bp()
    if latest is not None:
        found.append(latest.at + timedelta(minutes=limits.bp_max_age_min) + INSTANT)
    a = session.assessment
    if a is not None and limits.assessment_max_age_min:
        found.append(a.at + timedelta(minutes=limits.assessment_max_age_min) + INSTANT)
    return soonest(found, now)


def _unmet(condition: str, reason: str, met_in_s: float | None = None) -> UnmetCondition:
    return UnmetCondition(condition=condition, reason=reason, met_in_s=met_in_s)


def _observation(session: Session, now: datetime) -> list[UnmetCondition]:
    protocol = session.protocol
    if session.first_dose_at is None:
        return [_unmet("dose", "no dose given yet")]
    out: list[UnmetCondition] = []
    expected = session.doses_expected
    if protocol.dosing == "devices" and expected is not None and session.doses_given < expected:
        out.append(_unmet("dose", f"{session.doses_given} of {expected} nasal devices given"))
    earliest = session.earliest_discharge
    if earliest is None:
        out.append(_unmet("observation_time", "observation starts when the infusion ends"))
    elif now < earliest:
        start = session.observation_start or earliest
        out.append(_unmet(
            "observation_time",
            f"minimum observation of {protocol.observation_min:g} min from "
            f"{show_time(start)} ends at {show_time(earliest)}",
            (earliest - now).total_seconds(),
        ))
    return out


def _blood_pressure(session: Session, now: datetime) -> list[UnmetCondition]:
    limits = session.protocol.discharge
    latest = session.latest_bp()
    if latest is None:
        return [_unmet("bp_recent", "no blood pressure recorded in this session")]
    out: list[UnmetCondition] = []
    oldest = now - timedelta(minutes=limits.bp_max_age_min)
    if latest.at < oldest:
        out.append(_unmet(
            "bp_recent",
            f"latest BP at {show_time(latest.at)} is older than "
            f"{limits.bp_max_age_min:g} min",
        ))
    if latest.systolic >= limits.systolic_below or latest.diastolic >= limits.diastolic_below:
        out.append(_unmet(
            "bp_limits",
            f"latest BP {shown_number(latest.systolic)}/{shown_number(latest.diastolic)} mmHg; "
            f"discharge needs SYS < {shown_number(limits.systolic_below)} and "
            f"DIA < {shown_number(limits.diastolic_below)}",
        ))
    return out


def _assessment(session: Session, now: datetime) -> list[UnmetCondition]:
    limits = session.protocol.discharge
    a = session.assessment
    if a is None:
        return [_unmet("assessment", "no sedation and dissociation assessment recorded")]
    out: list[UnmetCondition] = []
    max_age = limits.assessment_max_age_min
    if max_age and a.at < now - timedelta(minutes=max_age):
        out.append(_unmet(
            "assessment", f"latest assessment at {show_time(a.at)} is older than "
            f"{max_age:g} min",
        ))
    if a.sedation != "none":
        out.append(_unmet("assessment", "sedation has not resolved"))
    if a.dissociation != "none":
        out.append(_unmet("assessment", "dissociation has not resolved"))
    if a.respiration != "normal":
        out.append(_unmet("assessment", "breathing is not normal"))
    if a.aldrete is None:
        if limits.aldrete_required:
            out.append(_unmet("aldrete", "no modified Aldrete score recorded"))
    elif a.aldrete.total < limits.aldrete_pass_mark:
        out.append(_unmet(
            "aldrete",
            f"modified Aldrete {a.aldrete.total} < {limits.aldrete_pass_mark}",
        ))
    return out
