"""Everything the engine knows about one chair, and the evaluation that turns it into alarms.

Alarms belong to an open session: a chair without a patient shows its devices and values but
alarms for nobody. Evaluation is a pure function of what the chair holds and ``now``, so a
condition is judged the same way whichever brought it about. It is also incremental: the
chair knows the next moment time alone can change anything (``deadline``), so a reading
before then is judged only for what it touched (its parameters' rules and its stream's
silence), and a tick before then has nothing to do. The wire form (``ChairState``) is built
only when a state is published or asked for.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from drivers.wire import (
    AlarmEvent,
    AnsweredCommand,
    AnsweredCommands,
    ChairState,
    CommandResult,
    DeviceState,
    DeviceStatus,
    DischargeReadiness,
    GatewayStatus,
    Kind,
    ObservationClock,
    Phase,
    Reading,
)

from . import checks as bp_checks
from . import discharge
from .alarms import AlarmBook
from .config import OPEN_PHASES, AlarmRule, EngineConfig, RulePhase
from .deadlines import beyond, soonest, span
from .discharge import readiness
from .readings import (
    MANUAL_DEVICE,
    BpSample,
    Sample,
    Shown,
    effective_time,
    parameters,
    parameters_of,
    value_time,
)
from .rules import RuleSet, RuleState, applies, quiet
from .rules import evaluate as evaluate_rules
from .session import Session
from .technical import KIND_LABEL, Equipment, TechnicalConditions

_SEEN_READINGS = 1024
_KEPT_RESULTS = 1024
_RETAINED_ANSWERS = 32
"""Answered commands carried in the retained `AnsweredCommands`: enough to recognise the
redeliveries a restart can bring (the broker redelivers only what was in flight)."""

Signature = tuple[object, ...]
_STREAM_PARAMETERS: dict[str, Kind] = {"spo2": "spo2", "heart_rate": "heart_rate"}
"""Rule parameters that a stream carries, and their kind: they go stale with no data."""


def _sooner(deadline: datetime | None, last: datetime, limit: float) -> datetime | None:
    """``deadline``, or the moment ``last`` goes stale after ``limit`` seconds if sooner."""
    if deadline is not None and last + span(limit) >= deadline:
        return deadline  # stale no sooner than the deadline already is (to the microsecond)
    return beyond(last, limit)


class Touched(NamedTuple):
    """What taking one reading changed, for judging only that."""

    params: frozenset[str]
    stream: tuple[str, str] | None
    bp: bool
    """A blood pressure for the session (checks, baseline and readiness follow it)."""


class Chair:
    """One chair: its latest values, devices, session, alarms and answered commands."""

    def __init__(self, chair: str, config: EngineConfig) -> None:
        self.id = chair
        self.config = config
        self.latest: dict[str, Shown] = {}
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
        self.stale_after = self.technical.stale_after
        self.results: OrderedDict[str, CommandResult] = OrderedDict()
        self._seen: deque[str] = deque()
        self._seen_set: set[str] = set()
        self.published_at: datetime | None = None
        self.last_state: ChairState | None = None
        self.pending = False
        """Something changed since the last state was published."""
        self.input_at: datetime | None = None
        """When the last input was handled."""
        self.deadline: datetime | None = None
        """The first moment time alone can change what the chair says (None: nothing waits
        on time); an input that might change it moves it to that input's moment."""
        self._checks: tuple[datetime, list[tuple[bp_checks.Slot, bp_checks.Check]]] | None = None
        """The checks and when they were computed: the same until ``deadline`` or a change."""
        self._rule_index: dict[tuple[frozenset[str], RulePhase, str], RuleSet] = {}

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

    def take_reading(self, reading: Reading, now: datetime) -> Touched:
        self.pending = True
        at, skewed = effective_time(reading.measured_at, reading.received_at,
                                    self.config.clock_skew_s)
        current = self.latest.get(reading.kind)
        if current is None or current.at <= at:
            self.latest[reading.kind] = Shown(reading.id, at, reading, skewed)
        if reading.quality == "invalid":
            return Touched(frozenset(), None, False)
        valid = reading.quality == "valid"
        key = (reading.device, reading.kind)
        self.streams[key] = max(self.streams.get(key, at), at)
        values = parameters(reading)
        touched = self.set_params(values, at, reading.id, valid)
        sys_, dia = values.get("systolic"), values.get("diastolic")
        bp = False
        if sys_ is not None and dia is not None and self.session is not None and self.open:
            self.session.add_bp(BpSample(at, sys_, dia, reading.id, valid))
            self._checks = None
            bp = True
        return Touched(touched, key, bp)

    def set_params(self, values: dict[str, float], at: datetime, reading_id: str,
                   valid: bool) -> frozenset[str]:
        """Take a reading's parameters where they are newest; return those it set."""
        changed: list[str] = []
        for name, value in values.items():
            current = self.params.get(name)
            if current is None or current.at <= at:
                self.params[name] = Sample(value, at, reading_id, valid)
                changed.append(name)
        return frozenset(changed)

    def take_device_status(self, status: DeviceStatus) -> None:
        self.pending = True
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
        self.pending = True
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
        self._checks = None
        self.rule_states.clear()
        self.technical.begin()
        fresh = {}
        for (device, kind), last in self.streams.items():
            limit = self.stale_after[kind]
            if limit is None or (now - last).total_seconds() <= limit:
                fresh[(device, kind)] = last
        self.streams = fresh
        # A blood pressure taken before this session may be the last patient's.
        for name in ("systolic", "diastolic"):
            sample = self.params.get(name)
            if sample is not None and sample.at < session.started_at:
                del self.params[name]

    def forget_evaluation(self, now: datetime) -> None:
        """Something is about to change (a command): the checks computed last are no longer
        current, and everything is judged again at ``now``."""
        self._checks = None
        self.pending = True
        self.deadline = now

    def remember(self, result: CommandResult) -> None:
        self.results[result.id] = result
        if len(self.results) > _KEPT_RESULTS:
            self.results.popitem(last=False)

    # --- where it is --------------------------------------------------------------------

    @property
    def open(self) -> bool:
        return self.session is not None and self.session.open

    def rule_phase(self) -> RulePhase | None:
        """The session's phase where rules judge it (an open session's); else None."""
        session = self.session
        if session is None:
            return None
        phase = session.phase
        return phase if phase in OPEN_PHASES else None

    def checks(self, now: datetime) -> list[bp_checks.Check]:
        return [check for _, check in self._slots(now)]

    def _slots(self, now: datetime) -> list[tuple[bp_checks.Slot, bp_checks.Check]]:
        """The checks at ``now``: those computed last while time has not changed them."""
        if self.session is None:
            return []
        cached = self._checks
        if cached is not None and cached[0] <= now and (
                self.deadline is None or now < self.deadline):
            return cached[1]
        return bp_checks.evaluate(self.session, now)

    def readiness(self, now: datetime,
                  checks: list[bp_checks.Check] | None = None) -> DischargeReadiness:
        blocking = [a.view() for a in self.book.alarms.values() if a.blocks_discharge]
        blocking.sort(key=lambda a: (a.raised_at, a.alarm_id))
        return readiness(self.session, self.checks(now) if checks is None else checks,
                         blocking, now)

    # --- evaluation ---------------------------------------------------------------------

    def due(self, now: datetime) -> bool:
        """Whether time has reached the moment something can change by itself."""
        return self.deadline is not None and now >= self.deadline

    def evaluate(self, now: datetime) -> list[AlarmEvent]:
        """Bring every alarm in line with what holds at ``now``."""
        events = self._evaluate(now)
        if events:
            self.pending = True
        self.deadline = self.next_change(now)
        return events

    def _evaluate(self, now: datetime) -> list[AlarmEvent]:
        session = self.session
        phase = self.rule_phase()
        if session is None or phase is None:
            self._checks = None
            if self.book.expire_pause(now):
                self.pending = True
            return []
        events = self._physiological(session, phase, now, self.config.rules)
        events += self.technical.evaluate(self.equipment(), session.protocol_name,
                                          session.protocol.requires_spo2, phase, now)
        slots = bp_checks.evaluate(session, now)
        self._checks = (now, slots)
        events += self.technical.reminders(slots, now)
        events += self.book.escalate(now, self.config.escalation_s)
        if self.book.expire_pause(now):
            self.pending = True
        return events

    def evaluate_reading(self, touched: Touched, now: datetime) -> list[AlarmEvent]:
        """Judge a reading just taken: only what it touched, unless time has acted since the
        last evaluation or the reading changes what everything else depends on."""
        session = self.session
        phase = self.rule_phase()
        deadline = self.deadline
        if (deadline is not None and now >= deadline) or touched.bp or session is None \
                or phase is None:
            return self.evaluate(now)
        events: list[AlarmEvent] = []
        if touched.params:
            ruleset = self._rules_for(touched.params, phase, session.protocol_name)
            if ruleset.rules and not quiet(ruleset, self.rule_states, self.params,
                                                self.book.alarms):
                events = self._physiological(session, phase, now, ruleset.rules,
                                             ruleset.rises)
        spo2 = self.params.get("spo2")
        technical = self.technical.fresh_stream(self.streams, None if spo2 is None else spo2.at,
                                                touched.stream, session.protocol.requires_spo2,
                                                phase, now)
        if technical is None:
            return events + self._rest(session, phase, self.equipment(), now)
        events += technical
        if events:
            events += self.book.escalate(now, self.config.escalation_s)
            self.pending = True
            self.deadline = self.next_change(now)
            return events
        # Only the touched values' own staleness can have moved the deadline, and not
        # earlier than it was for them before; a stream seen for the first time is new.
        limits = self.stale_after
        if touched.stream is not None:
            limit = limits[touched.stream[1]]
            if limit is not None:
                deadline = _sooner(deadline, self.streams[touched.stream], limit)
        for name in touched.params:
            kind = _STREAM_PARAMETERS.get(name)
            limit = limits[kind] if kind else None
            if limit is not None:
                deadline = _sooner(deadline, self.params[name].at, limit)
        self.deadline = deadline
        return events

    def _rest(self, session: Session, phase: RulePhase, equipment: Equipment,
              now: datetime) -> list[AlarmEvent]:
        """The rest of a full evaluation after the physiological rules a reading touched
        (the others cannot have changed): every technical condition, checks, escalation."""
        events = self.technical.evaluate(equipment, session.protocol_name,
                                         session.protocol.requires_spo2, phase, now)
        slots = bp_checks.evaluate(session, now)
        self._checks = (now, slots)
        events += self.technical.reminders(slots, now)
        events += self.book.escalate(now, self.config.escalation_s)
        if self.book.expire_pause(now):
            self.pending = True
        if events:
            self.pending = True
        self.deadline = self.next_change(now)
        return events

    def _rules_for(self, params: frozenset[str], phase: RulePhase, protocol: str) -> RuleSet:
        """Every rule of every alarm condition that judges one of ``params`` (a condition's
        rules are judged together) and applies in ``phase``, in the configuration's order.
        (A rule that does not apply was reset when the phase or protocol changed, by a
        command judged completely.)"""
        key = (params, phase, protocol)
        found = self._rule_index.get(key)
        if found is None:
            judged = params | {f"{p}_rise" for p in params}
            conditions = {r.condition for r in self.config.rules
                          if any(limit.parameter in judged for limit in r.any_of)}
            found = self._rule_index[key] = RuleSet.of(
                r for r in self.config.rules
                if r.condition in conditions and applies(r, phase, protocol))
        return found

    def next_change(self, now: datetime) -> datetime | None:
        """The first moment after ``now`` at which time alone can change an alarm, a check,
        readiness or the audio pause."""
        found: list[datetime | None] = [self.book.audio_paused_until]
        session = self.session
        if session is not None and session.open:
            for name, kind in _STREAM_PARAMETERS.items():
                sample = self.params.get(name)
                limit = self.stale_after[kind]
                if sample is not None and limit is not None:
                    found.append(beyond(sample.at, limit))
            found.append(self.technical.next_change(self.equipment(), now))
            cached = self._checks
            slots = cached[1] if cached is not None and cached[0] == now else \
                bp_checks.evaluate(session, now)
            found.append(bp_checks.next_change(session, slots, now))
            found.append(discharge.next_change(session, now))
            found.append(self.book.next_escalation(self.config.escalation_s))
        return soonest(found, now)

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

    def _physiological(self, session: Session, phase: RulePhase, now: datetime,
                       rules: Iterable[AlarmRule], rises: bool = True) -> list[AlarmEvent]:
        events: list[AlarmEvent] = []
        results = evaluate_rules(rules, self.rule_states, self.params,
                                 session.baseline if rises else None, phase,
                                 session.protocol_name, now,
                                 self.config.no_data_s)
        for condition, result in results.items():
            if result.fired is not None:
                events += self.book.holds(
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
            latest={kind: value.wire(now) for kind, value in sorted(self.latest.items())},
            observation=observation, bp_checks=[c.wire() for c in checks],
            alarms=self.book.views(),
            discharge=ready, devices=dict(sorted(self.devices.items())),
            unreadable=self.unreadable_view(),
            audio_paused_until=paused,
        )

    def answers(self, now: datetime) -> AnsweredCommands:
        """The latest commands answered, for the retained topic that outlives a restart."""
        latest = list(self.results.values())[-_RETAINED_ANSWERS:]
        return AnsweredCommands(chair=self.id, at=now, answered=[
            AnsweredCommand(id=r.id, type=r.type, accepted=r.accepted, at=r.at)
            for r in latest
        ])

    def unreadable_view(self) -> dict[Kind, str]:
        """Per vital, which devices send it unreadable and why (devices in name order)."""
        out: dict[Kind, list[str]] = {}
        for device, kinds in sorted(self.unreadable.items()):
            for kind, reason in kinds.items():
                out.setdefault(kind, []).append(f"{device}: {reason}")
        return {kind: "; ".join(texts) for kind, texts in sorted(out.items())}

    @staticmethod
    def signature_of(state: ChairState, latest: bool = True) -> Signature:
        """What a state says, without the numbers that only age with time (and without the
        latest values, unless ``latest``)."""
        return (
            state.session,
            tuple((kind, v.reading_id) for kind, v in state.latest.items()) if latest else (),
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
        self.pending = False

    def changed(self, state: ChairState, latest: bool = True) -> bool:
        """Whether ``state`` says something the last published one did not (besides its
        latest values, unless ``latest``)."""
        last = self.last_state
        return last is None or self.signature_of(state, latest) != self.signature_of(last,
                                                                                     latest)

    # --- restart ------------------------------------------------------------------------

    def restore_answers(self, answers: AnsweredCommands) -> None:
        """Take back the commands answered before a restart: delivered again, each gets its
        first answer, not a second application."""
        for answer in answers.answered:
            if answer.id not in self.results:
                self.remember(CommandResult(
                    id=answer.id, chair=self.id, type=answer.type, accepted=answer.accepted,
                    at=answer.at, reasons=["answered before the engine restarted"],
                ))

    def restore(self, state: ChairState, now: datetime) -> None:
        """Take back a retained state after a restart, so no alarm is raised twice."""
        self.pending = True
        self.deadline = now
        self._checks = None
        self.latest = {kind: Shown.of(value) for kind, value in state.latest.items()}
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
        if self.session is None or not self.session.open:
            return  # alarms belong to an open session
        for alarm in state.alarms:
            self.book.restore(alarm)
            if alarm.kind == "technical" and alarm.active:
                self.technical.resume(alarm.condition, alarm.subject or "", alarm.raised_at)
            if alarm.condition == "no_data" and alarm.subject and "/" in alarm.subject:
                device, kind = alarm.subject.rsplit("/", 1)
                if (device, kind) not in self.streams and kind in KIND_LABEL:
                    limit = self.stale_after[kind] or 0.0
                    self.streams[(device, kind)] = alarm.raised_at - timedelta(seconds=limit)
