"""Clocks. Nothing in Chairside reads the wall clock directly: time is passed in, so the demo
can run faster than real time, replay can run on a recording's time, and tests can step time
by hand.

Two kinds of time: ``Clock.now()`` is the date a reading or a status carries; `loop_time` is
the monotonic seconds the drivers measure silence, backoff and refreshes in."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Where ``now`` comes from. ``speed`` is the configured simulated seconds per wall
    second; ``rate`` is the present one (they differ only while a demo warms up)."""

    @property
    def speed(self) -> float: ...

    @property
    def rate(self) -> float: ...

    def now(self) -> datetime: ...


class WallClock:
    """Real time, in UTC."""

    speed = 1.0
    rate = 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)


class SimClock:
    """Simulated time that starts at ``start`` and runs ``speed`` times faster than the wall.

    ``warmup_s`` simulated seconds first pass in ``warmup_wall_s`` wall seconds, so a demo can
    open with chairs already part-way through their sessions.
    """

    def __init__(
        self,
        speed: float = 1.0,
        start: datetime | None = None,
        *,
        warmup_s: float = 0.0,
        warmup_wall_s: float = 0.0,
        running: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._speed = speed
        self._start = start or datetime.now(UTC)
        # The wall seconds it runs on: `loop_time` in a test whose loop fakes time.
        self._monotonic = monotonic
        self._t0: float | None = monotonic() if running else None
        self._warmup_s = warmup_s
        self._warmup_wall_s = warmup_wall_s if warmup_s > 0 else 0.0

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def rate(self) -> float:
        """The present rate: the warm-up rate while warming up, else ``speed``."""
        wall = self._wall()
        if wall < self._warmup_wall_s:
            return self._warmup_s / self._warmup_wall_s
        return self._speed

    def start(self) -> None:
        """Let time run (a clock made with ``running=False`` stands at ``start`` until then,
        so that parts still connecting all see the same first instant)."""
        if self._t0 is None:
            self._t0 = self._monotonic()

    def _wall(self) -> float:
        return 0.0 if self._t0 is None else self._monotonic() - self._t0

    def elapsed_s(self) -> float:
        wall = self._wall()
        if wall < self._warmup_wall_s:
            return wall * self._warmup_s / self._warmup_wall_s
        return self._warmup_s + (wall - self._warmup_wall_s) * self._speed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.elapsed_s())

    def wall_delay(self, sim_seconds: float) -> float:
        """How long to sleep on the wall for ``sim_seconds`` of simulated time to pass."""
        return max(0.0, sim_seconds / self.rate)


class FakeClock:
    """A clock that moves only when told to (tests)."""

    def __init__(self, start: datetime | None = None, speed: float = 1.0) -> None:
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        self._speed = speed

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def rate(self) -> float:
        return self._speed

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when


async def paced(clock: Clock, start: datetime, period_s: float) -> AsyncIterator[datetime]:
    """Yield ``start``, ``start + period``, ... each once simulated time has reached it.

    Samples that fall due while the caller was busy (or while a fast clock raced ahead) are
    all yielded, in order, with their own due times: the cadence is the clock's, not the
    event loop's.
    """
    due = start
    step = timedelta(seconds=period_s)
    while True:
        now = clock.now()
        while due <= now:
            yield due
            due += step
        await asyncio.sleep(max(0.001, (due - clock.now()).total_seconds() / clock.rate))


def loop_time() -> float:
    """Monotonic seconds on the running event loop's clock, the one its sleeps and timeouts
    use (``time.monotonic`` outside a loop, which is the same clock on every platform
    asyncio's default loop runs on). A test loop with fake time moves both together."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()
