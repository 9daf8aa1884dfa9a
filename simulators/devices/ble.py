"""A simulated Bluetooth LE world for bleak: peripherals in this process, and the bleak
backends (a ``BaseBleakClient`` and a ``BaseBleakScanner`` subclass) that reach them.

The real BLE driver is used unchanged: it is handed ``hub.client_backend()`` and
``hub.scanner_backend()`` and passes them to ``BleakClient(..., backend=...)`` and
``BleakScanner(..., backend=...)``; everything else (finding by address or service,
connecting, reading features, notifications, disconnect callbacks) goes through bleak's own
public classes.

What can be simulated: a peripheral advertising or not (powered off, out of range), a link
dropped by the peripheral (``drop``), values notified or indicated (``notify``), a failing
connection attempt (``fail_next_connects``), and no adapter at all (``adapter_error``: scanning
and connecting raise it, as bleak on Linux without D-Bus raises ``FileNotFoundError``).

The peripherals live in one process; `simulators.devices.ble_air` shares them with another
(``chairside simulate`` serving, ``chairside gateway --ble simulated`` reading).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bleak.args import SizedBuffer
from bleak.assigned_numbers import CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError

log = logging.getLogger(__name__)

ADVERTISING_INTERVAL_S = 0.05


class Link(Protocol):
    """A connection to a peripheral: a local bleak client, or a gateway in another process."""

    def deliver(self, uuid: str, value: bytes) -> bool: ...

    def lost(self) -> None: ...


@dataclass(slots=True)
class SimCharacteristic:
    uuid: str
    properties: list[CharacteristicPropertyName]
    value: bytes = b""
    on_write: Callable[[bytes], None] | None = None


@dataclass(slots=True)
class SimService:
    uuid: str
    characteristics: list[SimCharacteristic] = field(default_factory=list)


class SimPeripheral:
    """One simulated BLE device: its GATT table, its advertising, its connections."""

    def __init__(self, address: str, name: str, services: list[SimService]) -> None:
        self.address = address.upper()
        self.name = name
        self.services = services
        self.advertising = True
        self.fail_next_connects = 0
        self.connections = 0
        self.notifications = 0
        self._chars = {c.uuid: c for s in services for c in s.characteristics}
        self._clients: list[Link] = []

    @property
    def service_uuids(self) -> list[str]:
        return [s.uuid for s in self.services]

    @property
    def connected(self) -> bool:
        return bool(self._clients)

    def characteristic(self, uuid: str) -> SimCharacteristic:
        try:
            return self._chars[uuid.lower()]
        except KeyError:
            raise BleakError(f"{self.address}: no characteristic {uuid}") from None

    def set_value(self, uuid: str, value: bytes) -> None:
        self.characteristic(uuid).value = value

    def notify(self, uuid: str, value: bytes) -> int:
        """Send a notification or indication to every subscribed client; how many got it."""
        delivered = 0
        for client in list(self._clients):
            if client.deliver(uuid.lower(), value):
                delivered += 1
        if delivered:
            self.notifications += 1
        return delivered

    def drop(self) -> None:
        """The link drops (out of range, the device reset): clients see a disconnect."""
        for client in list(self._clients):
            client.lost()
        self._clients.clear()

    def power(self, on: bool) -> None:
        """Off: stop advertising and drop every link. On: advertise again."""
        self.advertising = on
        if not on:
            self.drop()

    def subscribed(self, uuid: str, on: bool) -> None:
        """A client subscribed to ``uuid`` or stopped (a mirror tells the serving process)."""

    # used by the client backend
    def _attach(self, client: Link) -> None:
        self._clients.append(client)
        self.connections += 1

    def _detach(self, client: Link) -> None:
        with contextlib.suppress(ValueError):
            self._clients.remove(client)


class SimBleHub:
    """The simulated air: which peripherals exist, and whether an adapter does."""

    def __init__(self) -> None:
        self.peripherals: dict[str, SimPeripheral] = {}
        self.adapter_error: BaseException | None = None
        self._client_cls: type[SimClient] | None = None
        self._scanner_cls: type[SimScanner] | None = None

    def add(self, peripheral: SimPeripheral) -> SimPeripheral:
        self.peripherals[peripheral.address] = peripheral
        return peripheral

    def remove(self, address: str) -> None:
        peripheral = self.peripherals.pop(address.upper(), None)
        if peripheral is not None:
            peripheral.drop()

    def check_adapter(self) -> None:
        if self.adapter_error is not None:
            raise self.adapter_error

    def client_backend(self) -> type[SimClient]:
        """The ``BaseBleakClient`` subclass for ``BleakClient(..., backend=...)``."""
        if self._client_cls is None:
            self._client_cls = type("SimClientBackend", (SimClient,), {"hub": self})
        return self._client_cls

    def scanner_backend(self) -> type[SimScanner]:
        """The ``BaseBleakScanner`` subclass for ``BleakScanner(..., backend=...)``."""
        if self._scanner_cls is None:
            self._scanner_cls = type("SimScannerBackend", (SimScanner,), {"hub": self})
        return self._scanner_cls


DEFAULT_HUB = SimBleHub()
"""The hub simulated devices join unless given another."""


class SimClient(BaseBleakClient):
    """bleak client backend talking to `SimPeripheral`s of its class's ``hub``."""

    hub: SimBleHub = DEFAULT_HUB

    def __init__(self, address_or_ble_device: BLEDevice | str, **kwargs: Any) -> None:
        kwargs.setdefault("disconnected_callback", None)
        kwargs.setdefault("timeout", 10.0)
        super().__init__(address_or_ble_device, **kwargs)
        self._peripheral: SimPeripheral | None = None
        self._subscriptions: dict[str, NotifyCallback] = {}
        self._by_handle: dict[int, str] = {}

    @property
    def name(self) -> str:
        return self._peripheral.name if self._peripheral else self.address

    @property
    def mtu_size(self) -> int:
        return 247

    @property
    def is_connected(self) -> bool:
        return self._peripheral is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        self.hub.check_adapter()
        await asyncio.sleep(0.01)  # the link layer takes a moment
        peripheral = self.hub.peripherals.get(self.address.upper())
        if peripheral is None or not peripheral.advertising:
            raise BleakDeviceNotFoundError(
                self.address, f"Device with address {self.address} was not found."
            )
        if peripheral.fail_next_connects > 0:
            peripheral.fail_next_connects -= 1
            raise TimeoutError(f"connection to {self.address} timed out (simulated)")
        self.services = self._collection(peripheral)
        self._peripheral = peripheral
        peripheral._attach(self)

    def _collection(self, peripheral: SimPeripheral) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        handle = 1
        for service in peripheral.services:
            gatt_service = BleakGATTService(None, handle, service.uuid)
            collection.add_service(gatt_service)
            handle += 1
            for char in service.characteristics:
                collection.add_characteristic(
                    BleakGATTCharacteristic(char, handle + 1, char.uuid, list(char.properties),
                                            lambda: 244, gatt_service)
                )
                self._by_handle[handle + 1] = char.uuid
                handle += 3
        return collection

    async def disconnect(self) -> None:
        peripheral, self._peripheral = self._peripheral, None
        self._subscriptions.clear()
        if peripheral is not None:
            peripheral._detach(self)

    def lost(self) -> None:
        """The peripheral dropped the link: an unsolicited disconnect."""
        if self._peripheral is None:
            return
        self._peripheral = None
        self._subscriptions.clear()
        callback = self._disconnected_callback
        if callback is not None:
            asyncio.get_running_loop().call_soon(callback)

    def deliver(self, uuid: str, value: bytes) -> bool:
        callback = self._subscriptions.get(uuid)
        if callback is None:
            return False
        callback(bytearray(value))
        return True

    def _peer(self) -> SimPeripheral:
        if self._peripheral is None:
            raise BleakError("Not connected")
        return self._peripheral

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def unpair(self) -> None:
        return None

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False,
        **kwargs: Any,
    ) -> bytearray:
        char = self._peer().characteristic(characteristic.uuid)
        if "read" not in char.properties:
            raise BleakError(f"characteristic {char.uuid} cannot be read")
        return bytearray(char.value)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        raise BleakError("the simulated devices have no readable descriptors")

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        char = self._peer().characteristic(characteristic.uuid)
        if char.on_write is None:
            raise BleakError(f"characteristic {char.uuid} cannot be written")
        char.on_write(bytes(data))

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        raise BleakError("the simulated devices have no writable descriptors")

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback,
        **kwargs: Any,
    ) -> None:
        char = self._peer().characteristic(characteristic.uuid)
        if "notify" not in char.properties and "indicate" not in char.properties:
            raise BleakError(f"characteristic {char.uuid} neither notifies nor indicates")
        self._subscriptions[char.uuid] = callback
        self._peer().subscribed(char.uuid, True)

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        if self._subscriptions.pop(characteristic.uuid, None) is not None and self._peripheral:
            self._peripheral.subscribed(characteristic.uuid, False)


class SimScanner(BaseBleakScanner):
    """bleak scanner backend: reports the advertising peripherals of its class's ``hub``."""

    hub: SimBleHub = DEFAULT_HUB

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.hub.check_adapter()
        self.seen_devices = {}
        self._task = asyncio.create_task(self._advertise(), name="sim-ble-scan")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _advertise(self) -> None:
        while True:
            for peripheral in list(self.hub.peripherals.values()):
                if not peripheral.advertising:
                    continue
                adv = AdvertisementData(
                    local_name=peripheral.name,
                    manufacturer_data={},
                    service_data={},
                    service_uuids=peripheral.service_uuids,
                    tx_power=None,
                    rssi=-58,
                    platform_data=(),
                )
                if not self.is_allowed_uuid(adv.service_uuids):
                    continue
                device = self.create_or_update_device(
                    peripheral.address, peripheral.address, peripheral.name, None, adv
                )
                self.call_detection_callbacks(device, adv)
            await asyncio.sleep(ADVERTISING_INTERVAL_S)


__all__ = [
    "DEFAULT_HUB",
    "Link",
    "SimBleHub",
    "SimCharacteristic",
    "SimClient",
    "SimPeripheral",
    "SimScanner",
    "SimService",
]
