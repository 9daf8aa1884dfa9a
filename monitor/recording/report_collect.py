"""The report's first step: from the replay's outputs and the log's inputs, what belongs to
the session (its chair's states, readings, commands with their answers, alarms)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from drivers.errors import ChairsideError
from drivers.wire import (
    PRIORITY_RANK,
    AlarmEvent,
    AlarmKind,
    Assessment,
    ChairState,
    CommandResult,
    DoseGiven,
    ManualBp,
    Priority,
    Reading,
    SessionInfo,
    Symptoms,
)
from monitor.engine import EngineConfig, Output, ProtocolConfig

from .replay import Prepared
from .report_model import AlarmRecord, AssessmentRecord, CommandRecord, SymptomsRecord

MARGIN = timedelta(seconds=5)
"""How far outside the session's span an input still counts as the session's."""


class ReportError(ChairsideError):
    """The log holds no session to report on."""


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
    value: float


@dataclass(frozen=True, slots=True)
class BpPoint:
    at: datetime
    systolic: float
    diastolic: float
    source: str
    reading_id: str


@dataclass(slots=True)
class AlarmTrack:
    """One alarm's events folded together: its highest priority and that priority's message,
    its first escalation, acknowledgement and clearing. The times stay datetimes for the
    compliance checks."""

    alarm_id: str
    condition: str
    kind: AlarmKind
    priority: Priority
    message: str
    raised: datetime
    high: datetime | None = None
    escalated: datetime | None = None
    acknowledged: datetime | None = None
    acknowledged_by: str | None = None
    cleared: datetime | None = None

    def add(self, event: AlarmEvent) -> None:
        if event.priority == "high" and self.high is None:
            self.high = event.at
        if event.event == "escalated":
            if self.escalated is None:
                self.escalated = event.at
            if PRIORITY_RANK[event.priority] > PRIORITY_RANK[self.priority]:
                self.priority, self.message = event.priority, event.message
        elif event.event == "acknowledged" and self.acknowledged is None:
            self.acknowledged, self.acknowledged_by = event.at, event.by
        elif event.event == "cleared" and self.cleared is None:
            self.cleared = event.at

    def record(self) -> AlarmRecord:
        took = (None if self.acknowledged is None
                else round((self.acknowledged - self.raised).total_seconds() + 0.0, 1))
        return AlarmRecord(
            alarm_id=self.alarm_id, condition=self.condition, kind=self.kind,
            priority=self.priority, message=self.message, raised_at=self.raised,
            high_at=self.high, escalated_at=self.escalated,
            acknowledged_at=self.acknowledged, acknowledged_by=self.acknowledged_by,
            time_to_ack_s=took, cleared_at=self.cleared)


@dataclass(slots=True)
class Collected:
    """The session's part of the log and of the replay."""

    chair: str
    states: list[ChairState]
    """The session's states, in order; the last is its end."""
    info: SessionInfo
    protocol: ProtocolConfig | None
    start: datetime
    end: datetime | None
    """Discharge or end; None while open."""
    span_end: datetime
    """The end, or the chair's last input of an open session."""
    bps: list[BpPoint] = field(default_factory=list)
    heart_rates: list[Point] = field(default_factory=list)
    pulse_rates: list[Point] = field(default_factory=list)
    spo2s: list[Point] = field(default_factory=list)
    assessments: list[AssessmentRecord] = field(default_factory=list)
    symptoms: list[SymptomsRecord] = field(default_factory=list)
    commands: list[CommandRecord] = field(default_factory=list)
    alarm_events: list[AlarmEvent] = field(default_factory=list)
    alarms: list[AlarmTrack] = field(default_factory=list)
    doses: list[datetime] = field(default_factory=list)
    """The accepted doses' times, for the charts."""

    @property
    def final(self) -> ChairState:
        return self.states[-1]


def collect(prepared: Prepared, outputs: list[Output], config: EngineConfig,
            chair: str | None = None) -> Collected:
    """The first session that starts in the log (of ``chair``, if given), with its inputs
    and the engine's answers; ReportError when there is none."""
    states = [o for o in outputs if isinstance(o, ChairState)]
    chair, mine = _pick_states(states, chair, prepared.steps[0].at)
    info = mine[-1].session
    assert info is not None
    start = info.started_at
    end = info.discharged_at or info.ended_at
    last_seen = max((s.at for s in prepared.steps if s.chair == chair), default=start)
    found = Collected(chair=chair, states=mine, info=info,
                      protocol=config.protocols.get(info.protocol), start=start, end=end,
                      span_end=end or last_seen)
    _inputs(found, prepared, outputs, timedelta(seconds=config.clock_skew_s))
    found.commands = _commands(prepared, outputs, chair, start - MARGIN,
                               found.span_end + MARGIN)
    found.alarm_events = [o for o in outputs if isinstance(o, AlarmEvent) and o.chair == chair
                          and start - MARGIN <= o.at <= found.span_end + MARGIN]
    found.alarms = _alarms(found.alarm_events)
    return found


def _session_key(info: SessionInfo) -> tuple[str, datetime]:
    return (info.patient_code, info.started_at)


def _pick_states(states: list[ChairState], chair: str | None, first_input: datetime
                 ) -> tuple[str, list[ChairState]]:
    """The states of the log's session: the first session that starts in the log."""
    earliest = first_input - MARGIN
    key: tuple[str, tuple[str, datetime]] | None = None
    mine: list[ChairState] = []
    for s in states:
        session = s.session
        if session is None or (chair is not None and s.chair != chair) or (
                session.started_at < earliest):
            continue
        if key is None:
            key = (s.chair, _session_key(session))
        if s.chair == key[0] and _session_key(session) == key[1]:
            mine.append(s)
    if key is None:
        raise ReportError("the log holds no session start" +
                          (f" for chair {chair!r}" if chair else ""))
    return key[0], mine


def _inputs(found: Collected, prepared: Prepared, outputs: list[Output],
            skew: timedelta) -> None:
    """The chair's readings within the session, and the accepted commands that carry
    numbers (manual BP), findings (assessments, symptoms) or doses."""
    accepted = {o.id for o in outputs if isinstance(o, CommandResult) and o.accepted
                and o.chair == found.chair}
    for step in prepared.steps:
        if step.chair != found.chair or not (
                found.start - MARGIN <= step.at <= found.span_end + MARGIN):
            continue
        message = step.message
        if isinstance(message, Reading):
            if message.quality == "invalid":
                continue
            at = message.measured_at
            if abs(at - message.received_at) > skew:
                at = message.received_at
            if message.kind == "blood_pressure":
                sys_, dia = message.in_mmhg("systolic"), message.in_mmhg("diastolic")
                if sys_ is not None and dia is not None:
                    found.bps.append(BpPoint(at, sys_, dia, message.device, message.id))
            elif message.kind == "heart_rate":
                value = message.number("heart_rate")
                if value is not None:
                    found.heart_rates.append(Point(at, value))
            elif message.kind == "spo2":
                value = message.number("spo2")
                if value is not None:
                    found.spo2s.append(Point(at, value))
                value = message.number("pulse_rate")
                if value is not None:
                    found.pulse_rates.append(Point(at, value))
        elif not isinstance(message, ManualBp | Assessment | Symptoms) or (
                message.id not in accepted):
            continue
        elif isinstance(message, ManualBp):
            found.bps.append(BpPoint(message.at, message.systolic, message.diastolic,
                                     "manual", message.id))
        elif isinstance(message, Assessment):
            found.assessments.append(AssessmentRecord(
                at=message.at, by=message.by, sedation=message.sedation,
                dissociation=message.dissociation, respiration=message.respiration,
                moaas=message.moaas,
                aldrete=None if message.aldrete is None else message.aldrete.total,
                note=message.note))
        else:
            found.symptoms.append(SymptomsRecord(at=message.at, by=message.by,
                                                 symptoms=list(message.symptoms),
                                                 note=message.note))
    # Doses are not bounded by the session's span: the charts clip them to their own axis.
    doses = {s.at for s in prepared.steps if s.chair == found.chair
             and isinstance(s.message, DoseGiven) and s.message.id in accepted}
    found.doses = sorted(doses)
    found.bps.sort(key=lambda p: p.at)
    for points in (found.heart_rates, found.pulse_rates, found.spo2s):
        points.sort(key=lambda p: p.at)


def _commands(prepared: Prepared, outputs: list[Output], chair: str, start: datetime,
              end: datetime) -> list[CommandRecord]:
    """Every command to the chair in the session's span, in the order received, with the
    engine's answer: who sent it, accepted or refused, and why."""
    answers: dict[str, CommandResult] = {}
    for out in outputs:
        if isinstance(out, CommandResult) and out.chair == chair:
            answers.setdefault(out.id, out)  # a redelivery is answered again: the first counts
    found: list[CommandRecord] = []
    seen: set[str] = set()
    for step in prepared.steps:
        if not step.is_command or step.chair != chair or not start <= step.at <= end:
            continue
        command = step.message
        cid = getattr(command, "id", None)
        if cid is None or cid in seen:
            continue
        seen.add(cid)
        answer = answers.get(cid)
        found.append(CommandRecord(
            at=getattr(command, "at", step.at),
            received_at=step.at,
            id=cid,
            type=getattr(command, "type", "?"),
            by=answer.by if answer is not None and answer.by else getattr(command, "by", None),
            role=answer.role if answer is not None else None,
            accepted=answer.accepted if answer is not None else None,
            reasons=list(answer.reasons) if answer is not None else [],
        ))
    return found


def _alarms(events: list[AlarmEvent]) -> list[AlarmTrack]:
    """One track per alarm, in the order raised."""
    tracks: dict[str, AlarmTrack] = {}
    for e in sorted(events, key=lambda e: e.at):
        track = tracks.get(e.alarm_id)
        if track is None:
            track = tracks[e.alarm_id] = AlarmTrack(e.alarm_id, e.condition, e.kind,
                                                     e.priority, e.message, e.at)
        track.add(e)
    return list(tracks.values())
