"""Building drivers: the options a gateway gives them, and the factory that picks the serial
or the BLE driver for a device spec, as its protocol says."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from drivers.ble_driver import BleDriver
from drivers.clock import Clock
from drivers.device_spec import DeviceSpec, DeviceSpecError, check_protocol
from drivers.protocols.registry import PROTOCOLS
from drivers.serial_driver import SerialDriver
from drivers.tracker import DeviceTracker, Sink


@dataclass(frozen=True, slots=True)
class DriverOptions:
    """Tuning shared by the drivers of one gateway (defaults suit a clinic)."""

    reconnect_max_s: float = 10.0
    garbage_window_s: float = 10.0
    refresh_s: float = 10.0
    silence_s: float | None = None
    """None: the protocol's own (`ProtocolSpec.silence_s`); 0: never."""
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
    options = options or DriverOptions()
    transport = check_protocol(spec.protocol)
    if spec.simulated:
        raise DeviceSpecError(
            f"device {spec.label()}: simulated endpoints are run by the gateway command or "
            "the demo, which start the simulated device first"
        )
    protocol = PROTOCOLS[spec.protocol]
    if transport == "serial":
        assert protocol.framer is not None
        silence = options.silence_s if options.silence_s is not None else protocol.silence_s
        return SerialDriver(
            spec, chair, sink, clock, protocol.framer,
            silence_s=silence or None,
            reconnect_max_s=options.reconnect_max_s,
            select_timeout_s=options.select_timeout_s,
            garbage_window_s=options.garbage_window_s,
            refresh_s=options.refresh_s,
        )
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


__all__ = ["Driver", "DriverOptions", "make_driver"]
