"""Devices that go away and come back, noisy lines, no Bluetooth adapter: the drivers say
what is wrong in the device status and recover on their own."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from drivers.device_spec import DeviceSpec
from drivers.devices import DriverOptions, make_driver
from drivers.gateway import Gateway
from drivers.serial_driver import ThreadPort
from drivers.wire import DeviceStatus, Reading
from simulators.devices import SimBleHub, make_sim
from tests.brokers import Broker
from tests.devices.helpers import ListSink, cancel, context, pty_dir, wait_until
from tests.integration.helpers import Observer, running, site_filters, unique_site

# Every wait here (backoff, silence, rescans, the tests' own) runs on the loop's fake clock.
pytestmark = pytest.mark.looptime

OPTIONS = DriverOptions(reconnect_max_s=0.5, scan_timeout_s=1.0, garbage_window_s=1.0,
                        adapter_retry_s=0.5)


def _exists(path: str) -> bool:
    return os.path.lexists(path)


def _start(*coros: object) -> list[asyncio.Task[None]]:
    return [asyncio.create_task(c) for c in coros]  # type: ignore[arg-type]


@pytest.mark.parametrize("protocol", ["nonin-8", "masimo", "hl7"])
async def test_serial_device_unplugged_and_replugged_reconnects(
    protocol: str, tmp_path: Path
) -> None:
    ctx = context(speed=10.0)
    name = "monitor" if protocol == "hl7" else "oximeter"
    sim = make_sim(protocol, ctx, name=name, chair="c", pty_dir=pty_dir(tmp_path), max_hz=10.0)
    if protocol == "hl7":
        sim.period_s = 1.0  # type: ignore[attr-defined]
    sink = ListSink()
    driver = make_driver(DeviceSpec(name, protocol, sim.endpoint), "c", sink, ctx.clock, OPTIONS)
    tasks = _start(sim.run())
    await asyncio.sleep(0)
    tasks += _start(driver.run())
    try:
        await wait_until(lambda: len(sink.readings) >= 2, what="first readings")
        # Only what follows the pull counts: on a busy machine the driver may have reported
        # an earlier disconnection of its own (a slow start read as silence) and reconnected.
        pulled = len(sink.statuses)
        sim.forced.add("disconnect")  # the cable is pulled: the path vanishes
        await wait_until(lambda: not _exists(sim.endpoint), what="the path removed")
        await wait_until(lambda: any(s.state == "disconnected" for s in sink.statuses[pulled:]),
                         what="disconnected")
        gone = [s for s in sink.statuses[pulled:] if s.state == "disconnected"]
        await asyncio.sleep(0.6)  # reopening fails meanwhile (no such file)
        assert any("cannot open" in (s.reason or "") for s in sink.statuses)
        before = len(sink.readings)
        sim.forced.discard("disconnect")  # plugged back in (a new pseudo-terminal)
        await wait_until(lambda: len(sink.readings) >= before + 2, what="readings again")
        await wait_until(lambda: sink.statuses[-1].state == "connected", what="connected")
    finally:
        await cancel(*tasks)
    assert gone[0].reason and sim.endpoint in gone[0].reason
    assert sink.statuses[-1].counters.reconnects >= 1
    seqs = [r.seq or 0 for r in sink.readings]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_serial_port_that_goes_silent_is_reported_and_reopened(tmp_path: Path) -> None:
    ctx = context(speed=10.0)
    sim = make_sim("nonin-8", ctx, name="oximeter", chair="c", pty_dir=pty_dir(tmp_path),
                   max_hz=10.0)
    sink = ListSink()
    options = DriverOptions(reconnect_max_s=0.5, silence_s=0.6)
    driver = make_driver(DeviceSpec("oximeter", "nonin-8", sim.endpoint), "c", sink,
                         ctx.clock, options)
    tasks = _start(sim.run())
    await asyncio.sleep(0)
    tasks += _start(driver.run())
    try:
        await wait_until(lambda: len(sink.readings) >= 2, what="first readings")
        opened = driver.opened  # type: ignore[attr-defined]
        sim.forced.add("dropout")  # still plugged in, sends nothing
        await wait_until(lambda: any(s.state == "degraded" and "no data" in (s.reason or "")
                                     for s in sink.statuses), what="degraded: no data")
        await wait_until(lambda: driver.opened > opened, what="port reopened")  # type: ignore[attr-defined]
        sim.forced.discard("dropout")
        before = len(sink.readings)
        await wait_until(lambda: len(sink.readings) > before, what="data again")
        await wait_until(lambda: sink.statuses[-1].state == "connected", what="connected")
    finally:
        await cancel(*tasks)


async def test_ble_link_dropped_and_device_away_reconnects() -> None:
    ctx = context(speed=10.0)
    hub = SimBleHub()
    sim = make_sim("ble-2a37", ctx, name="hr-monitor", chair="c", hub=hub, max_hz=10.0)
    sink = ListSink()
    driver = make_driver(DeviceSpec("hr-monitor", "ble-2a37", sim.endpoint), "c", sink,
                         ctx.clock, OPTIONS, ble_client_backend=hub.client_backend(),
                         ble_scanner_backend=hub.scanner_backend())
    tasks = _start(sim.run())
    await asyncio.sleep(0)
    tasks += _start(driver.run())
    peripheral = sim.peripheral  # type: ignore[attr-defined]
    try:
        await wait_until(lambda: len(sink.readings) >= 2, what="first readings")
        peripheral.drop()  # a simulated link loss
        await wait_until(lambda: "disconnected" in sink.states(), what="disconnected")
        before = len(sink.readings)
        await wait_until(lambda: len(sink.readings) >= before + 2, what="readings again")
        sim.forced.add("disconnect")  # the device goes away for a while
        await wait_until(lambda: sink.states()[-1] == "disconnected", what="disconnected again")
        await asyncio.sleep(1.5)  # rescans find nothing meanwhile
        assert any("not found" in (s.reason or "") for s in sink.statuses)
        sim.forced.discard("disconnect")
        before = len(sink.readings)
        await wait_until(lambda: len(sink.readings) >= before + 2, what="readings after return")
    finally:
        await cancel(*tasks)
    assert sink.statuses[-1].state == "connected"
    assert sink.statuses[-1].counters.reconnects >= 2
    assert peripheral.connections >= 3


async def test_ble_transient_connect_failures_are_retried() -> None:
    ctx = context(speed=10.0)
    hub = SimBleHub()
    sim = make_sim("ble-2a37", ctx, name="hr-monitor", chair="c", hub=hub, max_hz=10.0)
    sim.peripheral.fail_next_connects = 2  # type: ignore[attr-defined]
    sink = ListSink()
    driver = make_driver(DeviceSpec("hr-monitor", "ble-2a37", sim.endpoint), "c", sink,
                         ctx.clock, OPTIONS, ble_client_backend=hub.client_backend(),
                         ble_scanner_backend=hub.scanner_backend())
    tasks = _start(sim.run())
    await asyncio.sleep(0)
    tasks += _start(driver.run())
    try:
        await wait_until(lambda: len(sink.readings) >= 1, what="a reading")
    finally:
        await cancel(*tasks)
    # three attempts within one connection round: never shown as disconnected
    assert "disconnected" not in sink.states()


@pytest.mark.broker
@pytest.mark.looptime(False)  # a real broker answers in real time, not the loop's fake time
async def test_garbage_on_a_serial_line_is_counted_and_degraded_while_good_frames_pass(
    broker: Broker, tmp_path: Path
) -> None:
    site, chair = unique_site(), "chair-1"
    ctx = context(speed=10.0)
    sim = make_sim("nonin-8", ctx, name="oximeter", chair=chair, pty_dir=pty_dir(tmp_path),
                   max_hz=10.0)
    gateway = Gateway(broker.settings, site, chair, ctx.clock)
    driver = make_driver(DeviceSpec("oximeter", "nonin-8", sim.endpoint), chair, gateway,
                         ctx.clock, OPTIONS)
    observer = Observer(broker.settings, site_filters(site))
    async with running(observer.run(), gateway.run()):
        await observer.subscribed()
        async with running(sim.run(), driver.run()):
            await observer.wait_for(lambda p: isinstance(p, Reading))
            sim.forced.add("garbage")
            degraded = await observer.wait_for(
                lambda p: isinstance(p, DeviceStatus) and p.state == "degraded")
            during = len(observer.payloads(Reading))
            await asyncio.sleep(1.0)
            good_during_garbage = len(observer.payloads(Reading)) - during
            sim.forced.discard("garbage")
            recovered = await observer.wait_for(
                lambda p: isinstance(p, DeviceStatus) and p.state == "connected"
                and p.counters.bad_frames > 0, within=10)
    assert degraded.reason and "unreadable data" in degraded.reason
    assert good_during_garbage >= 3  # good frames still get through
    assert recovered.counters.bad_frames > 0 and recovered.counters.dropped_bytes > 0
    assert recovered.counters.frames > recovered.counters.bad_frames
    assert sim.garbage_sent > 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "error",
    [
        FileNotFoundError(2, "No such file or directory"),
        __import__("bleak.exc").exc.BleakError("No Bluetooth adapters found."),
    ],
    ids=["no-dbus", "no-adapter"],
)
async def test_no_adapter_is_one_clear_status_and_other_devices_keep_working(
    error: BaseException, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ctx = context(speed=10.0)
    hub = SimBleHub()
    hub.adapter_error = error
    ble = make_sim("ble-2a37", ctx, name="hr-monitor", chair="c", hub=hub, max_hz=10.0)
    serial = make_sim("nonin-8", ctx, name="oximeter", chair="c", pty_dir=pty_dir(tmp_path),
                      max_hz=10.0)
    sink = ListSink()
    drivers = [
        make_driver(DeviceSpec("hr-monitor", "ble-2a37", ble.endpoint), "c", sink, ctx.clock,
                    OPTIONS, ble_client_backend=hub.client_backend(),
                    ble_scanner_backend=hub.scanner_backend()),
        make_driver(DeviceSpec("oximeter", "nonin-8", serial.endpoint), "c", sink, ctx.clock,
                    OPTIONS),
    ]
    tasks = _start(ble.run(), serial.run())
    await asyncio.sleep(0)
    tasks += _start(*(d.run() for d in drivers))
    try:
        await wait_until(lambda: any(s.device == "hr-monitor" and s.state == "disconnected"
                                     for s in sink.statuses), what="BLE status")
        await asyncio.sleep(1.2)  # a few retries
        await wait_until(lambda: len([r for r in sink.readings if r.device == "oximeter"]) >= 3,
                         what="oximeter readings")
    finally:
        await cancel(*tasks)
    ble_statuses = [s for s in sink.statuses if s.device == "hr-monitor"]
    reasons = {s.reason for s in ble_statuses if s.state == "disconnected"}
    assert len(reasons) == 1, reasons  # one clear message, not one per retry
    reason = reasons.pop() or ""
    assert "Bluetooth adapter" in reason, reason
    assert not [r for r in sink.readings if r.device == "hr-monitor"]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING
                and "hr-monitor" in r.getMessage()]
    assert len(warnings) == 1 and "Bluetooth adapter" in warnings[0].getMessage()
    assert all(r.exc_info is None for r in caplog.records if r.levelno >= logging.INFO)


async def test_no_adapter_with_the_platform_backend(caplog: pytest.LogCaptureFixture) -> None:
    """The real bleak backend of this machine (no Bluetooth hardware here): a clear status,
    no traceback."""
    caplog.set_level(logging.INFO)
    ctx = context(speed=1.0)
    sink = ListSink()
    driver = make_driver(DeviceSpec("hr-monitor", "ble-2a37", "service:180d"), "c", sink,
                         ctx.clock, DriverOptions(scan_timeout_s=1.0, adapter_retry_s=30.0))
    task = asyncio.create_task(driver.run())
    try:
        await wait_until(lambda: bool(sink.statuses) and sink.statuses[-1].state != "connecting",
                         within=15, what="a verdict")
    finally:
        await cancel(task)
    last = sink.statuses[-1]
    assert last.state == "disconnected", last
    assert last.reason and ("Bluetooth" in last.reason or "not found" in last.reason), last
    assert all(r.exc_info is None for r in caplog.records if r.levelno >= logging.INFO)


async def test_a_serial_server_over_tcp_socket_url_and_its_restart() -> None:
    """``socket://host:port`` (a serial-to-Ethernet adapter): lines flow; when the server
    goes away the device is disconnected, and it reconnects when the server is back."""
    from drivers.protocols import masimo
    from tests.brokers import free_port
    from tests.devices.helpers import START

    port = free_port()
    clients: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        clients.append(writer)
        try:
            for n in range(10_000):
                line = masimo.MasimoLine(at=START.replace(tzinfo=None), spo2=97.0,
                                         pulse_rate=60.0 + n % 30, exceptions=0x800)
                writer.write(masimo.encode_line(line))
                await writer.drain()
                await asyncio.sleep(0.05)
        except (ConnectionError, OSError):
            return

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    ctx = context()
    sink = ListSink()
    driver = make_driver(DeviceSpec("oximeter", "masimo", f"socket://127.0.0.1:{port}"), "c",
                         sink, ctx.clock, OPTIONS)
    task = asyncio.create_task(driver.run())
    try:
        await wait_until(lambda: len(sink.readings) >= 3, what="readings over TCP")
        server.close()
        for writer in clients:
            writer.close()
        await server.wait_closed()
        await wait_until(lambda: sink.states()[-1] == "disconnected", what="disconnected")
        server = await asyncio.start_server(serve, "127.0.0.1", port)
        before = len(sink.readings)
        await wait_until(lambda: len(sink.readings) >= before + 3, what="readings again")
    finally:
        await cancel(task)
        server.close()
    assert all(r.source == "masimo" for r in sink.readings)
    assert sink.statuses[-1].counters.reconnects >= 1


async def test_other_pyserial_urls_are_read_by_a_thread(tmp_path: Path) -> None:
    """A pyserial URL without a file descriptor (here ``spy://`` around the pseudo-terminal)
    is read by a thread of its own; the data path is the same."""
    ctx = context(speed=10.0)
    sim = make_sim("nonin-ascii", ctx, name="oximeter", chair="c", pty_dir=pty_dir(tmp_path),
                   max_hz=10.0)
    sink = ListSink()
    url = f"spy://{sim.endpoint}?file={tmp_path / 'spy.log'}"
    driver = make_driver(DeviceSpec("oximeter", "nonin-ascii", url), "c", sink, ctx.clock,
                         OPTIONS)
    tasks = _start(sim.run())
    await asyncio.sleep(0)
    tasks += _start(driver.run())
    try:
        await wait_until(lambda: len(sink.readings) >= 3, what="readings through spy://")
        port = driver.port  # type: ignore[attr-defined]
    finally:
        await cancel(*tasks)
    assert isinstance(port, ThreadPort)


async def test_a_replugged_serial_device_is_opened_at_once_whatever_the_backoff(
    tmp_path: Path,
) -> None:
    """While the port is absent the backoff grows (0.25, 0.5, 1, 2, 4 s ...); a device plugged
    back in is opened within a poll of its path, not at the end of the current wait."""
    ctx = context(speed=10.0)
    sim = make_sim("nonin-8", ctx, name="oximeter", chair="c", pty_dir=pty_dir(tmp_path),
                   max_hz=10.0)
    sink = ListSink()
    options = DriverOptions(reconnect_max_s=10.0)
    driver = make_driver(DeviceSpec("oximeter", "nonin-8", sim.endpoint), "c", sink,
                         ctx.clock, options)
    tasks = _start(sim.run())
    await asyncio.sleep(0)
    tasks += _start(driver.run())
    loop = asyncio.get_running_loop()
    try:
        await wait_until(lambda: len(sink.readings) >= 2, what="first readings")
        sim.forced.add("disconnect")
        await wait_until(lambda: "disconnected" in sink.states(), what="disconnected")
        await asyncio.sleep(4.0)  # the backoff is now 2-4 s long
        failures = sum("cannot open" in (s.reason or "") for s in sink.statuses)
        assert failures >= 1
        sim.forced.discard("disconnect")
        replugged = loop.time()
        await wait_until(lambda: sink.statuses[-1].state == "connected", what="connected")
        assert loop.time() - replugged < 1.5
    finally:
        await cancel(*tasks)


async def test_a_monitor_whose_heart_rate_cannot_be_read_is_degraded_with_the_reason() -> None:
    """A PCD-01 monitor over TCP sends SpO2 that reads and a heart rate in a unit that does
    not fit it: the SpO2 arrives, the device is degraded with "heart rate not readable" and
    the count; a message whose heart rate reads clears it."""
    from drivers.protocols import hl7
    from tests.brokers import free_port

    obr = "OBR|1|||182777000^monitoring of patient^SCT|||20260105090000+0000"
    spo2 = "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||R"

    def message(n: int, hr_unit: str) -> bytes:
        msh = (f"MSH|^~\\&|MON|W|||20260105090000+0000||ORU^R01^ORU_R01|M{n}|P|2.6")
        hr = f"OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.2.1.1|61|{hr_unit}|||||R"
        return hl7.wrap_mllp("\r".join((msh, obr, spo2, hr, "")).encode())

    bad_unit = "266016^MDC_DIM_MMHG^MDC"
    good_unit = "264864^MDC_DIM_BEAT_PER_MIN^MDC"
    send: asyncio.Queue[bytes] = asyncio.Queue()
    handlers: list[asyncio.Task[Any]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            handlers.append(task)
        try:
            while True:
                writer.write(await send.get())
                await writer.drain()
        except (ConnectionError, OSError):
            return

    port = free_port()
    server = await asyncio.start_server(serve, "127.0.0.1", port)
    ctx = context()
    sink = ListSink()
    driver = make_driver(DeviceSpec("monitor", "hl7", f"socket://127.0.0.1:{port}"), "c",
                         sink, ctx.clock, OPTIONS)
    task = asyncio.create_task(driver.run())
    try:
        await wait_until(lambda: sink.states()[-1:] == ["connected"], what="connected")
        for n in range(2):
            send.put_nowait(message(n, bad_unit))
        await wait_until(lambda: len(sink.readings) >= 2, what="the SpO2 readings")
        await wait_until(lambda: sink.statuses[-1].counters.unreadable >= 2, what="counted")
        status = sink.statuses[-1]
        assert status.state == "degraded"
        assert status.reason is not None and "heart rate not readable from this device" in \
            status.reason and "does not fit heart rate" in status.reason
        assert list(status.unreadable) == ["heart_rate"]
        assert {r.kind for r in sink.readings} == {"spo2"}

        send.put_nowait(message(3, good_unit))
        await wait_until(lambda: any(r.kind == "heart_rate" for r in sink.readings),
                         what="the heart rate")
        await wait_until(lambda: sink.statuses[-1].state == "connected", what="connected again")
        assert sink.statuses[-1].unreadable == {}
        assert sink.statuses[-1].counters.unreadable == 2  # counts only grow
    finally:
        await cancel(task, *handlers)
        server.close()
