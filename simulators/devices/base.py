"""What every simulated device shares: the patient it measures, the shared clock, its pace,
and the faults the scenario cues.

Pace: a device reports once per ``period_s`` of *simulated* time (a Nonin #8 frame or a
Masimo line every second, a heart-rate notification every second, a Nonin #2/#7 packet every
third of a second), thinned so that at the clock's nominal speed there are at most
``max_hz`` reports per *wall* second. At speed 1 that is the device's own rate; at speed 60
a once-a-second device reports every 15 simulated seconds with ``max_hz`` 4 (instead of 60
messages a wall second). The cadence is simulated time's: while a demo's warm-up races
ahead, a device keeps its simulated cadence (it reports more often on the wall), and each
message carries the patient's vitals at its own simulated moment.

Faults come from the scenario per device kind (``bp_cuff``, ``oximeter``, ``hr_monitor``):

* ``dropout``: the device sends nothing (stays connected);
* ``sensor_off``: the device says so in its own protocol (missing values, status bits);
* ``garbage``: unreadable bytes or values go out besides the good ones;
* ``disconnect``: the device goes away (serial: the pseudo-terminal is closed and its path
  removed; BLE: it stops advertising and drops the link) and comes back when the fault ends.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from drivers.clock import Clock
from simulators.patient import Patient, Vitals
from simulators.scenario import DeviceKind, FaultKind

MAX_CATCH_UP = 240
"""Most reports a device sends back to back to catch up with simulated time."""


@dataclass(slots=True)
class SimContext:
    """One chair's simulated patient on the shared clock."""

    patient: Patient
    clock: Clock
    session_start: datetime

    @property
    def dose_at_s(self) -> float:
        return self.patient.scenario.dose_at_s

    def t(self, when: datetime | None = None) -> float:
        """Simulated seconds since the session started."""
        return ((when or self.clock.now()) - self.session_start).total_seconds()

    def vitals(self, t: float) -> Vitals:
        return self.patient.vitals(t, self.dose_at_s)

    def faults(self, kinds: tuple[DeviceKind, ...], t: float) -> frozenset[FaultKind]:
        active = self.patient.faults_at(t)
        out: set[FaultKind] = set()
        for kind in kinds:
            out |= active[kind]
        return frozenset(out)

    def sim_period(self, period_s: float, max_hz: float) -> float:
        """Simulated seconds between two reports: ``period_s``, or more when time runs fast,
        so that at the clock's nominal speed there are at most ``max_hz`` a wall second."""
        return max(period_s, self.clock.speed / max_hz)

    def wall(self, sim_seconds: float) -> float:
        """Wall seconds for ``sim_seconds`` to pass at the clock's present rate."""
        return max(0.0, sim_seconds / max(self.clock.rate, 1e-9))

    async def cadence(self, period: Callable[[], float]) -> AsyncIterator[datetime]:
        """Report times on a fixed simulated cadence (``period()`` simulated seconds apart),
        each yielded once simulated time has reached it. Times that fell due while the
        machine was busy, or while a warm-up raced ahead, are all yielded with their own
        times (at most `MAX_CATCH_UP` in a row: after a long stall the device skips ahead),
        so what a device reports does not depend on how busy the event loop is."""
        due = self.clock.now()
        while True:
            now = self.clock.now()
            burst = 0
            while due <= now:
                yield due
                due += timedelta(seconds=period())
                burst += 1
                if burst >= MAX_CATCH_UP and due <= now:
                    due = now
            await asyncio.sleep(max(0.001, self.wall((due - self.clock.now()).total_seconds())))


class SimDevice(Protocol):
    """A simulated device: where a driver reaches it, and its life."""

    forced: set[FaultKind]
    """Faults switched on by hand (tests, the command line), besides the scenario's."""

    @property
    def protocol(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def endpoint(self) -> str: ...

    async def run(self) -> None: ...

    def close(self) -> None: ...


def garbage(rng: random.Random, size: int, *, printable: bool = False) -> bytes:
    """Unreadable bytes: noise on a line (``printable``: junk text for line protocols)."""
    if printable:
        alphabet = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789#$%&*+/<>?@"
        return bytes(rng.choice(alphabet) for _ in range(size))
    return bytes(rng.randrange(256) for _ in range(size))


async def sleep_wall(seconds: float) -> None:
    await asyncio.sleep(max(0.0, seconds))


__all__ = ["SimContext", "SimDevice", "garbage", "sleep_wall"]
