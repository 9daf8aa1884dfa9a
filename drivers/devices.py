"""What every driver shares: the device spec it is built from, the sink it feeds, and the
tracking of its connection state and counters, published as `DeviceStatus`.

A device is written ``[NAME=]PROTOCOL:ENDPOINT[@BAUD]`` on the command line, e.g.
``nonin-8:/dev/ttyUSB0``, ``oximeter=masimo:socket://10.0.0.7:4001@9600``,
``ble-2a35:C4:7F:51:00:00:01`` or ``ble-2a37:service:180d`` (the first heart-rate monitor
that advertises the service). In ``config.toml`` the same fields are a
``[[gateway.chairs.ID]]`` table.

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
values) only grow while the driver runs; a status is republished every ``refresh_s`` so the
counters on screen stay fresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

from pydantic import ValidationError

from drivers.clock import Clock
from drivers.protocols.base import Measurement, StreamStats, Unusable
from drivers.topics import TopicError, check_ident
from drivers.wire import DeviceCounters, DeviceState, DeviceStatus, Kind, Reading

log = logging.getLogger(__name__)


class Sink(Protocol):
    """Where a driver delivers: the chair's `drivers.gateway.Gateway` (or a test double)."""

    def accept(self, reading: Reading) -> bool | None: ...
    def device_status(self, status: DeviceStatus) -> None: ...
    def next_seq(self, device: str) -> int: ...


class DeviceSpecError(ValueError):
    """A device spec that cannot be used; the message names the spec and what is wrong."""


_DEFAULT_NAMES: dict[str, str] = {
    "ble-2a35": "bp-cuff",
    "ble-2a36": "bp-cuff",
    "ble-2a37": "hr-monitor",
    "ble-2a5e": "oximeter",
    "ble-2a5f": "oximeter",
    "nonin-2": "oximeter",
    "nonin-7": "oximeter",
    "nonin-8": "oximeter",
    "nonin-ascii": "oximeter",
    "masimo": "oximeter",
    "hl7": "monitor",
}

_BAUD = re.compile(r"^(?P<rest>.+)@(?P<baud>\d{3,7})$")
_PROTOCOL = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One device of one chair: its name (a topic level), protocol, endpoint and baud rate."""

    name: str
    protocol: str
    endpoint: str
    baudrate: int = 9600

    @property
    def simulated(self) -> bool:
        """``sim`` or ``sim:SCENARIO``: a simulated device run inside the gateway process."""
        return self.endpoint == "sim" or self.endpoint.startswith("sim:")

    def label(self) -> str:
        return f"{self.name} ({self.protocol} at {self.endpoint})"


def default_name(protocol: str) -> str:
    return _DEFAULT_NAMES.get(protocol, protocol)


def parse_device_spec(text: str, baudrate: int = 9600) -> DeviceSpec:
    """``[NAME=]PROTOCOL:ENDPOINT[@BAUD]`` -> DeviceSpec (the protocol is not checked here)."""
    raw = text.strip()
    name: str | None = None
    head, sep, tail = raw.partition("=")
    if sep and ":" not in head:
        name, raw = head, tail
    protocol, sep, endpoint = raw.partition(":")
    if not sep or not endpoint:
        raise DeviceSpecError(
            f"device {text!r}: expected [NAME=]PROTOCOL:ENDPOINT[@BAUD], e.g. "
            "nonin-8:/dev/ttyUSB0 or ble-2a35:C4:7F:51:00:00:01"
        )
    protocol = protocol.strip().lower()
    if not _PROTOCOL.match(protocol):
        raise DeviceSpecError(f"device {text!r}: {protocol!r} is not a protocol name")
    match = _BAUD.match(endpoint)
    if match:
        endpoint, baudrate = match["rest"], int(match["baud"])
    name = name or default_name(protocol)
    try:
        check_ident(name, "device name")
    except TopicError as exc:
        raise DeviceSpecError(f"device {text!r}: {exc}") from None
    return DeviceSpec(name=name, protocol=protocol, endpoint=endpoint, baudrate=baudrate)


def unique_names(specs: Iterable[DeviceSpec]) -> list[DeviceSpec]:
    """Give repeated names a suffix (``oximeter``, ``oximeter-2``) so topics stay apart."""
    seen: dict[str, int] = {}
    out = []
    for spec in specs:
        count = seen.get(spec.name, 0) + 1
        seen[spec.name] = count
        out.append(spec if count == 1 else replace(spec, name=f"{spec.name}-{count}"))
    return out


Link = Literal["connecting", "connected", "disconnected"]


class DeviceTracker:
    """One device's connection state and counters, published to the sink when they change.

    The driver tells it about the link (`link`), what the decoder saw (`saw_stream` for a
    framer's cumulative `StreamStats`, `saw_frames` for single frames), and hands it
    measurements (`deliver`). `run` re-evaluates time-based states (silence, a garbage
    window that has passed) and republishes every ``refresh_s``.
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
    ) -> None:
        self.sink = sink
        self.clock = clock
        self.chair = chair
        self.spec = spec
        self.garbage_window_s = garbage_window_s
        self.silence_s = silence_s
        self.refresh_s = refresh_s
        # A cuff may send every 15 minutes or more: a vital it could not read stays reported
        # this long after the last time it came unusable.
        self.unreadable_window_s = unreadable_window_s
        self.unreadable = 0
        self.noted = 0
        # (kind, field) -> (label, reason, monotonic time last seen)
        self._unreadable: dict[tuple[Kind, str], tuple[str, str, float]] = {}
        self.frames = 0
        self.bad_frames = 0
        self.dropped_bytes = 0
        self.readings = 0
        self.reconnects = 0
        self.refused = 0
        self.last_error: str | None = None
        self._link: Link = "connecting"
        self._link_reason: str | None = None
        self._problem: str | None = None
        self._since = time.monotonic()
        self._last_data: float | None = None
        self._last_bad: float | None = None
        self._stream_base = (0, 0, 0)  # stats of framers already closed
        self._stream_now = (0, 0, 0)
        self._published: tuple[DeviceState, str | None] | None = None
        self._published_at = 0.0
        self.changed = asyncio.Event()

    # -- facts from the driver -----------------------------------------------------------

    @property
    def device(self) -> str:
        return self.spec.name

    @property
    def link_state(self) -> Link:
        return self._link

    def link(self, state: Link, reason: str | None = None) -> None:
        """The transport's state: opening, open, or gone (with why)."""
        if state == "connected" and self._link != "connected":
            self._since = time.monotonic()
            self._last_data = None
        if state != self._link:
            self._unreadable.clear()  # another connection may be another device
        self._link = state
        self._link_reason = reason
        self._problem = None if state != "connected" else self._problem
        self.update()

    def reconnected(self) -> None:
        self.reconnects += 1

    def problem(self, reason: str | None) -> None:
        """A lasting reason to report degraded while connected (None clears it)."""
        self._problem = reason
        self.update()

    def saw_stream(self, stats: StreamStats) -> None:
        """The current framer's cumulative counters (call after every feed)."""
        before = self._stream_now
        self._stream_now = (stats.frames, stats.bad_frames, stats.dropped_bytes)
        self._apply_stream(before)

    def closed_stream(self) -> None:
        """The current framer is discarded (a new one follows): keep its counts."""
        frames, bad, dropped = self._stream_now
        base = self._stream_base
        self._stream_base = (base[0] + frames, base[1] + bad, base[2] + dropped)
        self._stream_now = (0, 0, 0)

    def _apply_stream(self, before: tuple[int, int, int]) -> None:
        base, now = self._stream_base, self._stream_now
        self.frames = base[0] + now[0]
        self.bad_frames = base[1] + now[1]
        self.dropped_bytes = base[2] + now[2]
        if now[0] > before[0]:
            self._last_data = time.monotonic()
        if now[1] > before[1] or now[2] > before[2]:
            self._last_bad = time.monotonic()
        self.update()

    def saw_frames(self, good: int = 0, bad: int = 0, dropped_bytes: int = 0,
                   error: str | None = None) -> None:
        """Frames decoded one at a time (BLE notifications)."""
        self.frames += good
        self.bad_frames += bad
        self.dropped_bytes += dropped_bytes
        if good:
            self._last_data = time.monotonic()
        if bad or dropped_bytes:
            self._last_bad = time.monotonic()
        if error:
            self.last_error = error
        self.update()

    def saw_unusable(self, items: Iterable[Unusable]) -> None:
        """What good frames carried that did not become a value as sent: counted; a vital
        that could not be read makes the device degraded, with the reason."""
        now = time.monotonic()
        changed = False
        for item in items:
            if item.kept:
                self.noted += 1
                log.info("%s/%s: %s: %s", self.chair, self.device, item.label, item.reason)
                continue
            if item.kind is None:
                continue  # not a vital Chairside carries: the codec's stats count it
            self.unreadable += 1
            key = (item.kind, item.field)
            if key not in self._unreadable:
                changed = True
                log.warning("%s/%s: %s not readable: %s", self.chair, self.device,
                            item.label, item.reason)
            self._unreadable[key] = (item.label, item.reason, now)
        self.update(force=changed)

    def unreadable_kinds(self, now: float | None = None) -> dict[Kind, str]:
        """The vitals this device sends that cannot be read, with why (for the nurse)."""
        now = time.monotonic() if now is None else now
        out: dict[Kind, list[str]] = {}
        for (kind, _), (label, reason, seen) in sorted(self._unreadable.items()):
            if now - seen < self.unreadable_window_s:
                out.setdefault(kind, []).append(
                    f"{label} not readable from this device ({reason})"
                )
        return {kind: "; ".join(texts) for kind, texts in out.items()}

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
            self.refused += 1
            return None
        for name in reading.values:  # that vital arrives usable again
            self._unreadable.pop((reading.kind, name), None)
        self.readings += 1
        self._last_data = time.monotonic()
        return reading

    # -- state ----------------------------------------------------------------------------

    def state(self, now: float | None = None) -> tuple[DeviceState, str | None]:
        """The state to report now, and why."""
        now = time.monotonic() if now is None else now
        if self._link != "connected":
            return self._link, self._link_reason
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

    def silent_for(self, now: float | None = None) -> float:
        """Wall seconds since the last good frame (or since the link came up)."""
        now = time.monotonic() if now is None else now
        last = self._last_data if self._last_data is not None else self._since
        return now - last

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

    def status(self) -> DeviceStatus:
        state, reason = self.state()
        return DeviceStatus(
            chair=self.chair,
            device=self.device,
            source=self.spec.protocol,
            state=state,
            at=self.clock.now(),
            reason=reason,
            endpoint=self.spec.endpoint,
            counters=self.counters(),
            unreadable=self.unreadable_kinds() if state == "degraded" else {},
        )

    def update(self, force: bool = False) -> None:
        """Publish when the state or reason changed (or ``force``)."""
        state = self.state()
        if not force and state == self._published:
            return
        if state != self._published and state[0] != "connected":
            level = logging.INFO if state[0] == "connecting" else logging.WARNING
            log.log(level, "%s/%s %s%s", self.chair, self.device, state[0],
                    f": {state[1]}" if state[1] else "")
        elif state != self._published:
            log.info("%s/%s connected (%s)", self.chair, self.device, self.spec.endpoint)
        self._published = state
        self._published_at = time.monotonic()
        self.sink.device_status(self.status())
        self.changed.set()

    async def run(self, tick_s: float = 0.5) -> None:
        """Re-evaluate time-based states and republish the counters now and then."""
        self.update(force=self._published is None)
        while True:
            await asyncio.sleep(tick_s)
            stale = time.monotonic() - self._published_at >= self.refresh_s
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




# --- building drivers ----------------------------------------------------------------------


class EntryLike(Protocol):
    """A configured device (``monitor.config.DeviceEntry`` has these fields)."""

    @property
    def name(self) -> str: ...

    @property
    def protocol(self) -> str: ...

    @property
    def endpoint(self) -> str: ...

    @property
    def baudrate(self) -> int: ...


def spec_from_entry(entry: EntryLike) -> DeviceSpec:
    try:
        check_ident(entry.name, "device name")
    except TopicError as exc:
        raise DeviceSpecError(str(exc)) from None
    return DeviceSpec(entry.name, entry.protocol.strip().lower(), entry.endpoint, entry.baudrate)


SILENCE_S: dict[str, float | None] = {
    "nonin-2": 5.0,
    "nonin-7": 5.0,
    "nonin-8": 10.0,
    "nonin-ascii": 10.0,
    "masimo": 10.0,
    "hl7": None,  # a monitor may send a message only every few minutes
}
"""Wall seconds of silence after which a serial port is reported and reopened."""


@dataclass(frozen=True, slots=True)
class DriverOptions:
    """Tuning shared by the drivers of one gateway (defaults suit a clinic)."""

    reconnect_max_s: float = 10.0
    garbage_window_s: float = 10.0
    refresh_s: float = 10.0
    silence_s: float | None = None
    """None: the protocol's default (`SILENCE_S`); 0: never."""
    select_timeout_s: float = 2.0
    scan_timeout_s: float = 10.0
    connect_timeout_s: float = 20.0
    adapter_retry_s: float = 30.0


class Driver(Protocol):
    spec: DeviceSpec
    tracker: DeviceTracker

    @property
    def name(self) -> str: ...

    async def run(self) -> None: ...


def check_protocol(protocol: str) -> str:
    """The transport (``serial`` or ``ble``) of a device protocol, or DeviceSpecError."""
    from drivers.protocols.registry import PROTOCOLS

    spec = PROTOCOLS.get(protocol)
    usable = " ".join(n for n, s in PROTOCOLS.items() if s.role == "measurement")
    if spec is None or spec.role != "measurement":
        raise DeviceSpecError(f"unknown device protocol {protocol!r}; use one of: {usable}")
    return spec.transport


def make_driver(
    spec: DeviceSpec,
    chair: str,
    sink: Sink,
    clock: Clock,
    options: DriverOptions | None = None,
    *,
    ble_client_backend: type[Any] | None = None,
    ble_scanner_backend: type[Any] | None = None,
) -> Driver:
    """The driver for one device: serial or BLE, as its protocol says.

    ``ble_client_backend`` / ``ble_scanner_backend``: bleak backends to use instead of the
    platform's (the simulated BLE world, tests).
    """
    from drivers.protocols.registry import PROTOCOLS

    options = options or DriverOptions()
    transport = check_protocol(spec.protocol)
    if spec.simulated:
        raise DeviceSpecError(
            f"device {spec.label()}: simulated endpoints are run by the gateway command or "
            "the demo, which start the simulated device first"
        )
    if transport == "serial":
        from drivers.serial_driver import SerialDriver

        factory = PROTOCOLS[spec.protocol].framer
        assert factory is not None
        silence = options.silence_s if options.silence_s is not None else SILENCE_S.get(
            spec.protocol, 10.0
        )
        return SerialDriver(
            spec, chair, sink, clock, factory,
            silence_s=silence or None,
            reconnect_max_s=options.reconnect_max_s,
            select_timeout_s=options.select_timeout_s,
            garbage_window_s=options.garbage_window_s,
            refresh_s=options.refresh_s,
        )
    from drivers.ble_driver import BleDriver

    try:
        return BleDriver(
            spec, chair, sink, clock,
            client_backend=ble_client_backend,
            scanner_backend=ble_scanner_backend,
            scan_timeout_s=options.scan_timeout_s,
            connect_timeout_s=options.connect_timeout_s,
            reconnect_max_s=options.reconnect_max_s,
            adapter_retry_s=options.adapter_retry_s,
            garbage_window_s=options.garbage_window_s,
            refresh_s=options.refresh_s,
        )
    except ValueError as exc:
        raise DeviceSpecError(f"device {spec.label()}: {exc}") from None


__all__ = [
    "SILENCE_S",
    "DeviceSpec",
    "DeviceSpecError",
    "DeviceTracker",
    "Driver",
    "DriverOptions",
    "EntryLike",
    "Link",
    "Sink",
    "check_protocol",
    "default_name",
    "make_driver",
    "parse_device_spec",
    "spec_from_entry",
    "unique_names",
]
