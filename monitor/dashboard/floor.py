"""The floor as a dashboard knows it: the newest state of every chair, each chair's trends,
the commands sent and their answers, the engine's status and the link to the broker, and the
rules a screen follows about them (when monitoring counts as offline, when a site watched
from the regional broker counts as unreachable, when the bell rings, which commands have
waited too long for an answer, what flashes, which chairs are alarming).

Pure: no UI, no network, no event loop. Time comes from the injected clock, read when asked,
so the tests drive every rule on a fake one; the screens only show what this holds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Protocol

from drivers.wire import ChairState, CommandBase, CommandResult, EngineStatus
from monitor.localtime import clock_time

from .format import urgency
from .history import ChairHistory

RESULTS_KEPT = 10
FLASHING = frozenset({"high", "medium"})
"""Priorities whose alarm flashes (low stays steady)."""


class Clock(Protocol):
    """Where ``now`` comes from, and how many clock seconds pass per wall second."""

    @property
    def rate(self) -> float: ...

    def now(self) -> datetime: ...


class Rules(Protocol):
    """The dashboard settings the floor's rules read (`DashboardSettings` has them)."""

    @property
    def offline_after_s(self) -> float: ...

    @property
    def bell(self) -> bool: ...

    @property
    def bell_repeat_s(self) -> float: ...

    @property
    def answer_timeout_s(self) -> float: ...


def chair_key(chair: str) -> str:
    """chair-2 before chair-10."""
    head, _, tail = chair.rpartition("-")
    return f"{head}-{int(tail):06d}" if tail.isdigit() else chair


def command_type(command: CommandBase) -> str:
    """``start_session``, ``ack_alarm``...: every command model names its type."""
    return str(getattr(command, "type", type(command).__name__))


@dataclass(frozen=True, slots=True)
class Pending:
    """A command sent from this screen that the engine has not answered yet."""

    chair: str
    type: str
    sent_at: datetime


@dataclass
class Link:
    """The screen's connection to the broker, as far as the screen can tell."""

    url: str | None = None
    """The broker's address, or None where no broker feeds the screen (a replay, a test)."""
    connected: bool = False
    ever_connected: bool = False
    refused: str | None = None
    """The broker's refusal of this screen's credentials, while it stands."""


@dataclass
class Bridge:
    """A site watched from the regional broker: what its bridge last said of itself
    (Mosquitto's notification: up or down, the down being the bridge's last will)."""

    site: str
    up: bool | None = None
    """None until the bridge's state has been heard."""
    down_since: datetime | None = None
    """When the bridge was heard to be down."""


class Floor:
    """Everything a dashboard knows of the site, and its rules, on an injected clock."""

    def __init__(self, rules: Rules, clock: Clock, url: str | None = None) -> None:
        self.rules = rules
        self.clock = clock
        self.link = Link(url)
        self.states: dict[str, ChairState] = {}
        self.histories: dict[str, ChairHistory] = {}
        self.results: dict[str, deque[tuple[CommandResult, bool]]] = {}
        self.pending: dict[str, Pending] = {}
        self.sent: list[tuple[str, CommandBase]] = []
        self.engine_status: EngineStatus | None = None
        self.last_state_at: datetime | None = None
        self.sort_by_urgency = True
        self.flash_step = 0
        self._sounding: set[str] = set()
        self._last_bell: datetime | None = None
        self.bridge: Bridge | None = None
        """Set where the screen watches its site from the regional broker."""
        self.last_heard_at: datetime | None = None
        """When anything of the site last arrived (a state, an answer, the engine's status)."""
        self.tz: tzinfo | None = None
        """The site's zone, for the times the banners say."""
        self.changes = 0
        """How many times what arrived or left changed what a screen may show: a refresh that
        finds the same count (in the same second, with the same offline reason) has nothing
        new to draw. A state equal to the one held is no change."""

    def forget(self) -> None:
        """Nothing of any patient is kept (signed out); the link starts afresh."""
        self.changes += 1
        self.link.connected = self.link.ever_connected = False
        self.states.clear()
        self.histories.clear()
        self.results.clear()
        self.pending.clear()
        self.sent.clear()
        self.engine_status = None
        self.last_state_at = None
        self.last_heard_at = None  # the bridge's word is kept: it holds nothing of a patient
        self._sounding.clear()

    # -- what arrives ------------------------------------------------------------------

    def take(self, payload: object) -> CommandResult | None:
        """Take what arrived; an answer to a command sent here is returned (to be said)."""
        if isinstance(payload, ChairState | EngineStatus | CommandResult):
            self.last_heard_at = self.clock.now()
        if isinstance(payload, ChairState):
            self.take_state(payload)
        elif isinstance(payload, EngineStatus):
            self.take_status(payload)
        elif isinstance(payload, CommandResult) and self.take_result(payload):
            return payload
        return None

    def take_state(self, state: ChairState) -> None:
        if self.states.get(state.chair) != state:
            # An equal state is not taken: the one held stays, and whatever compares with
            # it (a tile, the next state) finds it by identity.
            self.changes += 1
            self.states[state.chair] = state
        self.last_state_at = self.clock.now()
        history = self.histories.get(state.chair)
        if history is None:  # (not setdefault: that would build a history for every state)
            history = self.histories[state.chair] = ChairHistory()
        history.add(state)

    def take_status(self, status: EngineStatus) -> None:
        self.changes += 1
        self.engine_status = status

    def take_bridge(self, up: bool) -> None:
        """The site's bridge says it is up or down (ignored where no bridge is followed)."""
        bridge = self.bridge
        if bridge is None or bridge.up is up:
            return
        now = self.clock.now()
        self.changes += 1
        bridge.up = up
        bridge.down_since = None if up else now
        if up:
            # Silence is counted from the bridge's return, not from before the outage.
            self.last_heard_at = now

    def take_result(self, result: CommandResult) -> bool:
        """Keep an answer for its chair's view; True when it answers a command sent here."""
        self.changes += 1
        own = self.pending.pop(result.id, None) is not None
        self.results.setdefault(result.chair, deque(maxlen=RESULTS_KEPT)).append((result, own))
        return own

    def answers(self, chair: str) -> list[tuple[CommandResult, bool]]:
        """The chair's latest answers, oldest first, each with whether it was ours."""
        return list(self.results.get(chair, ()))

    # -- what leaves ----------------------------------------------------------------------

    def sending(self, chair: str, command: CommandBase) -> None:
        """A command leaves now: its answer is awaited."""
        self.changes += 1
        self.pending[command.id] = Pending(chair, command_type(command), self.clock.now())

    def not_sent(self, command: CommandBase) -> None:
        self.changes += 1
        self.pending.pop(command.id, None)

    def was_sent(self, chair: str, command: CommandBase) -> None:
        self.sent.append((chair, command))

    def expire_pending(self) -> list[Pending]:
        """Commands whose answer is overdue, each given up once (the screen says so)."""
        now = self.clock.now()
        limit = self.rules.answer_timeout_s * self.clock.rate
        overdue = [(command_id, pending) for command_id, pending in self.pending.items()
                   if (now - pending.sent_at).total_seconds() > limit]
        for command_id, _ in overdue:
            del self.pending[command_id]
            self.changes += 1
        return [pending for _, pending in overdue]

    # -- the rules ------------------------------------------------------------------------

    def unreachable_since(self) -> datetime | None:
        """Since when the site watched from the region is out of reach, or None: its bridge
        said it is down, or, once it said it is up, nothing of the site came within the
        offline rule's limit (a bridge can hang without its will being sent yet)."""
        bridge = self.bridge
        if bridge is None or bridge.up is None:
            return None
        if not bridge.up:
            return bridge.down_since
        heard = self.last_heard_at
        if heard is None:
            return None
        silent = (self.clock.now() - heard).total_seconds()
        return heard if silent > self.rules.offline_after_s * self.clock.rate else None

    def unreachable(self) -> str | None:
        """The banner of a site out of reach, or None; a command to it is not sent."""
        since = self.unreachable_since()
        if since is None or self.bridge is None:
            return None
        return (f"SITE {self.bridge.site} UNREACHABLE since "
                f"{clock_time(since, self.tz, seconds=True)}: the chairs below are its last "
                "known state, not live")

    def not_sendable(self) -> str | None:
        """Why no command may leave for the site now, or None."""
        since = self.unreachable_since()
        if since is None or self.bridge is None:
            return None
        return (f"site {self.bridge.site} unreachable since "
                f"{clock_time(since, self.tz, seconds=True)}: the command would wait at the "
                "region and act whenever the site came back")

    def offline(self) -> str | None:
        """Why the screen cannot be trusted as live, or None."""
        link = self.link
        if link.refused is not None:
            return f"MONITORING OFFLINE: {link.refused}"
        if link.url is not None and not link.connected:
            if link.ever_connected:
                return f"MONITORING OFFLINE: lost the broker {link.url}"
            return f"MONITORING OFFLINE: connecting to the broker {link.url}"
        if (unreachable := self.unreachable()) is not None:
            return unreachable
        if self.engine_status is not None and self.engine_status.state == "offline":
            return "MONITORING OFFLINE: the engine has stopped"
        if self.last_state_at is None:
            return "WAITING FOR MONITORING DATA"
        silent = (self.clock.now() - self.last_state_at).total_seconds()
        if silent > self.rules.offline_after_s * self.clock.rate:
            return f"MONITORING OFFLINE: no update for {silent:.0f}s"
        return None

    def sounding(self) -> set[str]:
        """High-priority alarms not acknowledged, at chairs whose audio is not paused."""
        if not self.rules.bell:
            return set()
        now = self.clock.now()
        out: set[str] = set()
        for state in self.states.values():
            paused = state.audio_paused_until
            if paused is not None and paused > now:
                continue
            out.update(
                a.alarm_id for a in state.alarms if a.priority == "high" and not a.acknowledged
            )
        return out

    def bell_due(self) -> bool:
        """Ring now? Once for each new sounding alarm, and every ``bell_repeat_s`` wall
        seconds while any still sounds."""
        now = self.clock.now()
        sounding = self.sounding()
        new = sounding - self._sounding
        self._sounding = sounding
        repeat = (
            bool(sounding) and self._last_bell is not None
            and (now - self._last_bell).total_seconds()
            >= self.rules.bell_repeat_s * self.clock.rate
        )
        if new or repeat:
            self._last_bell = now
            return True
        return False

    def flash_phase(self) -> tuple[bool, bool]:
        """(high on, medium on): high toggles every step (~2 Hz), medium every 4 (~0.5 Hz)."""
        step = self.flash_step
        return (step % 2 == 0, (step // 4) % 2 == 0)

    def flashing(self) -> bool:
        """Does any chair's highest alarm flash? If none does, nothing needs the flash timer."""
        for state in self.states.values():
            top = state.highest_alarm()
            if top is not None and top.priority in FLASHING:
                return True
        return False

    def ordered(self, chairs: list[str]) -> list[str]:
        """The overview's order: the most urgent first (or chair order), then by chair."""
        def key(chair: str) -> tuple[int, int, str]:
            rank, unacked = urgency(self.states.get(chair)) if self.sort_by_urgency else (0, 0)
            return (-rank, -unacked, chair_key(chair))

        return sorted(chairs, key=key)

    def alarming(self, chairs: Iterable[str]) -> list[str]:
        """Those of ``chairs`` that call for eyes wherever they are on the screen: an alarm of
        medium or high priority nobody has acknowledged. The overview asks it of the chairs
        scrolled out of sight, to say how many there are."""
        return [
            chair for chair in chairs
            if (state := self.states.get(chair)) is not None and any(
                a.priority in FLASHING and not a.acknowledged for a in state.alarms)
        ]
