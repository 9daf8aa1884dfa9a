"""Sessions, derived from the recording as it grows.

A session is one chair's span from an accepted ``start_session`` (or the first ChairState
that shows it) to its discharge or end, as the engine's command results and retained states
say. The tracker is pure: it is fed decoded messages in arrival order and says which
sessions changed, so the recorder can keep the ``sessions`` index current in the same
transaction as the messages, and a whole recording can be re-indexed the same way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from drivers.wire import (
    PRIORITY_RANK,
    AlarmEvent,
    ChairState,
    CommandResult,
    Discharge,
    EndSession,
    SessionInfo,
    StartSession,
)

from .store import SessionRow

MARGIN = timedelta(seconds=5)
"""Clock differences between the engine's stamps and the recorder's receive times."""

SAME_START = timedelta(seconds=120)
"""A state's session start this close to an open session's is the same session (the
engine stamps the start with its own clock, the recorder with its receive time)."""


def session_id(chair: str, started_at: datetime) -> str:
    """``chair-1-20260105-090000``: readable, sortable, and stable once the session opened."""
    return f"{chair}-{started_at:%Y%m%d-%H%M%S}"


class SessionTracker:
    """Follows every chair's session through commands, command results, states and alarms."""

    def __init__(self, open_sessions: Iterable[SessionRow] = ()) -> None:
        self.open: dict[str, SessionRow] = {row.chair: row for row in open_sessions}
        self._pending: dict[str, tuple[str, Any, datetime]] = {}
        """command id -> (chair, command, receive time), until the engine answers it."""
        self._closed: dict[str, SessionRow] = {}
        self._early: dict[str, deque[AlarmEvent]] = {}

    def observe(self, chair: str | None, payload: Any, at: datetime) -> list[SessionRow]:
        """Take one decoded message received at ``at``; return the sessions it changed."""
        if chair is None:
            return []
        changed: list[SessionRow] = []
        current = self.open.get(chair)
        if current is not None and at > current.last_seen:
            current.last_seen = at
        if isinstance(payload, StartSession | Discharge | EndSession):
            self._pending[payload.id] = (chair, payload, at)
        elif isinstance(payload, CommandResult):
            changed += self._result(chair, payload, at)
        elif isinstance(payload, ChairState):
            changed += self._state(chair, payload, at)
        elif isinstance(payload, AlarmEvent) and payload.event in ("raised", "escalated"):
            row = self._session_at(chair, payload.at)
            if row is None:
                self._early.setdefault(chair, deque(maxlen=1000)).append(payload)
            elif _count(row, payload):
                changed.append(row)
        return _unique(changed)

    def _session_at(self, chair: str, when: datetime) -> SessionRow | None:
        """The session an event of ``when`` belongs to: the open one, or the one that just
        closed (the engine's events may reach the recorder after its later messages)."""
        current = self.open.get(chair)
        if current is not None and when >= current.started_at - MARGIN:
            return current
        closed = self._closed.get(chair)
        if closed is not None and closed.ended_at is not None and (
            closed.started_at - MARGIN <= when <= closed.ended_at + MARGIN
        ):
            return closed
        return None

    def _opened(self, row: SessionRow) -> SessionRow:
        """A new session takes the alarm events of its time that arrived before it did."""
        self.open[row.chair] = row
        early = self._early.get(row.chair)
        if early:
            for event in [e for e in early if e.at >= row.started_at - MARGIN]:
                _count(row, event)
                early.remove(event)
        return row

    def _result(self, chair: str, result: CommandResult, at: datetime) -> list[SessionRow]:
        pending = self._pending.pop(result.id, None)
        if pending is None or not result.accepted:
            return []
        _, command, received = pending
        current = self.open.get(chair)
        if isinstance(command, StartSession):
            known = current or self._closed.get(chair)
            if known is not None and abs(known.started_at - received) <= SAME_START:
                # The engine's states showed this session (even its end) before its answer
                # to the start arrived: the answer is late, not a new session.
                known.dose_mg = known.dose_mg or command.dose_mg
                known.lot = known.lot or command.lot
                return [known]
            changed = self._close(chair, received, "superseded") if current else []
            row = self._opened(SessionRow(
                id=session_id(chair, received), chair=chair, started_at=received,
                last_seen=at, patient_code=command.patient_code, protocol=command.protocol,
                dose_mg=command.dose_mg, lot=command.lot,
            ))
            return [*changed, row]
        if current is None:
            return []
        if isinstance(command, Discharge):
            current.discharged_by = command.by
            current.override_reason = command.override_reason
            return self._close(chair, received, "discharged")
        return self._close(chair, received, "ended")

    def _state(self, chair: str, state: ChairState, at: datetime) -> list[SessionRow]:
        info = state.session
        current = self.open.get(chair)
        if current is not None and state.at < current.started_at:
            return []  # older than the session we follow: a late or retained state
        if info is None:
            # The engine shows no session: whatever was open here is over.
            return self._close(chair, state.at, "ended") if current else []
        changed: list[SessionRow] = []
        if current is None or abs(current.started_at - info.started_at) > SAME_START:
            if current is not None:
                changed += self._close(chair, info.started_at, "superseded")
            if info.phase in ("discharged", "ended"):
                return changed  # an old, closed session seen again (a retained state)
            current = self._opened(SessionRow(
                id=session_id(chair, info.started_at), chair=chair,
                started_at=info.started_at, last_seen=at,
            ))
        _merge(current, info)
        changed.append(current)
        if info.phase == "discharged":
            changed += self._close(chair, info.discharged_at or state.at, "discharged")
        elif info.phase == "ended":
            changed += self._close(chair, info.ended_at or state.at, "ended")
        return changed

    def _close(self, chair: str, when: datetime, kind: str) -> list[SessionRow]:
        row = self.open.pop(chair, None)
        if row is None:
            return []
        row.ended_at = when
        row.end_kind = kind
        row.last_seen = max(row.last_seen, when)
        self._closed[chair] = row
        return [row]


def _count(row: SessionRow, event: AlarmEvent) -> bool:
    """Count an alarm at the highest priority it reached; True when that changed."""
    before = row.alarms.get(event.alarm_id)
    if before is None or PRIORITY_RANK[event.priority] > PRIORITY_RANK[before]:
        row.alarms[event.alarm_id] = event.priority
        return True
    return False


def _merge(row: SessionRow, info: SessionInfo) -> None:
    """The engine's view wins where it has one."""
    row.patient_code = info.patient_code
    row.protocol = info.protocol
    row.dose_mg = info.dose_mg if info.dose_mg is not None else row.dose_mg
    row.lot = info.lot or row.lot
    row.first_dose_at = info.first_dose_at or row.first_dose_at
    row.discharged_by = info.discharged_by or row.discharged_by
    row.override_reason = info.override_reason or row.override_reason


def _unique(rows: list[SessionRow]) -> list[SessionRow]:
    seen: dict[str, SessionRow] = {}
    for row in rows:
        seen[row.id] = row
    return list(seen.values())
