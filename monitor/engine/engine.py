"""The session engine: messages and time in, chair states, alarm events and answers out.

It keeps no clock and does no I/O: ``now`` is passed in (the wall clock live, an accelerated
clock in the demo, the recording's time in replay), and its outputs depend only on its
inputs. Replaying a recording therefore reproduces every alarm at the same moment and with
the same ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Literal

from drivers.wire import (
    AckAlarm,
    AlarmEvent,
    AnsweredCommands,
    Assessment,
    ChairState,
    CommandResult,
    DeviceStatus,
    Discharge,
    DoseGiven,
    EndSession,
    GatewayStatus,
    InfusionEnd,
    ManualBp,
    PauseAudio,
    Reading,
    StartSession,
    Symptoms,
)
from monitor.access.roles import Role

from . import commands
from .chair import Chair
from .config import EngineConfig

Output = ChairState | AlarmEvent | CommandResult
Message = (
    Reading
    | DeviceStatus
    | GatewayStatus
    | StartSession
    | DoseGiven
    | InfusionEnd
    | ManualBp
    | Assessment
    | AckAlarm
    | PauseAudio
    | Discharge
    | EndSession
    | Symptoms
)
NOT_RECOVERED = "state_not_recovered"
"""The technical condition of a chair whose state a restarted engine could not take back."""

StatesMode = bool | Literal["deferred", "changes"]
"""When the engine builds chair states: True with every input and on ticks (a state per
input); ``"deferred"`` on ticks and on asking (an input marks its chair, and
`Engine.pending_states` builds its state as it stood after that input: the live service,
which publishes the newest per chair anyway); ``"changes"`` only when something besides the
latest values changed (a report); False never (``states`` still gives them)."""

_COMMANDS = (StartSession, DoseGiven, InfusionEnd, ManualBp, Assessment, AckAlarm, PauseAudio,
             Discharge, EndSession, Symptoms)


class Engine:
    """Every chair's session, alarms, observation clock and discharge readiness."""

    def __init__(self, config: EngineConfig, *, publish_states: StatesMode = True,
                 incremental: bool = True) -> None:
        """``publish_states``: see `StatesMode`; building a chair's complete state costs
        more than judging an input, so only what is published is built.
        ``incremental=False`` judges every chair completely on every input and tick, as
        the engine once did: the reference the incremental engine is tested against."""
        self.config = config
        self.publish_states = publish_states
        self.incremental = incremental
        self.roles: Mapping[str, Role] | None = None
        """The site's enabled users and their roles; None on a site without sign-in."""
        self._chairs: dict[str, Chair] = {}
        self._marked: set[str] = set()
        """Chairs an input, a restore or a tick may have left pending since the last
        `pending_states`: only these are looked at there, not every chair per input."""

    def ensure_chair(self, chair: str) -> None:
        """Make a chair known, so the overview shows it before its first reading."""
        self._chair(chair)

    def handle(
        self, chair: str, message: Message, now: datetime, sender: str | None = None
    ) -> list[Output]:
        """Take one message for ``chair`` (the chair of its topic) at ``now``; for a command,
        ``sender`` is the user its topic names.

        Returns the alarm events it caused, the command's result for a command, and the
        chair's complete new state. A redelivered reading or command (same id) changes
        nothing; a repeated command gets its first answer again.
        """
        c = self._chair(chair)
        out: list[Output] = []
        judged = True  # everything was judged, not only what a reading touched
        if isinstance(message, Reading):
            if c.seen(message.id):
                return []
            touched = c.take_reading(message, now)
            if self.incremental:
                judged = c.due(now) or touched.bp
                events = c.evaluate_reading(touched, now)
            else:
                events = c.evaluate(now)
            out.extend(events)
            judged = judged or bool(events)
        elif isinstance(message, _COMMANDS):
            earlier = c.results.get(message.id)
            if earlier is not None:
                return [earlier]
            result, events = commands.apply(c, message, now, sender=sender, roles=self.roles)
            c.remember(result)
            out.extend(events)
            out.extend(c.evaluate(now))
            out.append(result)
        elif isinstance(message, DeviceStatus):
            c.take_device_status(message)
            out.extend(c.evaluate(now))
        elif isinstance(message, GatewayStatus):
            c.take_gateway_status(message, now)
            out.extend(c.evaluate(now))
        else:  # pragma: no cover - the type says it cannot happen
            raise TypeError(f"the engine does not take {type(message).__name__}")
        c.input_at = now
        self._marked.add(chair)
        mode = self.publish_states
        if mode is True:
            state = c.view(now)
            c.published(state)
            out.append(state)
        elif mode == "changes" and judged:
            state = c.view(now)
            if c.changed(state, latest=False):
                c.published(state)
                out.append(state)
        return out

    def tick(self, now: datetime) -> list[Output]:
        """Let time act: delays, checks coming due or missed, escalation, silence, readiness.

        Only chairs whose deadline has come are judged (nothing else can have changed by
        time alone). A chair's state is sent when something in it changed, and at least
        every ``state_interval_s`` as a heartbeat (a screen can tell a live engine from a
        dead one).
        """
        out: list[Output] = []
        interval = timedelta(seconds=self.config.state_interval_s)
        mode = self.publish_states
        for name in sorted(self._chairs):
            c = self._chairs[name]
            judged = not self.incremental or c.due(now)
            events = c.evaluate(now) if judged else []
            if c.pending:
                self._marked.add(name)  # pending_states sees it, if not published here
            if mode is False:
                out.extend(events)
                continue
            if mode == "changes":
                if events or judged:
                    state = c.view(now)
                    if c.changed(state, latest=False):
                        c.published(state)
                        out.extend(events)
                        out.append(state)
                        continue
                out.extend(events)
                continue
            due = c.published_at is None or now - c.published_at >= interval
            if not (events or due or judged or c.pending):
                continue
            state = c.view(now)
            # An input always shows (in deferred mode its state is published here).
            if events or due or c.pending or c.changed(state):
                out.extend(events)
                out.append(state)
                c.published(state)
        return out

    def pending_states(self) -> list[ChairState]:
        """Every chair's state that shows inputs no published state has shown yet, as it
        stood after the last of them (``"deferred"``: what a coalescing publisher sends)."""
        out: list[ChairState] = []
        marked, self._marked = self._marked, set()
        for name in sorted(marked):
            c = self._chairs[name]
            if c.pending and c.input_at is not None:
                state = c.view(c.input_at)
                c.published(state)
                out.append(state)
        return out

    def state_pending(self, chair: str) -> bool:
        """Whether ``chair`` had inputs that no state built so far shows (``"deferred"``)."""
        c = self._chairs.get(chair)
        return c is not None and c.pending

    def next_deadline(self) -> datetime | None:
        """The first moment time alone can change any chair (None: none waits on time): a
        replay ticks there, rather than on a grid."""
        found: datetime | None = None
        for c in self._chairs.values():
            d = c.deadline
            if d is not None and (found is None or d < found):
                found = d
        return found

    def answers(self, chair: str, now: datetime) -> AnsweredCommands:
        """The latest commands answered for ``chair`` (retained by the engine service)."""
        return self._chair(chair).answers(now)

    def states(self, now: datetime) -> list[ChairState]:
        """The present state of every known chair, in chair order (changes nothing)."""
        return [self._chairs[name].view(now) for name in sorted(self._chairs)]

    def restore(self, states: Iterable[ChairState], now: datetime,
                answered: Iterable[AnsweredCommands] = ()) -> list[Output]:
        """Take back open sessions from retained states after a restart, and the commands
        answered (``answered``), so that one delivered again is not applied twice.

        Alarms come back with their ids, acknowledgements and escalation, so a condition
        that still holds is not raised again. A session whose protocol is no longer
        configured cannot be judged and is not restored: its chair says so (see
        `not_recovered`). Returns what that raised.
        """
        out: list[Output] = []
        for answers in answered:
            self._chair(answers.chair).restore_answers(answers)
        for state in states:
            self._chair(state.chair).restore(state, now)
            self._marked.add(state.chair)
            session = state.session
            if session is not None and session.phase not in ("discharged", "ended") \
                    and session.protocol not in self.config.protocols:
                out += self.not_recovered(
                    state.chair, f"its session's protocol {session.protocol!r} is no longer "
                    "configured", now)
        return out

    def not_recovered(self, chair: str, why: str, now: datetime) -> list[Output]:
        """A chair whose state from before a restart could not be taken back.

        A session may have been open there, and nothing watches it now: the chair must not
        look idle. Every screen shows a high-priority technical alarm, latched until someone
        acknowledges it (a distributed alarm system signals its own failure, IEC 60601-1-8
        6.11), and the nurse starts the session again.
        """
        c = self._chair(chair)
        message = (f"the engine restarted and could not recover this chair ({why}): a session "
                   "may be open and unmonitored; check the patient and start it again")
        events: list[Output] = []
        events += c.book.holds(now, NOT_RECOVERED, "technical", "high", message,
                                 latching=True)
        events += c.book.release(now, NOT_RECOVERED)
        c.forget_evaluation(now)
        self._marked.add(chair)
        return [*events, c.view(now)]

    @property
    def chairs(self) -> list[str]:
        return sorted(self._chairs)

    def _chair(self, chair: str) -> Chair:
        c = self._chairs.get(chair)
        if c is None:
            c = self._chairs[chair] = Chair(chair, self.config)
        return c
