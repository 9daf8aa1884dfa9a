"""Simulated BLE devices served to another process: the gateway's hub mirrors what a
``chairside simulate`` hub serves, and the real BLE driver reads it, link losses included.
(Two hubs in one test process stand for the two processes; the command test runs both.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from drivers.device_spec import DeviceSpec
from drivers.devices import DriverOptions, make_driver
from simulators.devices import SimBleHub, make_sim
from simulators.devices.ble_air import AirLink, AirServer, socket_path
from tests.devices.helpers import ListSink, cancel, context, wait_until

# The mirror's polling, rescans and backoff run on the loop's fake clock.
pytestmark = pytest.mark.looptime

OPTIONS = DriverOptions(reconnect_max_s=0.5, scan_timeout_s=1.0, adapter_retry_s=0.5)


async def test_a_served_device_is_read_through_the_mirror(tmp_path: Path) -> None:
    air = tmp_path / "air"
    ctx = context(speed=10.0)
    serving, gateway = SimBleHub(), SimBleHub()
    sim = make_sim("ble-2a35", ctx, name="cuff", chair="c", hub=serving, max_hz=10.0,
                   cuff_interval_min=1.0)
    served = sim.peripheral  # type: ignore[attr-defined]
    sink = ListSink()
    driver = make_driver(DeviceSpec("cuff", "ble-2a35", sim.endpoint), "c", sink, ctx.clock,
                         OPTIONS, ble_client_backend=gateway.client_backend(),
                         ble_scanner_backend=gateway.scanner_backend())
    tasks = [asyncio.create_task(c) for c in (sim.run(), AirServer(serving, air).run(),
                                              AirLink(gateway, air).run())]
    await wait_until(lambda: socket_path(air, sim.endpoint).exists(), what="served")
    tasks.append(asyncio.create_task(driver.run()))
    try:
        await wait_until(lambda: any(r.kind == "blood_pressure" for r in sink.readings),
                         what="a blood pressure through the mirror", within=20)
        assert any(r.kind == "cuff_pressure" for r in sink.readings)  # indications relayed
        assert served.connections == 1 and served.notifications > 0
        mirror = gateway.peripherals[sim.endpoint]
        assert mirror.name == served.name and mirror.service_uuids == served.service_uuids
        # the served device drops the link: the driver sees it and reconnects
        served.drop()
        await wait_until(lambda: "disconnected" in sink.states(), what="disconnected")
        await wait_until(lambda: sink.statuses[-1].state == "connected", what="connected again")
        assert served.connections == 2
        # the device is switched off: no longer served, the mirror leaves the gateway's air
        sim.close()  # type: ignore[attr-defined]
        await wait_until(lambda: sim.endpoint not in gateway.peripherals, what="gone")
        assert not socket_path(air, sim.endpoint).exists()
    finally:
        await cancel(*tasks)


async def test_a_garbled_link_ends_alone_and_the_device_stays_served(tmp_path: Path) -> None:
    air = tmp_path / "air"
    ctx = context(speed=10.0)
    serving = SimBleHub()
    sim = make_sim("ble-2a37", ctx, name="hr", chair="c", hub=serving, max_hz=10.0)
    tasks = [asyncio.create_task(c) for c in (sim.run(), AirServer(serving, air).run())]
    path = socket_path(air, sim.endpoint)
    try:
        await wait_until(path.exists, what="served")
        for garbage in (b"{not json\n", b'{"t":"write"}\n', b'{"t":"write","uuid":"x","value":"00"}\n'):
            reader, writer = await asyncio.open_unix_connection(str(path))
            assert b'"t":"table"' in await reader.readline()
            writer.write(garbage)
            async with asyncio.timeout(5):
                await reader.read()
            assert reader.at_eof()  # that link is closed ...
            writer.close()
        gateway = SimBleHub()  # ... and a gateway still finds the device
        link = asyncio.create_task(AirLink(gateway, air).run())
        tasks.append(link)
        await wait_until(lambda: sim.endpoint in gateway.peripherals, what="mirrored")
    finally:
        await cancel(*tasks)
