"""Replay: a recording fed through the real engine on the recording's own clock.

The engine is pure, so the same inputs at the same times give the same outputs. A replay
hands it every recorded input (readings, device and gateway status, commands) at its
recorded receive time, and lets time act in between by ticking the engine where the live
engine acted: at every time the recording shows it publishing (a state, an alarm event, an
answer). The live engine ticks more often than that, but a tick that changes nothing
publishes nothing, so these are the only ticks that matter, and every alarm comes back at the
same moment with the same id. A log that holds only inputs has no such times: the replay then
lets time act exactly where the engine says something can change (`Engine.next_deadline`:
a delay ending, a check coming due, a value going stale), so an alarm that time alone
raises comes back at the moment it was due (the live engine, ticking every half second,
raised it up to one tick later), and a quiet stretch of a session costs nothing.

A recording keeps only the chair states that say something new (`thinning`), so through a
quiet stretch it shows few moments where the live engine acted. Under other limits an alarm
that time alone raises may be due at none of them: a replay compared with another
configuration (``--against``) lets time act at the engine's deadlines as well, so that
alarm comes back at the moment it was due. Compared with the recording itself, under
other limits (``--config``), it comes back at the first moment after it was due at which the
live engine acted or an input came.

The engine's recorded outputs are what the replay is compared with, never inputs. A recording
whose first messages are the engine's retained states (a session's lead-in) starts the engine
from them, as the live engine does after a restart.
"""

from __future__ import annotations

import bisect
import gc
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, NamedTuple, cast

from pydantic_core import from_json

from drivers import topics
from drivers.payloads import PayloadDecoder
from drivers.wire import AlarmEvent, ChairState, CommandResult, parse_time
from monitor.access.roles import ROLES, Role
from monitor.engine import Engine, EngineConfig, Message, Output
from monitor.engine.engine import StatesMode

from .wirelog import WireLog, WireRecord

log = logging.getLogger(__name__)

INPUTS = frozenset({"reading", "device_status", "gateway_status", "command"})

Grid = bool | Literal["both"]
"""Where a replay lets time act: see `Replay`."""


class ReplayClock:
    """A clock that follows the recording: ``now`` is wherever the replay stands."""

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        self._now = start
        self._speed = speed

    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        self._speed = value

    @property
    def rate(self) -> float:
        return self._speed

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when


@dataclass(frozen=True, slots=True)
class Problem:
    """A line or message the replay could not use, named so QA can find it."""

    line: int | None
    topic: str | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "message"
        return f"{where}: {self.topic + ': ' if self.topic else ''}{self.reason}"


class Step(NamedTuple):
    """One input, decoded, at its receive time (a named tuple: one per input, made fast)."""

    at: datetime
    chair: str
    message: Message
    record: WireRecord
    is_command: bool = False
    sender: str | None = None
    """A command's sender, as its topic names it."""


@dataclass(slots=True)
class Prepared:
    """A recording sorted into what the replay feeds, what it compares with, and what it
    could not use."""

    steps: list[Step] = field(default_factory=list)
    lead_in: list[ChairState] = field(default_factory=list)
    recorded_alarms: list[AlarmEvent] = field(default_factory=list)
    recorded_results: list[CommandResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    chairs: list[str] = field(default_factory=list)
    engine_times: list[datetime] = field(default_factory=list)
    """When the live engine published something: where a replay ticks it."""
    engine_chairs: dict[datetime, set[str]] = field(default_factory=dict)
    """Which chairs it published something for at each of those times."""
    start: datetime | None = None
    end: datetime | None = None


def recorded_roles(results: list[CommandResult]) -> dict[str, Role] | None:
    """The roles the live engine gave the senders, from its recorded answers: a replay
    judges each command by the directory as it was then, not as it is now. None (no role in
    any answer): the site had no sign-in."""
    roles: dict[str, Role] = {r.by: r.role for r in results if r.by and r.role in ROLES}
    return roles or None


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a recording is decoded.

    Decoding keeps tens of thousands of small models, none of them in a reference cycle;
    the collector's passes over them free nothing and took a sixth of the decoding time
    (`benchmarks/RESULTS-recording.md`). Reference counting still frees whatever is
    dropped, and the collector runs again as soon as decoding ends."""
    if not gc.isenabled():
        yield  # paused already, by whoever paused it: theirs to resume
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def prepare(wire: WireLog) -> Prepared:
    """Decode a recording into what a replay feeds and what it compares with."""
    with _collector_paused():
        return _prepare(wire)


def _prepare(wire: WireLog) -> Prepared:
    out = Prepared(problems=[Problem(b.line, None, b.reason) for b in wire.bad])
    decoder = PayloadDecoder(logging.getLogger(__name__ + ".payloads"))
    chairs: set[str] = set()
    engine_times: dict[datetime, set[str]] = {}
    latest: datetime | None = None
    for record in wire.records:
        when = record.received_at
        if latest is not None and when < latest:
            when = latest  # the recorder's clock stepped back: keep the order, not the step
        latest = when
        if out.start is None:
            out.start = when
        out.end = when
        if out.steps and record.topic.endswith("/state"):
            # The engine's states after the start matter only for when it published them:
            # read just that, and leave the full check to a state that does not read.
            stamp = _state_time(record)
            if stamp is not None:
                engine_times.setdefault(stamp[1], set()).add(stamp[0])
                continue
        decoder.last_error = None
        inbound = decoder.decode(record.topic, record.payload)
        if inbound is None:
            error = (decoder.last_error or "").removeprefix(record.topic + ": ")
            reason = error or record.invalid or "empty payload"
            out.problems.append(Problem(record.line, record.topic, reason))
            continue
        chair = inbound.topic.chair
        if chair is not None:
            chairs.add(chair)
        payload = inbound.payload
        if inbound.topic.type in INPUTS and chair is not None:
            out.steps.append(
                Step(when, chair, cast(Message, payload), record, inbound.topic.type == "command",
                     inbound.topic.user)
            )
        elif isinstance(payload, ChairState):
            if not out.steps:
                out.lead_in.append(payload)
            else:
                engine_times.setdefault(payload.at, set()).add(payload.chair)
        elif isinstance(payload, AlarmEvent):
            out.recorded_alarms.append(payload)
            engine_times.setdefault(payload.at, set()).add(payload.chair)
        elif isinstance(payload, CommandResult):
            out.recorded_results.append(payload)
            engine_times.setdefault(payload.at, set()).add(payload.chair)
    out.chairs = sorted(chairs)
    out.engine_times = sorted(engine_times)
    out.engine_chairs = engine_times
    if out.steps and not out.lead_in:
        out.start = out.steps[0].at  # nothing to show before the first input
    return out


def _state_time(record: WireRecord) -> tuple[str, datetime] | None:
    """The chair and time of a recorded ChairState, cheaply; None if it does not read."""
    try:
        chair = topics.parse(record.topic).chair
        obj = from_json(record.payload)
        when = parse_time(obj["at"])
    except (topics.TopicError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if chair is None or obj.get("chair") != chair or when.tzinfo is None:
        return None
    return chair, when


class Replay:
    """A recording, replayable: forward step by step, or to any time (backwards by
    starting again, which is exact because the engine is deterministic)."""

    def __init__(
        self,
        wire: WireLog | Prepared,
        config: EngineConfig,
        *,
        grid: Grid | None = None,
        states: StatesMode = True,
    ) -> None:
        """``grid``: let time act where the engine's deadlines fall (True), only where the
        live engine acted (False), at both (``"both"``: a replay under other limits, whose
        alarms time raises are due where the live engine did nothing), or where the live
        engine acted when the recording shows it and at the deadlines when not (None).
        ``states=False``: outputs are alarm events and answers only, several times faster
        (``seek`` still gives the states at any moment); ``"changes"``: a state only where
        something besides the latest values changed."""
        self.prepared = wire if isinstance(wire, Prepared) else prepare(wire)
        self.config = config
        self.states = states
        self.grid = not self.prepared.engine_times if grid is None else grid
        start = self.prepared.start or datetime(1970, 1, 1, tzinfo=UTC)
        self.start = start
        self.end = self.prepared.end or start
        self.clock = ReplayClock(start)
        self._alarm_times: list[datetime] | None = None
        self.reset()

    @property
    def problems(self) -> list[Problem]:
        return self.prepared.problems

    def reset(self) -> None:
        self.engine = Engine(self.config, publish_states=self.states)
        self.engine.roles = recorded_roles(self.prepared.recorded_results)
        for chair in self.prepared.chairs:
            self.engine.ensure_chair(chair)
        latest: dict[str, ChairState] = {}
        for state in self.prepared.lead_in:
            latest[state.chair] = state
        if latest:
            self.engine.restore(latest.values(), self.start)
        self._next = 0
        self._seen_commands: set[str] = set()
        self.clock.set(self.start)

    @property
    def now(self) -> datetime:
        return self.clock.now()

    @property
    def finished(self) -> bool:
        return self._next >= len(self.prepared.steps) and self.now >= self.end

    def advance(self, until: datetime) -> list[Output]:
        """Run from where the replay stands to ``until``; return the engine's outputs."""
        out: list[Output] = []
        steps = self.prepared.steps
        now = self.now
        while True:
            upcoming = steps[self._next].at if self._next < len(steps) else None
            if upcoming is None or upcoming > until:
                out += self._time_acts(now, until, inclusive=True)
                break
            out += self._time_acts(now, upcoming, inclusive=False)
            now = upcoming
            handled: set[str] = set()
            while self._next < len(steps) and steps[self._next].at == upcoming:
                step = steps[self._next]
                self._next += 1
                if step.is_command:
                    # The live service drops a redelivered command before the engine sees it.
                    ident = getattr(step.message, "id", "")
                    if ident in self._seen_commands:
                        continue
                    self._seen_commands.add(ident)
                out += self.engine.handle(step.chair, step.message, upcoming, step.sender)
                handled.add(step.chair)
            if self._tick_after_inputs(upcoming, handled):
                out += self.engine.tick(upcoming)
        self.clock.set(max(self.now, until))
        return out

    def _time_acts(self, after: datetime, upto: datetime, *, inclusive: bool) -> list[Output]:
        """Tick the engine after ``after`` and before ``upto`` (or up to it, ``inclusive``).

        Inputs at a moment come before a tick at that moment: the live service handles a
        message as it arrives, and a tick can only act on what it has."""
        out: list[Output] = []
        times = self.prepared.engine_times
        if not self.grid:
            side = bisect.bisect_right if inclusive else bisect.bisect_left
            for tick in times[bisect.bisect_right(times, after):side(times, upto)]:
                out += self.engine.tick(tick)
            return out
        engine = self.engine
        live = bisect.bisect_right(times, after) if self.grid == "both" else len(times)
        while True:
            # After a tick at t every chair's deadline lies beyond t, so this ends.
            due = engine.next_deadline()
            while live < len(times) and times[live] <= after:
                live += 1
            if live < len(times) and (due is None or times[live] < due):
                due = times[live]
            if due is None or due > upto or (not inclusive and due == upto):
                return out
            after = max(after, due)
            out += engine.tick(after)

    def _tick_after_inputs(self, when: datetime, handled: set[str]) -> bool:
        """Whether to tick at ``when`` after handling inputs of ``handled`` chairs then.

        Handling a message already let time act on its chair at that moment, so a tick
        then matters only for the other chairs, and only where the live engine ticked (or,
        with no record of that, where a deadline falls)."""
        if len(handled) == len(self.prepared.chairs):
            return False  # every chair was handled (chairs are those of the inputs)
        if self.grid:
            deadline = self.engine.next_deadline()
            if deadline is not None and deadline <= when:
                return True
            if self.grid is True:
                return False
        return bool(self.prepared.engine_chairs.get(when, set()) - handled)

    def run(self) -> list[Output]:
        """Replay everything from the start."""
        self.reset()
        return self.advance(self.end)

    def seek(self, when: datetime) -> list[ChairState]:
        """Stand at ``when`` (bounded by the recording); return every chair's state there."""
        when = min(max(when, self.start), self.end)
        if when < self.now:
            self.reset()
        self.advance(when)
        return self.engine.states(when)

    def alarm_times(self) -> list[datetime]:
        """When alarms are raised or escalated in this replay (for "next alarm")."""
        if self._alarm_times is None:
            other = Replay(self.prepared, self.config, grid=self.grid, states=False)
            self._alarm_times = sorted({
                o.at for o in other.run()
                if isinstance(o, AlarmEvent) and o.event in ("raised", "escalated")
            })
        return self._alarm_times

    def next_alarm(self, after: datetime) -> datetime | None:
        for when in self.alarm_times():
            if when > after:
                return when
        return None


def with_engine_outputs(
    records: list[WireRecord], config: EngineConfig, site: str
) -> list[WireRecord]:
    """A log of inputs made whole: after each input, what the engine publishes in answer, as
    the recorder would have kept it (for building recordings without a broker)."""
    replay = Replay(WireLog(list(records)), config)
    out: list[WireRecord] = []
    for record in records:
        out.append(record)
        for o in replay.advance(record.received_at):
            out.append(WireRecord(topics.engine_output(site, o), max(o.at, record.received_at),
                                  o.to_json()))
    return out


# -- the alarm timeline ---------------------------------------------------------------------

AlarmKey = tuple[str, str, str, str, datetime]


def alarm_key(event: AlarmEvent) -> AlarmKey:
    return (event.chair, event.condition, event.event, event.priority, event.at)


def alarm_events(outputs: Iterable[Output]) -> list[AlarmEvent]:
    return [o for o in outputs if isinstance(o, AlarmEvent)]


@dataclass(frozen=True, slots=True)
class Difference:
    only_recorded: list[AlarmEvent]
    only_replayed: list[AlarmEvent]
    brief: list[AlarmEvent] = field(default_factory=list)
    """Technical alarms that one run alone raised and cleared within the tolerance: a
    silence that one run's timing saw pass its limit and the other's did not."""

    @property
    def same(self) -> bool:
        return not self.only_recorded and not self.only_replayed


COMPARE_TOLERANCE_S = 1.0
"""How far apart, in wall seconds, two runs' times for the same alarm event may be and still
count as one.

The recorder and the engine are separate subscribers, each stamping a message with its own
receive time, and the replay hands the engine each input at the recorder's time; the live
engine ticks every half second and its states, which show the replay where it acted, are
coalesced to one per quarter second. An alarm can therefore come back up to that much
earlier or later. On a simulated clock that runs ``clock_rate`` times faster than the wall
(the recorded event says), the same wall time is that many times more clock time."""


def compare(
    recorded: Iterable[AlarmEvent],
    replayed: Iterable[AlarmEvent],
    tolerance_s: float = COMPARE_TOLERANCE_S,
) -> Difference:
    """Which alarm events one run had and the other did not: the same chair, condition,
    event and priority, at times no more than ``tolerance_s`` wall seconds apart, count as
    one (ids and message texts may differ between configurations)."""
    baseline = list(recorded)
    pending: dict[tuple[str, str, str, str], list[AlarmEvent]] = {}
    for event in sorted(replayed, key=_order):
        pending.setdefault(alarm_key(event)[:4], []).append(event)
    only_recorded: list[AlarmEvent] = []
    for event in sorted(baseline, key=_order):
        candidates = pending.get(alarm_key(event)[:4], [])
        window = tolerance_s * max(1.0, event.clock_rate)
        match = next((c for c in candidates
                      if abs((c.at - event.at).total_seconds()) <= window), None)
        if match is None:
            only_recorded.append(event)
        else:
            candidates.remove(match)
    only_replayed = sorted((e for group in pending.values() for e in group), key=_order)
    brief = (_brief(only_recorded, tolerance_s, baseline)
             + _brief(only_replayed, tolerance_s, baseline))
    return Difference([e for e in only_recorded if e not in brief],
                      [e for e in only_replayed if e not in brief], sorted(brief, key=_order))


def _brief(unmatched: list[AlarmEvent], tolerance_s: float,
           rates: list[AlarmEvent]) -> list[AlarmEvent]:
    """The events of technical alarms raised and cleared, both unmatched, no more than the
    tolerance apart. Such an alarm lived only inside the timing the two runs cannot tell
    apart (a reading that ended a silence just past its limit reached the engine and the
    recorder at different moments); a clinical alarm, or a longer one, is never brief."""
    by_alarm: dict[str, list[AlarmEvent]] = {}
    for event in unmatched:
        by_alarm.setdefault(event.alarm_id, []).append(event)
    brief: list[AlarmEvent] = []
    for events in by_alarm.values():
        raised = [e for e in events if e.event == "raised"]
        cleared = [e for e in events if e.event == "cleared"]
        if len(raised) != 1 or len(cleared) != 1 or raised[0].kind != "technical":
            continue
        # A replay's own events run on its own clock: the recorded event nearest in time
        # says how fast the recorded run's clock went then.
        nearest = min(rates, default=raised[0],
                      key=lambda e: abs((e.at - raised[0].at).total_seconds()))
        window = tolerance_s * max(1.0, nearest.clock_rate, raised[0].clock_rate)
        if timedelta(0) <= cleared[0].at - raised[0].at <= timedelta(seconds=window):
            brief += events
    return brief


def _order(event: AlarmEvent) -> tuple[datetime, str, str, str]:
    return (event.at, event.chair, event.condition, event.event)


def timeline_line(event: AlarmEvent) -> str:
    """``2026-01-05 09:41:00.000 chair-1 raised high bp_high: SYS 186 >= 180 mmHg``"""
    when = event.at.strftime("%Y-%m-%d %H:%M:%S.") + f"{event.at.microsecond // 1000:03d}"
    by = f" by {event.by}" if event.by else ""
    return (f"{when} {event.chair} {event.event} {event.priority} {event.condition}{by}: "
            f"{event.message}")
