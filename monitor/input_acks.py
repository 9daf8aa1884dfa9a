"""Which of the engine's inputs may be acknowledged to the broker, and when.

An input (a reading, a status, a command) is acknowledged only once every output it caused
has been acknowledged by the broker: the alarm events and command results it raised, and a
state of its chair that includes it. States are coalesced: a newer state of a chair stands
for every older one, so an input waits for *a* state of its chair at least as new as the one
its handling produced, not for that very message.

PUBACKs leave in the order the inputs arrived (MQTT 3.1.1, 4.6: a receiver acknowledges QoS 1
messages in the order it received them), so an input whose outputs are out waits only for the
inputs before it. Pure bookkeeping: no broker, no clock; the engine service feeds it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(eq=False, slots=True)
class Pending:
    """One input not yet acknowledged: its message id (None for a barrier) and what it
    still waits for."""

    mid: int | None
    qos: int
    events: set[str] = field(default_factory=set)
    states: dict[str, int] = field(default_factory=dict)  # chair -> the version it needs

    @property
    def ready(self) -> bool:
        return not self.events and not self.states


class InputAcks:
    """The inputs of one broker connection that are not yet acknowledged, in arrival order.

    Everything it holds is bounded by what the broker has in flight to the engine (Mosquitto:
    ``max_inflight_messages``, 20) and what those inputs caused: nothing is kept once
    acknowledged."""

    def __init__(self) -> None:
        self._queue: deque[Pending] = deque()
        self._by_event: dict[str, list[Pending]] = {}
        self._by_state: dict[str, list[Pending]] = {}
        self._state_acked: dict[str, int] = {}
        self.current: Pending | None = None
        """The input being handled: what is emitted meanwhile is what it waits for."""

    def __len__(self) -> int:
        return len(self._queue)

    def received(self, mid: int | None, qos: int = 1) -> Pending:
        """An input arrived (``mid`` None: a barrier that holds every later input back until
        what it waits for is out, with no PUBACK of its own)."""
        pending = Pending(mid, qos)
        self._queue.append(pending)
        return pending

    def wait_event(self, pending: Pending, key: str) -> None:
        """``pending`` waits for the broker to acknowledge the event or result ``key``."""
        if key not in pending.events:
            pending.events.add(key)
            self._by_event.setdefault(key, []).append(pending)

    def wait_state(self, pending: Pending, chair: str, version: int) -> None:
        """``pending`` waits for a state of ``chair`` of ``version`` or newer."""
        if self._state_acked.get(chair, 0) >= version:
            return
        if chair not in pending.states:
            self._by_state.setdefault(chair, []).append(pending)
        pending.states[chair] = max(version, pending.states.get(chair, 0))

    def event_done(self, key: str) -> None:
        for pending in self._by_event.pop(key, ()):
            pending.events.discard(key)

    def state_done(self, chair: str, version: int) -> None:
        if version > self._state_acked.get(chair, 0):
            self._state_acked[chair] = version
        waiting = self._by_state.get(chair)
        if not waiting:
            return
        still: list[Pending] = []
        for pending in waiting:
            if pending.states[chair] <= version:
                del pending.states[chair]
            else:
                still.append(pending)
        if still:
            self._by_state[chair] = still
        else:
            del self._by_state[chair]

    def waited_for(self, chair: str) -> bool:
        """Whether an input waits for a state of ``chair``: such a state leaves at once."""
        return chair in self._by_state

    def ready(self) -> list[tuple[int, int]]:
        """The (mid, qos) of the inputs that may be acknowledged now, oldest first, removed.
        The input being handled is never ready: its outputs are not all known yet."""
        out: list[tuple[int, int]] = []
        while self._queue and self._queue[0].ready and self._queue[0] is not self.current:
            pending = self._queue.popleft()
            if pending.mid is not None:
                out.append((pending.mid, pending.qos))
        return out
