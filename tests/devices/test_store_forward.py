"""Store and forward through the on-disk spool: a broker that is away for 30 seconds, a
gateway that restarts, a spool that fills up."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from pathlib import Path

import pytest

from drivers import topics
from drivers.clock import FakeClock, SimClock
from drivers.device_spec import DeviceSpec
from drivers.devices import DriverOptions, make_driver
from drivers.gateway import MemoryOutbox, SeqStore, open_spool, spool_path
from drivers.mqtt_settings import MqttSettings
from drivers.spool import Spool
from drivers.wire import DeviceStatus, GatewayStatus, Reading
from simulators.devices import SimBleHub, SimContext, make_sim
from simulators.patient import Patient
from simulators.scenario import load_scenario
from tests.brokers import Broker, free_port
from tests.devices.helpers import (
    START,
    PersistentObserver,
    RecordingGateway,
    cancel,
    pty_dir,
    wait_until,
)
from tests.integration.helpers import Observer, running, site_filters, unique_site

pytestmark = pytest.mark.broker

OPTIONS = DriverOptions(reconnect_max_s=0.5, scan_timeout_s=2.0)


def _by_device(readings: list[Reading]) -> dict[str, list[Reading]]:
    out: dict[str, list[Reading]] = defaultdict(list)
    for r in readings:
        out[r.device].append(r)
    return out


def _dedup(readings: list[Reading]) -> tuple[list[Reading], int]:
    seen: set[str] = set()
    out = []
    for r in readings:
        if r.id not in seen:
            seen.add(r.id)
            out.append(r)
    return out, len(readings) - len(out)


async def test_broker_away_30_s_every_reading_arrives_once_and_in_order(
    own_broker: Broker, tmp_path: Path
) -> None:
    site, chair = unique_site(), "chair-1"
    mqtt = own_broker.settings
    clock = SimClock(10.0, START)
    ctx = SimContext(Patient(load_scenario("uneventful")), clock, clock.now())
    spool = Spool(tmp_path / "spool.db", capacity=100_000)
    gateway = RecordingGateway(mqtt, site, chair, clock, spool,
                               seq_store=SeqStore(tmp_path / "spool.seq"))
    hub = SimBleHub()
    sims = [
        make_sim("nonin-8", ctx, name="oximeter", chair=chair, pty_dir=pty_dir(tmp_path),
                 max_hz=10.0),
        make_sim("ble-2a37", ctx, name="hr-monitor", chair=chair, hub=hub, max_hz=10.0),
    ]
    drivers = [
        make_driver(DeviceSpec(s.name, s.protocol, s.endpoint), chair, gateway, clock, OPTIONS,
                    ble_client_backend=hub.client_backend(),
                    ble_scanner_backend=hub.scanner_backend())
        for s in sims
    ]
    observer = PersistentObserver(mqtt, site)
    watcher = asyncio.create_task(observer.run())
    await observer.subscribed()
    gw = asyncio.create_task(gateway.run())
    devices = [asyncio.create_task(s.run()) for s in sims]
    await asyncio.sleep(0)
    devices += [asyncio.create_task(d.run()) for d in drivers]
    try:
        await wait_until(lambda: gateway.published >= 20, what="readings flowing")
        await asyncio.to_thread(own_broker.stop)
        stopped_at = len(gateway.accepted)
        await asyncio.sleep(30)
        waiting = len(spool)
        await asyncio.to_thread(own_broker.start)
        await asyncio.sleep(2)
        await cancel(*devices)
        accepted = list(gateway.accepted)
        expected = {r.id for r in accepted}
        await wait_until(lambda: expected <= {r.id for r in observer.readings}, within=60,
                         what="every accepted reading at the observer")
        assert await gateway.drain(10)
    finally:
        await cancel(*devices, gw, watcher)
        spool.close()
    assert len(accepted) - stopped_at > 300  # the outage was not idle
    assert waiting > 300, waiting
    assert observer.connects >= 2
    received, duplicates = _dedup([r for r in observer.readings if r.id in expected])
    logging.getLogger(__name__).info("QoS 1 redeliveries dropped by id: %d", duplicates)
    sent = _by_device(accepted)
    got = _by_device(received)
    assert set(sent) == {"oximeter", "hr-monitor"}
    for device, readings in sent.items():
        assert [r.id for r in got[device]] == [r.id for r in readings], device
        seqs = [r.seq or 0 for r in got[device]]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), device  # no gap, no swap


async def test_gateway_restart_resumes_from_the_spool(broker: Broker, tmp_path: Path) -> None:
    site, chair = unique_site(), "chair-1"
    clock = FakeClock(START)
    folder = tmp_path / "spool"
    nowhere = MqttSettings(host="127.0.0.1", port=free_port(), reconnect_max_s=0.2)

    def reading(device: str, seq: int) -> Reading:
        return Reading(chair=chair, device=device, source="nonin-8", kind="spo2",
                       measured_at=clock.now(), received_at=clock.now(), unit="%",
                       values={"spo2": 97.0, "pulse_rate": 70.0}, seq=seq)

    # First run: the broker is unreachable; readings wait in the spool.
    spool = open_spool(folder, site, chair, 1000, 0.8)
    seq_path = spool_path(folder, site, chair).with_suffix(".seq")
    first = RecordingGateway(nowhere, site, chair, clock, spool, seq_store=SeqStore(seq_path))
    task = asyncio.create_task(first.run())
    for _ in range(25):
        first.accept(reading("oximeter", first.next_seq("oximeter")))
    await asyncio.sleep(0.3)
    await cancel(task)
    spool.close()
    assert first.published == 0

    # Second run (a new process would do the same): the spool is reopened and drained.
    spool = open_spool(folder, site, chair, 1000, 0.8)
    assert len(spool) == 25
    second = RecordingGateway(broker.settings, site, chair, clock, spool,
                              seq_store=SeqStore(seq_path))
    observer = Observer(broker.settings, site_filters(site))
    try:
        # The observer subscribes before the gateway starts: the spool drains at once, and
        # an observer without a session of its own would miss what came before it.
        async with running(observer.run()):
            await observer.subscribed()
            async with running(second.run()):
                for _ in range(5):
                    second.accept(reading("oximeter", second.next_seq("oximeter")))
                await wait_until(lambda: len(observer.payloads(Reading)) >= 30,
                                 what="30 readings")
                assert await second.drain(5)
    finally:
        spool.close()
    got = observer.payloads(Reading)
    assert [r.id for r in got] == [r.id for r in first.accepted + second.accepted]
    seqs = [r.seq for r in got]
    assert seqs[:25] == list(range(25))
    assert seqs[25:] == sorted(seqs[25:]) and seqs[25] >= 25  # later numbers, never reused


async def test_outbox_warns_when_nearly_full_and_refuses_when_full(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    site, chair = unique_site(), "chair-1"
    clock = FakeClock(START)
    nowhere = MqttSettings(host="127.0.0.1", port=free_port(), reconnect_max_s=0.2)
    outbox = MemoryOutbox(capacity=10, warn_at=0.5)
    gateway = RecordingGateway(nowhere, site, chair, clock, outbox)
    status = DeviceStatus(chair=chair, device="oximeter", source="nonin-8", state="connected",
                          at=clock.now())
    gateway.device_status(status)

    def reading() -> Reading:
        return Reading(chair=chair, device="oximeter", source="nonin-8", kind="spo2",
                       measured_at=clock.now(), received_at=clock.now(), unit="%",
                       values={"spo2": 97.0}, seq=gateway.next_seq("oximeter"))

    for _ in range(4):
        assert gateway.accept(reading())
    assert gateway.published_status("oximeter").state == "connected"
    assert gateway.accept(reading())  # 5 of 10: the warning level
    warned = gateway.published_status("oximeter")
    assert warned.state == "degraded" and warned.reason and "50% full" in warned.reason
    assert warned.counters.spooled == 5
    for _ in range(5):
        assert gateway.accept(reading())
    assert not gateway.accept(reading())  # full: refused, not dropped silently
    refused = gateway.published_status("oximeter")
    assert refused.state == "degraded" and refused.reason and "refused" in refused.reason
    assert refused.refusing and not warned.refusing  # the engine alarms on this, at once
    assert gateway.refused == 1
    messages = [r.getMessage() for r in caplog.records]
    assert any("50% full" in m for m in messages)
    assert any("NOT accepted" in m for m in messages)

    # The broker comes back: the degraded status goes out first, then the readings.
    gateway.mqtt = broker.settings
    observer = Observer(broker.settings, site_filters(site))
    async with running(observer.run()):
        await observer.subscribed()
        async with running(gateway.run()):
            await wait_until(lambda: len(observer.payloads(Reading)) == 10, what="10 readings")
            await observer.wait_for(lambda p: isinstance(p, DeviceStatus)
                                    and p.state == "connected")
            gstatus = await observer.wait_for(lambda p: isinstance(p, GatewayStatus))
    first_status = observer.payloads(DeviceStatus)[0]
    assert first_status.state == "degraded"
    assert gstatus.spool_capacity == 10
    assert topics.gateway_status(site, chair)
