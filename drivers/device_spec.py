"""A device as it is configured: its name, protocol, endpoint and baud rate.

A device is written ``[NAME=]PROTOCOL:ENDPOINT[@BAUD]`` on the command line, e.g.
``nonin-8:/dev/ttyUSB0``, ``oximeter=masimo:socket://10.0.0.7:4001@9600``,
``ble-2a35:C4:7F:51:00:00:01`` or ``ble-2a37:service:180d`` (the first heart-rate monitor
that advertises the service). In ``config.toml`` the same fields are a
``[[gateway.chairs.ID]]`` table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Protocol

from drivers.errors import ChairsideError
from drivers.protocols.registry import PROTOCOLS
from drivers.topics import TopicError, check_ident


class DeviceSpecError(ChairsideError, ValueError):
    """A device spec that cannot be used; the message names the spec and what is wrong."""


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
    """The device name a protocol's devices get when none is given (its protocol spec's)."""
    spec = PROTOCOLS.get(protocol)
    return spec.device_name if spec is not None and spec.device_name else protocol


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


def check_protocol(protocol: str) -> str:
    """The transport (``serial`` or ``ble``) of a device protocol, or DeviceSpecError."""
    spec = PROTOCOLS.get(protocol)
    usable = " ".join(n for n, s in PROTOCOLS.items() if s.role == "measurement")
    if spec is None or spec.role != "measurement":
        raise DeviceSpecError(f"unknown device protocol {protocol!r}; use one of: {usable}")
    return spec.transport


__all__ = [
    "DeviceSpec",
    "DeviceSpecError",
    "EntryLike",
    "check_protocol",
    "default_name",
    "parse_device_spec",
    "spec_from_entry",
    "unique_names",
]
