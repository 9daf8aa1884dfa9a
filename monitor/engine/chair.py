"""Everything the engine knows about one chair, and the evaluation that turns it into alarms.

Alarms belong to an open session: a chair without a patient shows its devices and values but
alarms for nobody. Evaluation is a pure function of what the chair holds and ``now``; it runs
after every message and on every tick, so a condition is judged the same way whichever
brought it about.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from datetime import datetime, timedelta
from typing import Literal

from drivers.wire import (
    AlarmEvent,
    AnsweredCommand,
    BpCheck,
    ChairState,
    CommandResult,
    DeviceState,
    DeviceStatus,
    DischargeReadiness,
    GatewayStatus,
    Kind,
    LatestValue,
    ObservationClock,
    Phase,
    Reading,
)

from . import checks as bp_checks
from .alarms import AlarmBook
from .config import EngineConfig, RulePhase
from .discharge import readiness
from .readings import (
    MANUAL_DEVICE,
    BpSample,
    Sample,
    aged,
    effective_time,
    latest_value,
    parameters,
    parameters_of,
    value_time,
)
from .rules import RuleState
from .rules import evaluate as evaluate_rules
from .session import Session
from .technical import KIND_LABEL, Equipment, TechnicalConditions, as_kind

_SEEN_READINGS = 1024
_KEPT_RESULTS = 1024
_RETAINED_ANSWERS = 32
"""Answered commands carried in the retained state: enough to recognise the redeliveries a
restart can bring (the broker redelivers only what was in flight)."""

Signature = tuple[object, ...]


class Chair:
    """One chair: its latest values, devices, session, alarms and answered commands."""

    def __init__(self, chair: str, config: EngineConfig) -> None:
        self.id = chair
        self.config = config
        self.latest: dict[str, LatestValue] = {}
        self.params: dict[str, Sample] = {}
        self.streams: dict[tuple[str, str], datetime] = {}
        """Time of the last usable reading per (device, kind)."""
        self.devices: dict[str, DeviceState] = {}
        self.device_info: dict[str, tuple[datetime, str | None]] = {}
        self.refusing: set[str] = set()  # devices whose readings the gateway cannot keep
        # device -> the vitals it sends that its gateway cannot read, with why
        self.unreadable: dict[str, dict[Kind, str]] = {}
        # (state, since, the connection it came from)
        self.gateway: tuple[Literal["online", "offline"], datetime, str | None] | None = None
        self.session: Session | None = None
        self.book = AlarmBook(chair)
        self.rule_states: dict[str, RuleState] = {}
        self.technical = TechnicalConditions(self.book, config.technical, config.no_data_s,
                                             config.audio_pause)
        self.results: OrderedDict[str, CommandResult] = OrderedDict()
        self._seen: deque[str] = deque()
        self._seen_set: set[str] = set()
        self.published_at: datetime | None = None
        self.last_state: ChairState | None = None
        self._evaluated: tuple[datetime, list[tuple[bp_checks.Slot, BpCheck]]] | None = None
        """The checks the last evaluation computed, reused by the view at the same time."""

    # --- inputs -------------------------------------------------------------------------

    def seen(self, reading_id: str) -> bool:
        """Record a reading id; True when it was already handled (a QoS 1 redelivery)."""
        if reading_id in self._seen_set:
            return True
        self._seen.append(reading_id)
        self._seen_set.add(reading_id)
        if len(self._seen) > _SEEN_READINGS:
            self._seen_set.discard(self._seen.popleft())
        return False

    def take_reading(self, reading: Reading, now: datetime) -> None:
        self._evaluated = None
        at, skewed = effective_time(reading.measured_at, reading.received_at,
                                    self.config.clock_skew_s)
        current = self.latest.get(reading.kind)
        if current is None or value_time(current) <= at:
            self.latest[reading.kind] = latest_value(reading, skewed, now)
        if reading.quality == "invalid":
            return
        valid = reading.quality == "valid"
        key = (reading.device, reading.kind)
        self.streams[key] = max(self.streams.get(key, at), at)
        values = parameters(reading)
        self.set_params(values, at, reading.id, valid)
        sys_, dia = values.get("systolic"), values.get("diastolic")
        if self.open and sys_ is not None and dia is not None and self.session is not None:
            self.session.add_bp(BpSample(at, sys_, dia, reading.id, valid))

    def set_params(self, values: dict[str, float], at: datetime, reading_id: str,
                   valid: bool) -> None:
        for name, value in values.items():
            current = self.params.get(name)
            if current is None or current.at <= at:
                self.params[name] = Sample(value, at, reading_id, valid)

    def take_device_status(self, status: DeviceStatus) -> None:
        known = self.device_info.get(status.device)
        if known is not None and status.at < known[0]:
            return
        self.devices[status.device] = status.state
        self.device_info[status.device] = (status.at, status.reason)
        if status.unreadable:
            self.unreadable[status.device] = dict(status.unreadable)
        else:
            self.unreadable.pop(status.device, None)
        if status.refusing:
            self.refusing.add(status.device)
        else:
            self.refusing.discard(status.device)

    def take_gateway_status(self, status: GatewayStatus, now: datetime) -> None:
        if self.gateway is not None:
            _, at, connection = self.gateway
            if status.state == "offline" and status.connection is not None \
                    and status.connection == connection:
                # The last will of the connection we know: built when it connected, so older
                # than its heartbeats, yet it is the newest news. Offline from when it came.
                self.gateway = ("offline", max(status.at, now), None)
                return
            if status.at < at:
                return
        self.gateway = (status.state, status.at, status.connection)

    def begin(self, session: Session, now: datetime) -> None:
        """A new session: forget the last one's rule timers and silent streams."""
        self.session = session
        self.rule_states.clear()
        self.technical.begin()
        fresh = {}
        for (device, kind), last in self.streams.items():
            limit = self.config.no_data_s.for_kind(as_kind(kind))
            if limit is None or (now - last).total_seconds() <= limit:
                fresh[(device, kind)] = last
        self.streams = fresh
        # A blood pressure taken before this session may be the last patient's.
        for name in ("systolic", "diastolic"):
            sample = self.params.get(name)
            if sample is not None and sample.at < session.started_at:
                del self.params[name]

    def forget_evaluation(self) -> None:
        """Something is about to change: the checks computed last are no longer current."""
        self._evaluated = None

    def remember(self, result: CommandResult) -> None:
        self.results[result.id] = result
        if len(self.results) > _KEPT_RESULTS:
            self.results.popitem(last=False)

    # --- where it is --------------------------------------------------------------------

    @property
    def open(self) -> bool:
        return self.session is not None and self.session.open

    def rule_phase(self) -> RulePhase | None:
        if self.session is None or not self.session.open:
            return None
        phase = self.session.phase
        return phase if phase in ("pre_dose", "dosing", "observation") else None

    def checks(self, now: datetime) -> list[BpCheck]:
        return [check for _, check in self._slots(now)]

    def _slots(self, now: datetime) -> list[tuple[bp_checks.Slot, BpCheck]]:
        if self.session is None:
            return []
        cached = self._evaluated
        if cached is not None and cached[0] == now:
            return cached[1]
        return bp_checks.evaluate(self.session, now)

    def readiness(self, now: datetime, checks: list[BpCheck] | None = None) -> DischargeReadiness:
        blocking = [a.view() for a in self.book.alarms.values() if a.blocks_discharge]
        blocking.sort(key=lambda a: (a.raised_at, a.alarm_id))
        return readiness(self.session, self.checks(now) if checks is None else checks,
                         blocking, now)

    # --- evaluation ---------------------------------------------------------------------

    def evaluate(self, now: datetime) -> list[AlarmEvent]:
        """Bring every alarm in line with what holds at ``now``."""
        session = self.session
        phase = self.rule_phase()
        self._evaluated = None
        if session is None or phase is None:
            self.book.expire_pause(now)
            return []
        events = self._physiological(session, phase, now)
        events += self.technical.evaluate(self.equipment(), session.protocol_name,
                                          session.protocol.requires_spo2, phase, now)
        slots = bp_checks.evaluate(session, now)
        events += self.technical.reminders(slots, now)
        self._evaluated = (now, slots)
        events += self.book.escalate(now, self.config.escalation_s)
        self.book.expire_pause(now)
        return events

    def equipment(self) -> Equipment:
        """What the chair knows of its devices, streams and gateway, for the technical alarms."""
        spo2 = self.params.get("spo2")
        return Equipment(
            streams=self.streams, devices=self.devices,
            reasons={device: reason for device, (_, reason) in self.device_info.items()},
            refusing=self.refusing,
            gateway=None if self.gateway is None else (self.gateway[0], self.gateway[1]),
            spo2_at=None if spo2 is None else spo2.at,
        )

    def _physiological(self, session: Session, phase: RulePhase,
                       now: datetime) -> list[AlarmEvent]:
        events: list[AlarmEvent] = []
        results = evaluate_rules(self.config.rules, self.rule_states, self.params,
                                 session.baseline, phase, session.protocol_name, now,
                                 self.config.no_data_s)
        for condition, result in results.items():
            if result.fired is not None:
                events += self.book.assert_(
                    now, condition, "physiological", result.fired.rule.priority,
                    result.fired.message, latching=result.latching,
                    reading_id=result.fired.sample.reading_id, audio=self.config.audio_pause,
                )
            elif not result.holding:
                events += self.book.release(now, condition)
        return events

    # --- view ---------------------------------------------------------------------------

    def phase(self, ready: bool) -> Phase:
        if self.session is None:
            return "idle"
        if self.session.phase == "observation" and ready:
            return "ready"
        return self.session.phase

    def view(self, now: datetime) -> ChairState:
        """The complete state of the chair at ``now``."""
        session = self.session
        checks = self.checks(now)
        ready = self.readiness(now, checks)
        observation = None
        if session is not None and session.observation_start is not None:
            start = session.observation_start
            until = min(now, session.closed_at or now)
            observation = ObservationClock(
                started_at=start, elapsed_s=max(0.0, (until - start).total_seconds()),
                minimum_s=session.observation_minimum.total_seconds(),
                earliest_discharge_at=start + session.observation_minimum,
            )
        paused = self.book.audio_paused_until
        if paused is not None and now >= paused:
            paused = None
        return ChairState(
            chair=self.id, at=now,
            session=session.info(self.phase(ready.ready), self.book.counter) if session else None,
            latest={kind: aged(value, now) for kind, value in sorted(self.latest.items())},
            observation=observation, bp_checks=checks, alarms=self.book.views(),
            discharge=ready, devices=dict(sorted(self.devices.items())),
            unreadable=self.unreadable_view(),
            audio_paused_until=paused,
            answered=[
                AnsweredCommand(id=r.id, type=r.type, accepted=r.accepted, at=r.at)
                for r in list(self.results.values())[-_RETAINED_ANSWERS:]
            ],
        )

    def unreadable_view(self) -> dict[Kind, str]:
        """Per vital, which devices send it unreadable and why (devices in name order)."""
        out: dict[Kind, list[str]] = {}
        for device, kinds in sorted(self.unreadable.items()):
            for kind, reason in kinds.items():
                out.setdefault(kind, []).append(f"{device}: {reason}")
        return {kind: "; ".join(texts) for kind, texts in sorted(out.items())}

    @staticmethod
    def signature_of(state: ChairState) -> Signature:
        """What a state says, without the numbers that only age with time."""
        return (
            state.session,
            tuple((kind, v.reading_id) for kind, v in state.latest.items()),
            tuple(state.bp_checks),
            tuple(state.alarms),
            state.discharge.ready,
            tuple((u.condition, u.reason) for u in state.discharge.unmet),
            tuple(state.devices.items()),
            tuple(state.unreadable.items()),
            state.audio_paused_until,
        )

    def published(self, state: ChairState) -> None:
        self.published_at = state.at
        self.last_state = state

    def changed(self, state: ChairState) -> bool:
        """Whether ``state`` says something the last published one did not."""
        last = self.last_state
        return last is None or self.signature_of(state) != self.signature_of(last)

    # --- restart ------------------------------------------------------------------------

    def restore(self, state: ChairState, now: datetime) -> None:
        """Take back a retained state after a restart, so no alarm is raised twice."""
        self.latest = dict(state.latest)
        for kind, value in state.latest.items():
            if value.quality == "invalid":
                continue
            at = value_time(value)
            if value.device != MANUAL_DEVICE:
                self.streams[(value.device, kind)] = at
            self.set_params(parameters_of(kind, value.values, value.unit), at,
                            value.reading_id, value.quality == "valid")
        self.devices = dict(state.devices)
        # No device time is kept: the broker's retained statuses, redelivered on
        # subscribing, must be taken even though they are older than the restart.
        self.device_info = {}
        if state.session is not None and state.session.protocol in self.config.protocols:
            protocol = self.config.protocols[state.session.protocol]
            session = Session.from_info(state.session, protocol)
            samples: dict[str, BpSample] = {}
            for check in state.bp_checks:
                if check.done_at and check.systolic is not None and check.diastolic is not None:
                    rid = check.reading_id or f"check:{check.name}"
                    samples[rid] = BpSample(check.done_at, check.systolic, check.diastolic, rid)
            bp = state.latest.get("blood_pressure")
            values = parameters_of("blood_pressure", bp.values, bp.unit) if bp else {}
            if bp is not None and bp.quality != "invalid" and "systolic" in values \
                    and "diastolic" in values:
                samples[bp.reading_id] = BpSample(value_time(bp), values["systolic"],
                                                  values["diastolic"], bp.reading_id,
                                                  bp.quality == "valid")
            for sample in sorted(samples.values(), key=lambda s: s.at):
                session.add_bp(sample)
            self.session = session
            self.book.counter = state.session.alarm_counter
            self.technical.resume_missed(c.name for c in state.bp_checks
                                         if c.status == "missed")
        self.book.audio_paused_until = state.audio_paused_until
        for answer in state.answered:
            self.results[answer.id] = CommandResult(
                id=answer.id, chair=self.id, type=answer.type, accepted=answer.accepted,
                at=answer.at, reasons=["answered before the engine restarted"],
            )
        if self.session is None or not self.session.open:
            return  # alarms belong to an open session
        for alarm in state.alarms:
            self.book.restore(alarm)
            if alarm.kind == "technical" and alarm.active:
                self.technical.resume(alarm.condition, alarm.subject or "", alarm.raised_at)
            if alarm.condition == "no_data" and alarm.subject and "/" in alarm.subject:
                device, kind = alarm.subject.rsplit("/", 1)
                if (device, kind) not in self.streams and kind in KIND_LABEL:
                    limit = self.config.no_data_s.for_kind(as_kind(kind)) or 0.0
                    self.streams[(device, kind)] = alarm.raised_at - timedelta(seconds=limit)
