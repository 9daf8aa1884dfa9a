"""The idle lock: after a while with no key or click, a screen keeps showing every chair but
asks for its user's password again before any command, so whoever walks up to an unattended
station cannot act as the nurse who left it."""

from __future__ import annotations

from datetime import datetime

from drivers.clock import Clock


class IdleLock:
    """Locked once ``limit_s`` wall seconds pass without `touch`; only `unlock` opens it again
    (a key press on a locked screen is no proof of who pressed it). On the injected clock:
    ``limit_s`` is scaled by its rate, so a demo's fast time locks after wall seconds too."""

    def __init__(self, clock: Clock, limit_s: float) -> None:
        self.clock = clock
        self.limit_s = limit_s
        self.locked = False
        self._last = clock.now()

    def idle_s(self, now: datetime | None = None) -> float:
        """Wall seconds since the last key or click."""
        return ((now or self.clock.now()) - self._last).total_seconds() / self.clock.rate

    def check(self) -> bool:
        """Lock if the idle time has run out; True if locked."""
        if not self.locked and self.idle_s() > self.limit_s:
            self.locked = True
        return self.locked

    def touch(self) -> None:
        """A key or click: the idle time starts again, unless already locked."""
        if not self.check():
            self._last = self.clock.now()

    def unlock(self) -> None:
        self.locked = False
        self._last = self.clock.now()
