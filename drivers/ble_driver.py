"""Bluetooth LE devices (blood-pressure cuffs, heart-rate monitors, pulse oximeters) through
bleak.

A device is found by address (``C4:7F:51:00:00:01``; a UUID on macOS) or by the service it
advertises (endpoint ``service``, ``service:1810``, ``service:180d``, ``service:1822``: the
first device advertising it). The driver connects with bounded retries, reads the feature
characteristic of the service once (0x2A49 Blood Pressure Feature, 0x2A60 PLX Features),
subscribes to every measurement characteristic the service offers (0x2A35 and 0x2A36 on a
cuff, 0x2A37 on a heart-rate monitor, 0x2A5E and 0x2A5F on an oximeter; indications and
notifications alike), decodes each value and delivers Readings. When the link drops it says
so and reconnects.

Errors are classified the way bleak-retry-connector does, without depending on it:

* no adapter, no D-Bus, Bluetooth powered off (on Linux without D-Bus bleak raises a plain
  ``FileNotFoundError``, not a ``BleakError``): one clear reason in the device status and one
  log line, retried every ``adapter_retry_s``; never a traceback, and the chair's other
  devices carry on;
* device not found (off, out of range, bonded to another host): rescanned with backoff;
* transient (timeouts, "le-connection-abort-by-local", out of connection slots): retried
  with backoff 0.25, 0.5, 1, 2, 4 ... ``reconnect_max_s``.

Every wait on the stack is bounded (scan, connect, feature read, subscribe), so a stuck
D-Bus call cannot stall the driver.

The seam for simulation and tests: ``client_backend`` (a ``BaseBleakClient`` subclass passed
to ``BleakClient(..., backend=...)``) and ``scanner_backend`` (a ``BaseBleakScanner``
subclass passed to ``BleakScanner(..., backend=...)``). The driver itself is the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass
from typing import Any, Literal

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakBluetoothNotAvailableError, BleakDeviceNotFoundError, BleakError

from drivers.clock import Clock
from drivers.device_spec import DeviceSpec
from drivers.mqtt import Backoff
from drivers.protocols.base import FrameError
from drivers.protocols.registry import PROTOCOLS, ProtocolSpec
from drivers.tasks import stop_if_cancelled
from drivers.tracker import DeviceTracker, Sink

log = logging.getLogger(__name__)

_ADDRESS = re.compile(r"^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$")
_UUID = re.compile(r"^[0-9A-Fa-f]{8}-([0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}$")
_SERVICES: dict[str, str] = {
    spec.service_uuid[4:8]: spec.service_uuid
    for spec in PROTOCOLS.values()
    if spec.service_uuid is not None
}
"""The services an endpoint ``service:XXXX`` may name: short UUID -> UUID, from the
protocols' specs."""

Problem = Literal["adapter", "missing", "transient"]


@dataclass(frozen=True, slots=True)
class Classified:
    kind: Problem
    reason: str


def classify(exc: BaseException) -> Classified:
    """What a BLE failure means for retrying, and a one-line reason for people."""
    text = str(exc).strip() or type(exc).__name__
    lowered = text.lower()
    if isinstance(exc, BleakBluetoothNotAvailableError):
        return Classified("adapter", f"Bluetooth is not available: {text}")
    if isinstance(exc, OSError) and not isinstance(exc, TimeoutError | ConnectionError):
        # bleak on Linux without a D-Bus system bus: FileNotFoundError (or another OSError)
        return Classified(
            "adapter",
            f"no Bluetooth adapter reachable (BlueZ over D-Bus is not available: {text})",
        )
    if isinstance(exc, BleakDeviceNotFoundError):
        return Classified("missing", f"device not found ({text}): is it on and in range?")
    if isinstance(exc, TimeoutError):
        return Classified("transient", "timed out")
    if isinstance(exc, BleakError):
        if any(s in lowered for s in ("no bluetooth adapters", "adapter", "powered off",
                                      "org.bluez", "serviceunknown", "not available")):
            return Classified("adapter", f"no Bluetooth adapter reachable: {text}")
        if any(s in lowered for s in ("slot", "out of connections", "conn_cancel")):
            return Classified("transient", f"no free connection slot: {text}")
        if "not found" in lowered:
            return Classified("missing", f"device not found ({text}): is it on and in range?")
        return Classified("transient", text)
    if isinstance(exc, EOFError | ConnectionError):
        return Classified("adapter", f"lost the connection to BlueZ: {text}")
    return Classified("transient", f"{type(exc).__name__}: {text}")


def service_of(protocol: str) -> str:
    """The service UUID of a BLE protocol (``ble-2a35`` -> the Blood Pressure service)."""
    spec = PROTOCOLS.get(protocol)
    if spec is None or spec.transport != "ble" or spec.service_uuid is None:
        known = " ".join(n for n, s in PROTOCOLS.items() if s.transport == "ble")
        raise ValueError(f"{protocol!r} is not a BLE protocol; known: {known}")
    return spec.service_uuid


def service_specs(service_uuid: str) -> tuple[list[ProtocolSpec], list[ProtocolSpec]]:
    """The measurement and feature characteristics the registry knows for a service."""
    specs = [s for s in PROTOCOLS.values() if s.service_uuid == service_uuid]
    return ([s for s in specs if s.role == "measurement"],
            [s for s in specs if s.role == "feature"])


def parse_target(protocol: str, endpoint: str) -> tuple[str | None, str]:
    """``(address, service_uuid)`` for an endpoint: an address, or ``service[:XXXX]``."""
    service = service_of(protocol)
    text = endpoint.strip()
    if _ADDRESS.match(text) or _UUID.match(text):
        return text.upper() if _ADDRESS.match(text) else text, service
    head, _, tail = text.partition(":")
    if head.lower() in ("service", "auto"):
        if tail:
            named = _SERVICES.get(tail.lower().removeprefix("0x"))
            if named is None:
                raise ValueError(
                    f"BLE endpoint {endpoint!r}: service must be 1810, 180d or 1822"
                )
            service = named
        return None, service
    raise ValueError(
        f"BLE endpoint {endpoint!r}: expected an address (AA:BB:CC:DD:EE:FF), a device UUID, "
        "or service[:1810|180d|1822]"
    )


class BleDriver:
    """One BLE device: find, connect, read features, subscribe, deliver; reconnect."""

    def __init__(
        self,
        spec: DeviceSpec,
        chair: str,
        sink: Sink,
        clock: Clock,
        *,
        client_backend: type[BaseBleakClient] | None = None,
        scanner_backend: type[BaseBleakScanner] | None = None,
        scan_timeout_s: float = 10.0,
        connect_timeout_s: float = 20.0,
        op_timeout_s: float = 10.0,
        connect_attempts: int = 3,
        reconnect_max_s: float = 10.0,
        adapter_retry_s: float = 30.0,
        garbage_window_s: float = 10.0,
        refresh_s: float = 10.0,
    ) -> None:
        self.spec = spec
        self.chair = chair
        self.address, self.service_uuid = parse_target(spec.protocol, spec.endpoint)
        self.measurements, self.feature_specs = service_specs(self.service_uuid)
        self.client_backend = client_backend
        self.scanner_backend = scanner_backend
        self.scan_timeout_s = scan_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.op_timeout_s = op_timeout_s
        self.connect_attempts = max(1, connect_attempts)
        self.reconnect_max_s = reconnect_max_s
        self.adapter_retry_s = adapter_retry_s
        self.tracker = DeviceTracker(sink, clock, chair, spec,
                                     garbage_window_s=garbage_window_s, refresh_s=refresh_s)
        self.features: dict[str, Any] = {}
        self.subscribed: list[str] = []
        self.connections = 0
        self.client: BleakClient | None = None
        self._problem: Problem | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    # -- the loop -----------------------------------------------------------------------

    async def run(self) -> None:
        """Until cancelled: keep the device connected and its readings flowing."""
        try:
            async with self.tracker.reporting():
                await self._loop()
        finally:
            await self._close()

    async def _loop(self) -> None:
        backoff = Backoff(maximum=self.reconnect_max_s)
        target = self.address or f"a device advertising service {self.service_uuid[4:8]}"
        self.tracker.link("connecting", f"looking for {target}")
        while True:
            try:
                device = await self._find()
                await self._connect_and_serve(device, backoff)
                reason = "Bluetooth link lost; reconnecting"
                self.tracker.link("disconnected", reason)
                delay = backoff.next()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # classified: every failure is reported, none is fatal
                stop_if_cancelled(exc)
                problem = classify(exc)
                log.debug("%s/%s: %r", self.chair, self.name, exc, exc_info=True)
                if problem.kind == "adapter":
                    delay = self.adapter_retry_s
                    reason = f"{problem.reason}; retrying every {delay:g} s"
                else:
                    delay = backoff.next()
                    reason = problem.reason
                self._problem = problem.kind
                self.tracker.link("disconnected", reason)
            await self._close()
            await asyncio.sleep(delay)

    async def _find(self) -> BLEDevice:
        kwargs: dict[str, Any] = {}
        if self.scanner_backend is not None:
            kwargs["backend"] = self.scanner_backend
        if self.address is not None:
            wanted = self.address.lower()

            def match(device: BLEDevice, adv: AdvertisementData) -> bool:
                return device.address.lower() == wanted
        else:
            service = self.service_uuid

            def match(device: BLEDevice, adv: AdvertisementData) -> bool:
                return service in (u.lower() for u in adv.service_uuids)

            kwargs["service_uuids"] = [service]
        # find_device_by_filter bounds the scan by its own timeout; ours bounds the backend
        async with asyncio.timeout(self.scan_timeout_s + self.op_timeout_s):
            device = await BleakScanner.find_device_by_filter(
                match, timeout=self.scan_timeout_s, **kwargs
            )
        if device is None:
            raise BleakDeviceNotFoundError(
                self.address or self.service_uuid,
                f"no {self.address or 'device with the service'} seen in "
                f"{self.scan_timeout_s:g} s",
            )
        return device

    async def _connect_and_serve(self, device: BLEDevice, backoff: Backoff) -> None:
        loop = asyncio.get_running_loop()
        lost = asyncio.Event()

        def on_disconnect(_: BleakClient) -> None:
            loop.call_soon_threadsafe(lost.set)

        kwargs: dict[str, Any] = {}
        if self.client_backend is not None:
            kwargs["backend"] = self.client_backend
        client = BleakClient(device, disconnected_callback=on_disconnect,
                             timeout=self.connect_timeout_s, **kwargs)
        self.client = client
        for attempt in range(1, self.connect_attempts + 1):
            try:
                async with asyncio.timeout(self.connect_timeout_s + self.op_timeout_s):
                    await client.connect()
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                stop_if_cancelled(exc)
                problem = classify(exc)
                if problem.kind != "transient" or attempt == self.connect_attempts:
                    raise
                delay = backoff.next()
                log.info("%s/%s: connection attempt %d failed (%s); retry in %.2f s",
                         self.chair, self.name, attempt, problem.reason, delay)
                await asyncio.sleep(delay)
        if self.connections:
            self.tracker.reconnected()
        self.connections += 1
        await self._read_features(client)
        await self._subscribe(client)
        backoff.reset()
        self._problem = None
        self.tracker.link("connected", None)
        await lost.wait()

    async def _read_features(self, client: BleakClient) -> None:
        for spec in self.feature_specs:
            uuid = spec.characteristic_uuid
            if uuid is None or spec.features is None:
                continue
            if client.services.get_characteristic(uuid) is None:
                continue
            async with asyncio.timeout(self.op_timeout_s):
                value = await client.read_gatt_char(uuid)
            try:
                self.features[spec.name] = spec.features(bytes(value))
            except FrameError as exc:
                log.warning("%s/%s: unreadable %s: %s", self.chair, self.name, spec.title, exc)
                self.tracker.saw_frames(bad=1, dropped_bytes=len(value), error=str(exc))
            else:
                log.info("%s/%s: %s %s", self.chair, self.name, spec.title,
                         self.features[spec.name])

    async def _subscribe(self, client: BleakClient) -> None:
        self.subscribed = []
        for spec in self.measurements:
            uuid = spec.characteristic_uuid
            if uuid is None or client.services.get_characteristic(uuid) is None:
                continue
            async with asyncio.timeout(self.op_timeout_s):
                await client.start_notify(uuid, self._handler(spec))
            self.subscribed.append(spec.name)
        if not self.subscribed:
            names = " ".join(s.name for s in self.measurements)
            raise BleakError(f"the device offers none of the measurements {names}")

    def _handler(self, spec: ProtocolSpec) -> Any:
        decode = spec.decode
        assert decode is not None

        def on_value(_: BleakGATTCharacteristic, data: bytearray) -> None:
            raw = bytes(data)
            try:
                measurements = decode(raw)
            except FrameError as exc:
                self.tracker.saw_frames(bad=1, dropped_bytes=len(raw), error=str(exc))
                log.debug("%s/%s: %s", self.chair, self.name, exc)
                return
            self.tracker.saw_frames(good=1)
            try:
                for measurement in measurements:
                    self.tracker.deliver(measurement, spec.name)
            except Exception:  # a bug downstream must not break bleak's notification path
                log.exception("%s/%s: delivering a %s reading failed", self.chair, self.name,
                              spec.name)

        return on_value

    async def _close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.op_timeout_s):
                await client.disconnect()


__all__ = ["BleDriver", "Classified", "classify", "parse_target", "service_of", "service_specs"]
