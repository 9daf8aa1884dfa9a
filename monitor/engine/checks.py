"""The blood-pressure checks a protocol requires, and which are done, due or missed.

Spravato's label asks for BP before dosing, at about 40 minutes after dosing and until values
are safe; the REMS Patient Monitoring Form records the BP before dosing, at 40 minutes and
before the end. An IV infusion series (Emory) measured every 10 minutes during the infusion
and every 15 minutes after. A check is satisfied by any usable blood pressure (a cuff reading
that is not invalid, or a manual entry) inside its window. Everything here is recomputed from
the session's times and BP samples, so it survives a restart unchanged. The wire form
(``BpCheck``) is made only when a state is built; ``next_change`` says when time alone next
changes a check, so nothing needs computing in between.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from drivers.wire import BpCheck, BpCheckStatus

from .config import BpCheckSpec
from .deadlines import soonest
from .readings import BpSample, show_time
from .session import Session

_EPSILON = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Slot:
    """One concrete check: a spec placed in time."""

    name: str
    spec: BpCheckSpec
    window_start: datetime | None
    window_end: datetime | None
    """None: open (before the first dose, or until discharge)."""


@dataclass(frozen=True, slots=True)
class Check:
    """A check's status at one moment, as plain data (``wire`` makes the BpCheck)."""

    name: str
    window_start: datetime | None
    window_end: datetime | None
    status: BpCheckStatus
    done_at: datetime | None
    systolic: float | None
    diastolic: float | None
    reading_id: str | None
    required: bool

    def wire(self) -> BpCheck:
        return BpCheck(
            name=self.name, window_start=self.window_start, window_end=self.window_end,
            status=self.status, done_at=self.done_at, systolic=self.systolic,
            diastolic=self.diastolic, reading_id=self.reading_id, required=self.required,
        )


def slots(session: Session, now: datetime) -> list[Slot]:
    out: list[Slot] = []
    taken = set(session.concomitant)
    for spec in session.protocol.bp_checks:
        if spec.only_with and not taken.intersection(spec.only_with):
            continue
        out.extend(_place(spec, session, now))
    return out


def _place(spec: BpCheckSpec, session: Session, now: datetime) -> list[Slot]:
    before = timedelta(minutes=spec.window_before_min)
    after = timedelta(minutes=spec.window_after_min)
    if spec.kind == "pre_dose":
        return [Slot(spec.name, spec, session.started_at, session.first_dose_at)]
    if spec.kind == "pre_discharge":
        end = session.observation_end()
        return [Slot(spec.name, spec, None if end is None else end - before, None)]
    anchor = session.first_dose_at if spec.anchor == "first_dose" else session.infusion_end_at
    if spec.kind == "at":
        if anchor is None:
            return [Slot(spec.name, spec, None, None)]
        at = anchor + timedelta(minutes=spec.offset_min)
        return [Slot(spec.name, spec, at - before, at + after)]
    if anchor is None or spec.every_min is None:
        return []
    if spec.until == "infusion_end":
        until = session.infusion_end_at or max(session.expected_infusion_end() or now, now)
    else:
        until = session.observation_end() or now
    step = timedelta(minutes=spec.every_min)
    out: list[Slot] = []
    k = 1
    while anchor + k * step <= until + _EPSILON and k <= 1000:
        at = anchor + k * step
        out.append(Slot(f"{spec.name}+{spec.every_min * k:g}m", spec, at - before, at + after))
        k += 1
    return out


def _satisfying(slot: Slot, samples: list[BpSample], now: datetime) -> BpSample | None:
    start = slot.window_start
    if start is None:
        return None
    inside = [
        s for s in samples
        if start <= s.at <= now
        and (slot.window_end is None or s.at <= slot.window_end)
    ]
    if not inside:
        return None
    # Before dosing and before discharge the newest counts (nearest the decision);
    # a timed check is met by the first reading in its window.
    return inside[-1] if slot.spec.kind in ("pre_dose", "pre_discharge") else inside[0]


def evaluate(session: Session, now: datetime) -> list[tuple[Slot, Check]]:
    """Every check of the session with its status at ``now`` (frozen once it closed)."""
    at = min(now, session.closed_at or now)
    out: list[tuple[Slot, Check]] = []
    for slot in slots(session, at):
        sample = _satisfying(slot, session.bp, at)
        status: BpCheckStatus
        if sample is not None:
            status = "done"
        elif slot.window_start is None or at < slot.window_start:
            status = "pending"
        elif slot.window_end is None or at <= slot.window_end:
            status = "due"
            if slot.spec.kind == "pre_dose" and session.first_dose_at is not None:
                status = "missed"
        else:
            status = "missed"
        out.append((slot, Check(
            name=slot.name, window_start=slot.window_start, window_end=slot.window_end,
            status=status, done_at=sample.at if sample else None,
            systolic=sample.systolic if sample else None,
            diastolic=sample.diastolic if sample else None,
            reading_id=sample.reading_id if sample else None, required=slot.spec.required,
        )))
    return out


def next_change(session: Session, checks: list[tuple[Slot, Check]],
                now: datetime) -> datetime | None:
    """The first moment after ``now`` at which time alone changes the checks ``evaluate``
    gave at ``now``: a window opening or closing, a reading timed ahead of the clock coming
    into reach, or a repeating check's next slot appearing. None: none will (or the session
    has closed, which freezes them)."""
    if session.closed_at is not None:
        return None
    found: list[datetime] = []
    for slot, _ in checks:
        if slot.window_start is not None:
            found.append(slot.window_start)
        if slot.window_end is not None:
            found.append(slot.window_end + _EPSILON)  # missed once past its end
    for sample in reversed(session.bp):
        if sample.at <= now:
            break
        found.append(sample.at)
    taken = set(session.concomitant)
    for spec in session.protocol.bp_checks:
        if spec.kind != "every" or spec.every_min is None \
                or (spec.only_with and not taken.intersection(spec.only_with)):
            continue
        anchor = session.first_dose_at if spec.anchor == "first_dose" else \
            session.infusion_end_at
        if anchor is None:
            continue
        # A slot at ``anchor + k * step`` appears once the span it runs until reaches it.
        step = timedelta(minutes=spec.every_min)
        k = max(1, math.floor((now - anchor) / step))
        while anchor + k * step - _EPSILON <= now and k <= 1000:
            k += 1
        if k <= 1000:
            found.append(anchor + k * step - _EPSILON)
    return soonest(found, now)


def describe(check: BpCheck | Check) -> str:
    """How a screen names a check's state, with its window in UTC."""
    if check.status == "done":
        return f"BP check {check.name} done"
    if check.window_start is None:
        return f"BP check {check.name} not yet scheduled"
    if check.window_end is None:
        return f"BP check {check.name} {check.status} from {show_time(check.window_start)}"
    return (
        f"BP check {check.name} {check.status} "
        f"({show_time(check.window_start)} to {show_time(check.window_end)})"
    )
