"""A device's health published: the sink a driver feeds, and the tracker that turns what the
driver saw into `DeviceStatus` messages when the state changes, and every ``refresh_s``.

The state itself is `drivers.health.DeviceHealth`, a pure state machine; the tracker asks
it with ``now`` from the event loop's clock (`drivers.clock.loop_time`), the clock the
drivers' own waits run on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Protocol

from pydantic import ValidationError

from drivers.clock import Clock, loop_time
from drivers.device_spec import DeviceSpec
from drivers.health import DeviceHealth, Link, Verdict
from drivers.protocols.base import Measurement, StreamStats, Unusable
from drivers.wire import DeviceCounters, DeviceStatus, Kind, Reading

log = logging.getLogger(__name__)


class Sink(Protocol):
    """Where a driver delivers: the chair's `drivers.gateway.Gateway` (or a test double)."""

    def accept(self, reading: Reading) -> bool | None: ...
    def device_status(self, status: DeviceStatus) -> None: ...
    def next_seq(self, device: str) -> int: ...


class DeviceTracker:
    """One device's health, published to the sink when it changes.

    The driver tells it about the link (`link`), what the decoder saw (`saw_stream` for a
    framer's cumulative `StreamStats`, `saw_frames` for single frames), and hands it
    measurements (`deliver`). `run` re-evaluates time-based states (silence, a garbage
    window that has passed) and republishes every ``refresh_s``. ``monotonic`` is where
    ``now`` comes from for the health.
    """

    def __init__(
        self,
        sink: Sink,
        clock: Clock,
        chair: str,
        spec: DeviceSpec,
        *,
        garbage_window_s: float = 10.0,
        silence_s: float | None = None,
        refresh_s: float = 10.0,
        unreadable_window_s: float = 1800.0,
        monotonic: Callable[[], float] = loop_time,
    ) -> None:
        self.sink = sink
        self.clock = clock
        self.chair = chair
        self.spec = spec
        self.refresh_s = refresh_s
        self.monotonic = monotonic
        self.health = DeviceHealth(
            monotonic(),
            garbage_window_s=garbage_window_s,
            silence_s=silence_s,
            unreadable_window_s=unreadable_window_s,
        )
        self._published: Verdict | None = None
        self._published_at = 0.0

    # -- facts from the driver -----------------------------------------------------------

    @property
    def device(self) -> str:
        return self.spec.name

    @property
    def link_state(self) -> Link:
        return self.health.link_state

    @property
    def frames(self) -> int:
        return self.health.frames

    def link(self, state: Link, reason: str | None = None) -> None:
        """The transport's state: opening, open, or gone (with why)."""
        self.health.link(state, reason, self.monotonic())
        self.update()

    def reconnected(self) -> None:
        self.health.reconnected()

    def problem(self, reason: str | None) -> None:
        """A lasting reason to report degraded while connected (None clears it)."""
        self.health.problem(reason)
        self.update()

    def saw_stream(self, stats: StreamStats) -> None:
        """The current framer's cumulative counters (call after every feed)."""
        self.health.saw_stream(stats, self.monotonic())
        self.update()

    def saw_frames(self, good: int = 0, bad: int = 0, dropped_bytes: int = 0,
                   error: str | None = None) -> None:
        """Frames decoded one at a time (BLE notifications)."""
        self.health.saw_frames(self.monotonic(), good, bad, dropped_bytes, error)
        self.update()

    def saw_unusable(self, items: Iterable[Unusable]) -> None:
        """What good frames carried that did not become a value as sent: counted; a vital
        that could not be read makes the device degraded, with the reason."""
        items = list(items)
        for item in items:
            if item.kept:
                log.info("%s/%s: %s: %s", self.chair, self.device, item.label, item.reason)
        new = self.health.saw_unusable(items, self.monotonic())
        for item in new:
            log.warning("%s/%s: %s not readable: %s", self.chair, self.device,
                        item.label, item.reason)
        self.update(force=bool(new))

    def unreadable_kinds(self, now: float | None = None) -> dict[Kind, str]:
        """The vitals this device sends that cannot be read, with why (for the nurse)."""
        return self.health.unreadable_kinds(self.monotonic() if now is None else now)

    def deliver(self, measurement: Measurement, source: str) -> Reading | None:
        """Turn a measurement into a Reading and hand it to the sink; None if the reading
        is refused (by the wire contract: counted as a bad frame; or by a full outbox)."""
        try:
            reading = measurement.to_reading(
                chair=self.chair,
                device=self.device,
                source=source,
                received_at=self.clock.now(),
                seq=self.sink.next_seq(self.device),
            )
        except (ValidationError, ValueError) as exc:
            self.saw_frames(bad=1, error=f"{source}: {exc}".splitlines()[0])
            log.warning("%s/%s: %s frame decoded to an invalid reading: %s",
                        self.chair, self.device, source, str(exc).splitlines()[0])
            return None
        if self.sink.accept(reading) is False:
            self.health.refused_one()
            return None
        self.health.delivered(reading.kind, reading.values, self.monotonic())
        return reading

    # -- state ----------------------------------------------------------------------------

    def state(self, now: float | None = None) -> Verdict:
        """The state to report now, and why."""
        return self.health.state(self.monotonic() if now is None else now)

    def counters(self) -> DeviceCounters:
        return self.health.counters()

    def status(self, now: float | None = None) -> DeviceStatus:
        now = self.monotonic() if now is None else now
        state, reason = self.health.state(now)
        return DeviceStatus(
            chair=self.chair,
            device=self.device,
            source=self.spec.protocol,
            state=state,
            at=self.clock.now(),
            reason=reason,
            endpoint=self.spec.endpoint,
            counters=self.counters(),
            unreadable=self.health.unreadable_kinds(now) if state == "degraded" else {},
        )

    def update(self, force: bool = False) -> None:
        """Publish when the state or reason changed (or ``force``)."""
        now = self.monotonic()
        state = self.health.state(now)
        if not force and state == self._published:
            return
        if state != self._published and state[0] != "connected":
            level = logging.INFO if state[0] == "connecting" else logging.WARNING
            log.log(level, "%s/%s %s%s", self.chair, self.device, state[0],
                    f": {state[1]}" if state[1] else "")
        elif state != self._published:
            log.info("%s/%s connected (%s)", self.chair, self.device, self.spec.endpoint)
        self._published = state
        self._published_at = now
        self.sink.device_status(self.status(now))

    async def run(self, tick_s: float = 0.5) -> None:
        """Re-evaluate time-based states and republish the counters now and then."""
        self.update(force=self._published is None)
        while True:
            await asyncio.sleep(tick_s)
            stale = self.monotonic() - self._published_at >= self.refresh_s
            self.update(force=stale)

    @contextlib.asynccontextmanager
    async def reporting(self) -> AsyncIterator[None]:
        """Keep the status fresh (`run`) while a driver's loop runs inside the block."""
        task = asyncio.create_task(self.run(), name=f"status-{self.device}")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


__all__ = ["DeviceTracker", "Sink"]
