"""For every protocol: bytes from a simulated device travel through the real transport (a
pseudo-terminal, or bleak with the simulated backend) and the real driver and gateway to a
Reading on a real broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.ble_driver import BleDriver
from drivers.device_spec import DeviceSpec
from drivers.devices import DriverOptions, make_driver
from drivers.gateway import Gateway
from drivers.wire import DeviceStatus, Reading
from simulators.devices import SimBleHub, make_sim
from simulators.devices.serial import Hl7MonitorSim, NoninSim
from tests.brokers import Broker
from tests.devices.helpers import context, pty_dir
from tests.integration.helpers import Observer, running, site_filters, unique_site

pytestmark = pytest.mark.broker

OPTIONS = DriverOptions(reconnect_max_s=0.5, scan_timeout_s=2.0)
SERIAL = ["nonin-2", "nonin-7", "nonin-8", "nonin-ascii", "masimo", "hl7"]
BLE = ["ble-2a35", "ble-2a37", "ble-2a5e", "ble-2a5f"]
NAMES = {"hl7": "monitor", "ble-2a35": "bp-cuff", "ble-2a37": "hr-monitor"}


def _close_to_patient(reading: Reading, sim_ctx_value: float, name: str) -> None:
    value = reading.number(name)
    assert value is not None, reading
    assert abs(value - sim_ctx_value) <= 3, (name, value, sim_ctx_value)


@pytest.mark.parametrize("protocol", SERIAL + BLE)
async def test_device_bytes_become_readings_on_the_broker(
    protocol: str, broker: Broker, tmp_path: Path
) -> None:
    site, chair = unique_site(), "chair-1"
    name = NAMES.get(protocol, "oximeter")
    ctx = context(speed=20.0)
    hub = SimBleHub()
    sim = make_sim(protocol, ctx, name=name, chair=chair, hub=hub, pty_dir=pty_dir(tmp_path),
                   max_hz=10.0, cuff_interval_min=1.0)
    if isinstance(sim, Hl7MonitorSim):
        sim.period_s = 1.0
    mqtt = broker.settings
    gateway = Gateway(mqtt, site, chair, ctx.clock)
    driver = make_driver(DeviceSpec(name, protocol, sim.endpoint), chair, gateway, ctx.clock,
                         OPTIONS, ble_client_backend=hub.client_backend(),
                         ble_scanner_backend=hub.scanner_backend())
    observer = Observer(mqtt, site_filters(site))
    wanted_kind = {"ble-2a35": "blood_pressure", "ble-2a37": "heart_rate"}.get(protocol, "spo2")
    async with running(observer.run(), gateway.run()):
        await observer.subscribed()
        async with running(sim.run(), driver.run()):
            reading = await observer.wait_for(
                lambda p: isinstance(p, Reading) and p.kind == wanted_kind and p.source == protocol,
                within=20,
            )
            status = await observer.wait_for(
                lambda p: isinstance(p, DeviceStatus) and p.state == "connected"
            )
            if protocol == "hl7":  # one monitor, three kinds of reading
                for kind in ("heart_rate", "blood_pressure"):
                    await observer.wait_for(
                        lambda p, k=kind: isinstance(p, Reading) and p.kind == k  # type: ignore[misc]
                    )
    assert reading.chair == chair and reading.device == name
    assert reading.quality in ("valid", "questionable")
    assert reading.seq is not None
    t = ctx.t(reading.received_at)
    vitals = ctx.vitals(t)
    if wanted_kind == "spo2":
        _close_to_patient(reading, vitals.spo2, "spo2")
    elif wanted_kind == "heart_rate":
        _close_to_patient(reading, vitals.heart_rate, "heart_rate")
    else:
        _close_to_patient(reading, vitals.systolic, "systolic")
        _close_to_patient(reading, vitals.diastolic, "diastolic")
    assert status.device == name and status.source == protocol
    assert status.endpoint == sim.endpoint
    if isinstance(sim, Hl7MonitorSim):
        assert sim.acks and all(a.code == "AA" for a in sim.acks)
        kinds = {p.kind for p in observer.payloads(Reading)}
        assert {"spo2", "heart_rate", "blood_pressure"} <= kinds
    if isinstance(driver, BleDriver):
        assert driver.subscribed


async def test_cuff_sends_cuff_pressure_while_inflating_then_the_result(
    broker: Broker, tmp_path: Path
) -> None:
    site, chair = unique_site(), "chair-1"
    ctx = context(speed=30.0)
    hub = SimBleHub()
    sim = make_sim("ble-2a35", ctx, name="bp-cuff", chair=chair, hub=hub, max_hz=20.0,
                   cuff_interval_min=60.0)
    gateway = Gateway(broker.settings, site, chair, ctx.clock)
    driver = make_driver(DeviceSpec("bp-cuff", "ble-2a35", sim.endpoint), chair, gateway,
                         ctx.clock, OPTIONS, ble_client_backend=hub.client_backend(),
                         ble_scanner_backend=hub.scanner_backend())
    assert isinstance(driver, BleDriver)
    observer = Observer(broker.settings, site_filters(site))
    async with running(observer.run(), gateway.run()):
        await observer.subscribed()
        async with running(sim.run(), driver.run()):
            await observer.wait_for(lambda p: isinstance(p, DeviceStatus)
                                    and p.state == "connected")
            # the cycle's first measurement may have started before the link: ask for one
            first = len(observer.payloads(Reading))
            sim.request()  # type: ignore[attr-defined]
            await observer.wait_for(
                lambda p: isinstance(p, Reading) and p.kind == "blood_pressure"
                and observer.payloads(Reading).index(p) >= first,
                within=20,
            )
    readings = [r for r in observer.payloads(Reading)][first:]
    kinds = [r.kind for r in readings]
    result = kinds.index("blood_pressure")
    pressures = [r.values["cuff_pressure"] for r in readings[:result]
                 if r.kind == "cuff_pressure"]
    assert len(pressures) >= 5, kinds
    top = max(pressures)
    assert pressures.index(top) > 0  # it rose, then fell
    assert pressures[-1] < top
    assert all(r.source == "ble-2a36" for r in readings[:result] if r.kind == "cuff_pressure")
    bp = readings[result]
    assert bp.source == "ble-2a35" and bp.values["systolic"] > bp.values["diastolic"]
    assert top > bp.values["systolic"]
    assert driver.features["ble-2a49"]["body_movement_detection"] is True
    assert sorted(driver.subscribed) == ["ble-2a35", "ble-2a36"]


async def test_plx_features_are_read_at_connection(tmp_path: Path) -> None:
    from tests.devices.helpers import ListSink, cancel, wait_until

    ctx = context(speed=10.0)
    hub = SimBleHub()
    sim = make_sim("ble-2a5f", ctx, name="oximeter", chair="c", hub=hub, max_hz=10.0)
    sink = ListSink()
    driver = make_driver(DeviceSpec("oximeter", "ble-2a5f", "service:1822"), "c", sink,
                         ctx.clock, OPTIONS, ble_client_backend=hub.client_backend(),
                         ble_scanner_backend=hub.scanner_backend())
    assert isinstance(driver, BleDriver)
    import asyncio

    tasks = [asyncio.create_task(sim.run()), asyncio.create_task(driver.run())]
    try:
        await wait_until(lambda: len(sink.readings) >= 3, what="PLX readings")
    finally:
        await cancel(*tasks)
    features = driver.features["ble-2a60"]
    assert features["pulse_amplitude_index"] is True
    assert features["supported_device_status"]["sensor_off"] is True
    assert all(r.source == "ble-2a5f" and "perfusion_index" in r.values for r in sink.readings)


async def test_nonin_format_is_selected_at_connection(tmp_path: Path) -> None:
    """The oximeter streams #8; the driver for nonin-2 asks for #2, gets ACK, decodes #2."""
    import asyncio

    from tests.devices.helpers import ListSink, cancel, wait_until

    ctx = context(speed=5.0)
    sim = NoninSim(ctx, pty_dir(tmp_path) / "ox", fmt=8, max_hz=10.0)
    sink = ListSink()
    driver = make_driver(DeviceSpec("oximeter", "nonin-2", sim.endpoint), "c", sink,
                         ctx.clock, OPTIONS)
    tasks = [asyncio.create_task(sim.run())]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(driver.run()))
    try:
        await wait_until(lambda: len(sink.readings) >= 3, what="readings in format #2")
    finally:
        await cancel(*tasks)
    assert sim.selects and sim.selects[0].format == 2 and sim.selects[0].accepted
    assert sim.format == 2
    assert all(r.source == "nonin-2" for r in sink.readings)
    assert sink.statuses[-1].state == "connected"


async def test_nonin_format_refused_is_reported(tmp_path: Path) -> None:
    """A model that cannot send #7 answers NAK: the device is shown degraded with why."""
    import asyncio

    from tests.devices.helpers import ListSink, cancel, wait_until

    ctx = context(speed=5.0)
    sim = NoninSim(ctx, pty_dir(tmp_path) / "ox", fmt=8, supported=(2, 8), max_hz=10.0)
    sink = ListSink()
    driver = make_driver(DeviceSpec("oximeter", "nonin-7", sim.endpoint), "c", sink,
                         ctx.clock, OPTIONS)
    tasks = [asyncio.create_task(sim.run())]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(driver.run()))
    try:
        await wait_until(lambda: any(s.state == "degraded" and "NAK" in (s.reason or "")
                                     for s in sink.statuses), what="degraded (NAK)")
    finally:
        await cancel(*tasks)
    assert sim.selects[0].format == 7 and not sim.selects[0].accepted
    assert sim.format == 8
