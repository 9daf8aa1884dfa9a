"""Simulated BLE devices shared between processes: ``chairside simulate`` serves its
peripherals, and a gateway started with ``--ble simulated`` sees them, through Unix sockets in
one folder (the "air").

The gateway's bleak backends stay those of `simulators.devices.ble`: each peripheral served in
the air appears in the gateway's own `SimBleHub` as a mirror, a `SimPeripheral` whose GATT
table, values and advertising follow the served one. A BLE connection, a subscription or a
write to the mirror goes to the serving process, and every notification or indication the
served peripheral sends to a subscribed connection comes back and is delivered to the
mirror's clients: the same bytes the device would send, through the real BLE driver.

One socket per peripheral, ``<air>/<ADDRESS without colons>.sock``; it exists while the
device is on (advertising or not). Messages are JSON lines, values in hex:

* served -> gateway: ``table`` (on accept: name, services, characteristics and values),
  ``value``, ``notify``, ``advertising``, ``drop`` (the link dropped);
* gateway -> served: ``connect``, ``disconnect``, ``subscribe``, ``unsubscribe``, ``write``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from pathlib import Path
from typing import Any, cast

from bleak.assigned_numbers import CharacteristicPropertyName
from bleak.exc import BleakError

from .ble import SimBleHub, SimCharacteristic, SimPeripheral, SimService
from .pty import default_dir

log = logging.getLogger(__name__)

POLL_S = 0.1
"""How often each side looks at what changed (peripherals joining, advertising)."""


def default_air() -> Path:
    """``$XDG_RUNTIME_DIR/chairside/ble-air`` or ``/tmp/chairside-UID/ble-air``."""
    return default_dir() / "ble-air"


def socket_path(air: Path, address: str) -> Path:
    return air / (address.upper().replace(":", "") + ".sock")


def _line(**fields: Any) -> bytes:
    return (json.dumps(fields, separators=(",", ":")) + "\n").encode()


# -- the serving side (``chairside simulate``) -------------------------------------------


class _Remote:
    """A gateway's connection to a served peripheral, attached to it like a local client."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.subscribed: set[str] = set()

    def deliver(self, uuid: str, value: bytes) -> bool:
        if uuid not in self.subscribed or self.writer.is_closing():
            return False
        self.writer.write(_line(t="notify", uuid=uuid, value=value.hex()))
        return True

    def lost(self) -> None:
        self.subscribed.clear()
        if not self.writer.is_closing():
            self.writer.write(_line(t="drop"))


class AirServer:
    """Serves every peripheral of ``hub`` in ``air`` while it is in the hub."""

    def __init__(self, hub: SimBleHub, air: Path) -> None:
        self.hub = hub
        self.air = air
        self._servers: dict[str, asyncio.Server] = {}
        self._writers: dict[str, set[asyncio.StreamWriter]] = {}

    async def run(self) -> None:
        self.air.mkdir(parents=True, exist_ok=True)
        try:
            while True:
                await self._sync()
                await asyncio.sleep(POLL_S)
        finally:
            for address in list(self._servers):
                self._stop(address)

    async def _sync(self) -> None:
        for address, peripheral in list(self.hub.peripherals.items()):
            if address not in self._servers:
                path = socket_path(self.air, address)
                path.unlink(missing_ok=True)  # left by a process that was killed
                self._servers[address] = await asyncio.start_unix_server(
                    functools.partial(self._serve, peripheral), path=str(path))
        for address in [a for a in self._servers if a not in self.hub.peripherals]:
            self._stop(address)

    def _stop(self, address: str) -> None:
        """The device is off: no longer served, and every gateway's link to it ends."""
        server = self._servers.pop(address)
        server.close()
        for writer in self._writers.pop(address, set()):
            writer.close()
        socket_path(self.air, address).unlink(missing_ok=True)

    async def _serve(self, peripheral: SimPeripheral, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        remote = _Remote(writer)
        self._writers.setdefault(peripheral.address, set()).add(writer)
        writer.write(_line(t="table", address=peripheral.address, name=peripheral.name,
                           advertising=peripheral.advertising,
                           services=[_service(s) for s in peripheral.services]))
        watch = asyncio.create_task(self._watch(peripheral, writer))
        try:
            while line := await reader.readline():
                self._apply(peripheral, remote, json.loads(line))
                await writer.drain()
        except (ConnectionError, ValueError, KeyError, TypeError, BleakError) as exc:
            # A broken or garbled link ends that link only; the device stays served.
            log.info("simulated BLE %s: gateway link closed (%s)", peripheral.address, exc)
        finally:
            watch.cancel()
            peripheral._detach(remote)
            self._writers.get(peripheral.address, set()).discard(writer)
            writer.close()

    @staticmethod
    def _apply(peripheral: SimPeripheral, remote: _Remote, message: dict[str, Any]) -> None:
        kind = message.get("t")
        if kind == "connect":
            peripheral._attach(remote)
            for char in (c for s in peripheral.services for c in s.characteristics):
                remote.writer.write(_line(t="value", uuid=char.uuid, value=char.value.hex()))
        elif kind == "disconnect":
            remote.subscribed.clear()
            peripheral._detach(remote)
        elif kind == "subscribe":
            remote.subscribed.add(str(message["uuid"]))
        elif kind == "unsubscribe":
            remote.subscribed.discard(str(message["uuid"]))
        elif kind == "write":
            char = peripheral.characteristic(str(message["uuid"]))
            if char.on_write is not None:
                char.on_write(bytes.fromhex(str(message["value"])))

    @staticmethod
    async def _watch(peripheral: SimPeripheral, writer: asyncio.StreamWriter) -> None:
        """Tell the gateway when the device starts or stops advertising."""
        shown = peripheral.advertising
        while True:
            await asyncio.sleep(POLL_S / 2)
            if peripheral.advertising != shown:
                shown = peripheral.advertising
                writer.write(_line(t="advertising", on=shown))


def _service(service: SimService) -> dict[str, Any]:
    return {"uuid": service.uuid, "characteristics": [
        {"uuid": c.uuid, "properties": list(c.properties), "value": c.value.hex()}
        for c in service.characteristics]}


# -- the gateway side ----------------------------------------------------------------------


class MirroredPeripheral(SimPeripheral):
    """A peripheral served by another process, as this process's hub shows it."""

    def __init__(self, address: str, name: str, services: list[SimService],
                 writer: asyncio.StreamWriter) -> None:
        super().__init__(address, name, services)
        self._writer = writer
        for char in self._chars.values():
            char.on_write = lambda value, uuid=char.uuid: self._send(
                t="write", uuid=uuid, value=value.hex())

    def _send(self, **fields: Any) -> None:
        if not self._writer.is_closing():
            self._writer.write(_line(**fields))

    def _attach(self, client: Any) -> None:
        if not self._clients:
            self._send(t="connect")
        super()._attach(client)

    def _detach(self, client: Any) -> None:
        super()._detach(client)
        if not self._clients:
            self._send(t="disconnect")

    def subscribed(self, uuid: str, on: bool) -> None:
        self._send(t="subscribe" if on else "unsubscribe", uuid=uuid)


class AirLink:
    """Mirrors every peripheral served in ``air`` into ``hub`` while it is served."""

    def __init__(self, hub: SimBleHub, air: Path) -> None:
        self.hub = hub
        self.air = air
        self._links: dict[Path, asyncio.Task[None]] = {}

    async def run(self) -> None:
        try:
            while True:
                self._sync()
                await asyncio.sleep(POLL_S)
        finally:
            for task in self._links.values():
                task.cancel()
            await asyncio.gather(*self._links.values(), return_exceptions=True)

    def _sync(self) -> None:
        for path in self.air.glob("*.sock") if self.air.is_dir() else ():
            task = self._links.get(path)
            if task is None or task.done():
                self._links[path] = asyncio.create_task(self._mirror(path))

    async def _mirror(self, path: Path) -> None:
        try:
            reader, writer = await asyncio.open_unix_connection(str(path))
        except OSError:
            return  # not served (any more): the next look may find it again
        peripheral: MirroredPeripheral | None = None
        try:
            table = json.loads(await reader.readline() or b"null")
            if not isinstance(table, dict) or table.get("t") != "table":
                return
            peripheral = MirroredPeripheral(str(table["address"]), str(table["name"]),
                                            [_from_wire(s) for s in table["services"]],
                                            writer)
            peripheral.advertising = bool(table["advertising"])
            self.hub.add(peripheral)
            while line := await reader.readline():
                _follow(peripheral, json.loads(line))
        except (ConnectionError, ValueError, KeyError, TypeError, BleakError) as exc:
            log.info("simulated BLE air %s: %s", path.name, exc)
        finally:
            if peripheral is not None and self.hub.peripherals.get(
                    peripheral.address) is peripheral:
                self.hub.remove(peripheral.address)
            writer.close()


def _from_wire(service: dict[str, Any]) -> SimService:
    return SimService(str(service["uuid"]), [
        SimCharacteristic(str(c["uuid"]),
                          cast(list[CharacteristicPropertyName], list(c["properties"])),
                          bytes.fromhex(str(c["value"])))
        for c in service["characteristics"]])


def _follow(peripheral: MirroredPeripheral, message: dict[str, Any]) -> None:
    kind = message.get("t")
    if kind == "notify":
        peripheral.notify(str(message["uuid"]), bytes.fromhex(str(message["value"])))
    elif kind == "value":
        peripheral.characteristic(str(message["uuid"])).value = bytes.fromhex(
            str(message["value"]))
    elif kind == "advertising":
        peripheral.advertising = bool(message["on"])
    elif kind == "drop":
        with contextlib.suppress(Exception):
            SimPeripheral.drop(peripheral)


__all__ = ["AirLink", "AirServer", "MirroredPeripheral", "default_air", "socket_path"]
