"""Which chair states a recording keeps.

The engine publishes a chair's complete state with nearly every input (up to four a second),
and most of those states differ from the one before only in the latest values and the
numbers that age with time: what the recorded readings already say, and what a replay
regenerates exactly from them. A recording keeps a state only where it says something the
chair's previous state did not (session, checks, alarms, readiness, devices, unreadable
vitals, the audio pause), together with the state just before it (the picture the engine had
when the change came: a session's export starts from the state before its start), the first
state of a chair it sees, and one at least every `STATE_EVERY`, so a
recording still shows the engine alive through a quiet stretch.

Alarm events and command answers are always kept, and a replay ticks the engine where they
and the kept states say the live engine acted: a tick where nothing changed changes
nothing, so the alarms come back the same, at the same moments, with the same ids.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from drivers import topics
from drivers.wire import ChairState
from monitor.engine.chair import Chair

from .wirelog import WireRecord

STATE_EVERY = timedelta(minutes=5)
"""The longest a recording goes without a state of a chair it follows."""

T = TypeVar("T")


def signature(state: ChairState) -> Hashable:
    """What a state says besides its time, its latest values and the numbers that age."""
    observation = state.observation
    return (
        Chair.signature_of(state, latest=False),
        None if observation is None else (observation.started_at, observation.minimum_s),
    )


@dataclass(slots=True)
class _Followed(Generic[T]):
    said: Hashable
    kept_at: datetime
    held: T | None = None
    """The chair's latest state not kept: kept after all if the next one changes."""


class StateThinning(Generic[T]):
    """Decides, state by state in the order received, which to keep; ``T`` is whatever the
    caller keeps (a raw message, a wire record)."""

    def __init__(self, every: timedelta = STATE_EVERY) -> None:
        self.every = every
        self.dropped = 0
        self._chairs: dict[str, _Followed[T]] = {}

    def take(self, chair: str, state: ChairState, message: T, at: datetime) -> list[T]:
        """What to keep now of ``message`` (``state`` of ``chair``, received at ``at``):
        nothing, it, or the state held before it and then it."""
        said = signature(state)
        followed = self._chairs.get(chair)
        if followed is None:
            self._chairs[chair] = _Followed(said, at)
            return [message]
        if said == followed.said and at - followed.kept_at < self.every:
            if followed.held is not None:
                self.dropped += 1
            followed.held = message
            return []
        kept = [message] if followed.held is None or said == followed.said else [
            followed.held, message]
        if len(kept) == 1 and followed.held is not None:
            self.dropped += 1
        followed.said, followed.kept_at, followed.held = said, at, None
        return kept

    def forget(self, chair: str) -> None:
        """Start ``chair`` afresh (its next state is kept)."""
        self._chairs.pop(chair, None)


def thin(records: Iterable[WireRecord]) -> Iterator[WireRecord]:
    """A wire log as the recorder keeps it: every message but the states `StateThinning`
    leaves out (a state that does not read is kept, as evidence)."""
    thinning: StateThinning[WireRecord] = StateThinning()
    for record in records:
        if not record.topic.endswith("/state") or record.invalid is not None:
            yield record
            continue
        try:
            chair = topics.parse(record.topic).chair
            state = ChairState.model_validate_json(record.payload)
        except (topics.TopicError, ValueError):
            yield record
            continue
        if chair is None:
            yield record
            continue
        yield from thinning.take(chair, state, record, record.received_at)
