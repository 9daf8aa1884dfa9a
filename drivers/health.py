"""One device's health as a pure state machine: what the driver saw, and the state it makes.

Every fact and every question takes ``now``, monotonic seconds (the event loop's clock in a
driver), as the engine takes its ``now``: the health never reads a clock, so a test steps
time by hand and a fault that takes minutes on the wall takes no time in a test.

State, as a driver reports it:

* ``connecting``: opening the port, scanning for or connecting to the BLE device;
* ``connected``: data flows and decodes;
* ``degraded`` (with a reason): connected, but the line carries garbage (bad frames in the
  last ``garbage_window_s``), or has been silent for ``silence_s``, or the device refused a
  setting, or it sends a vital the gateway can read but not use (a unit that does not fit,
  a code that is not the one its name says, a status that is not a result): "heart rate not
  readable from this device", until that vital arrives usable, the link changes, or
  ``unreadable_window_s`` passes without it;
* ``disconnected`` (with a reason): the port is gone or cannot be opened, the BLE link
  dropped, or there is no Bluetooth adapter; the driver retries with backoff.

Counters (frames, bad frames, dropped bytes, readings, reconnects, unreadable and noted
values) only grow while the driver runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Literal

from drivers.protocols.base import StreamStats, Unusable
from drivers.wire import DeviceCounters, DeviceState, Kind

Link = Literal["connecting", "connected", "disconnected"]

Verdict = tuple[DeviceState, str | None]
"""A state and why."""


class DeviceHealth:
    """The link, the counters and the time-based states of one device."""

    def __init__(
        self,
        now: float,
        *,
        garbage_window_s: float = 10.0,
        silence_s: float | None = None,
        unreadable_window_s: float = 1800.0,
    ) -> None:
        self.garbage_window_s = garbage_window_s
        self.silence_s = silence_s
        # A cuff may send every 15 minutes or more: a vital it could not read stays reported
        # this long after the last time it came unusable.
        self.unreadable_window_s = unreadable_window_s
        self.frames = 0
        self.bad_frames = 0
        self.dropped_bytes = 0
        self.readings = 0
        self.reconnects = 0
        self.refused = 0
        self.unreadable = 0
        self.noted = 0
        self.last_error: str | None = None
        self.link_state: Link = "connecting"
        self._link_reason: str | None = None
        self._problem: str | None = None
        self._since = now
        self._last_data: float | None = None
        self._last_bad: float | None = None
        self._stream = (0, 0, 0)  # the framer's counters at the last feed
        # (kind, field) -> (label, reason, when last seen)
        self._unreadable: dict[tuple[Kind, str], tuple[str, str, float]] = {}

    # -- facts from the driver -------------------------------------------------------------

    def link(self, state: Link, reason: str | None, now: float) -> None:
        """The transport's state: opening, open, or gone (with why)."""
        if state == "connected" and self.link_state != "connected":
            self._since = now
            self._last_data = None
        if state != self.link_state:
            self._unreadable.clear()  # another connection may be another device
        self.link_state = state
        self._link_reason = reason
        if state != "connected":
            self._problem = None

    def reconnected(self) -> None:
        self.reconnects += 1

    def problem(self, reason: str | None) -> None:
        """A lasting reason to report degraded while connected (None clears it)."""
        self._problem = reason

    def saw_stream(self, stats: StreamStats, now: float) -> None:
        """A framer's cumulative counters (after every feed)."""
        frames, bad, dropped = self._stream
        if stats.frames > frames:
            self._last_data = now
        if stats.bad_frames > bad or stats.dropped_bytes > dropped:
            self._last_bad = now
        self._stream = (stats.frames, stats.bad_frames, stats.dropped_bytes)
        self.frames = stats.frames
        self.bad_frames = stats.bad_frames
        self.dropped_bytes = stats.dropped_bytes

    def saw_frames(self, now: float, good: int = 0, bad: int = 0, dropped_bytes: int = 0,
                   error: str | None = None) -> None:
        """Frames decoded one at a time (BLE notifications, a reading the contract refused)."""
        self.frames += good
        self.bad_frames += bad
        self.dropped_bytes += dropped_bytes
        if good:
            self._last_data = now
        if bad or dropped_bytes:
            self._last_bad = now
        if error:
            self.last_error = error

    def saw_unusable(self, items: Iterable[Unusable], now: float) -> list[Unusable]:
        """Count what good frames carried that did not become a value as sent; a vital that
        could not be read makes the device degraded. Returns the vitals newly unreadable."""
        new = []
        for item in items:
            if item.kept:
                self.noted += 1
                continue
            if item.kind is None:
                continue  # not a vital Chairside carries: the codec's stats count it
            self.unreadable += 1
            key = (item.kind, item.field)
            if key not in self._unreadable:
                new.append(item)
            self._unreadable[key] = (item.label, item.reason, now)
        return new

    def delivered(self, kind: Kind, fields: Iterable[str], now: float) -> None:
        """A reading was accepted: its vitals arrive usable again."""
        for name in fields:
            self._unreadable.pop((kind, name), None)
        self.readings += 1
        self._last_data = now

    def refused_one(self) -> None:
        """The outbox refused a reading."""
        self.refused += 1

    # -- questions -------------------------------------------------------------------------

    def unreadable_kinds(self, now: float) -> dict[Kind, str]:
        """The vitals this device sends that cannot be read, with why (for the nurse)."""
        out: dict[Kind, list[str]] = {}
        for kind, label, reason in self._recent_unreadable(now):
            out.setdefault(kind, []).append(f"{label} not readable from this device ({reason})")
        return {kind: "; ".join(texts) for kind, texts in out.items()}

    def _recent_unreadable(self, now: float) -> Iterator[tuple[Kind, str, str]]:
        for (kind, _), (label, reason, seen) in sorted(self._unreadable.items()):
            if now - seen < self.unreadable_window_s:
                yield kind, label, reason

    def state(self, now: float) -> Verdict:
        """The state to report at ``now``, and why."""
        if self.link_state != "connected":
            return self.link_state, self._link_reason
        reasons = []
        if self._last_bad is not None and now - self._last_bad < self.garbage_window_s:
            reasons.append(
                f"unreadable data from the device (bad frames in the last "
                f"{self.garbage_window_s:g} s; see the counters)"
            )
        if self.silence_s is not None:
            last = self._last_data if self._last_data is not None else self._since
            if now - last >= self.silence_s:
                reasons.append(f"no data for more than {self.silence_s:g} s")
        if self._problem:
            reasons.append(self._problem)
        reasons.extend(self.unreadable_kinds(now).values())
        if reasons:
            return "degraded", "; ".join(reasons)
        return "connected", self._link_reason

    def counters(self) -> DeviceCounters:
        return DeviceCounters(
            frames=self.frames,
            bad_frames=self.bad_frames,
            dropped_bytes=self.dropped_bytes,
            readings=self.readings,
            reconnects=self.reconnects,
            unreadable=self.unreadable,
            noted=self.noted,
        )


__all__ = ["DeviceHealth", "Link", "Verdict"]
