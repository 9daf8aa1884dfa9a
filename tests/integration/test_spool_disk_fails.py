"""The outbox's disk fails under readings already waiting: the gateway lives on, does not
send a confirmed reading twice, shows its devices degraded with the reason, and recovers by
itself when the disk does. The failing disk is a stand-in (a spool whose removals raise the
error SQLite gives on a failing disk); the broker and the engine's view are real."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drivers import topics
from drivers.clock import FakeClock
from drivers.gateway import Gateway
from drivers.spool import Spool, SpoolError
from drivers.wire import DeviceStatus, Reading
from tests.brokers import Broker
from tests.devices.helpers import wait_until
from tests.integration.helpers import Observer, bp, running, site_filters, unique_site

pytestmark = pytest.mark.broker


class FailingDisk(Spool):
    failing = False

    def ack(self, rowid: int) -> None:
        if self.failing:
            raise SpoolError("spool: disk I/O error")
        super().ack(rowid)


async def test_a_failing_spool_disk_under_waiting_readings_does_not_kill_the_gateway(
    broker: Broker, tmp_path: Path,
) -> None:
    site, chair = unique_site(), "chair-1"
    clock = FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    mqtt = broker.settings
    spool = FailingDisk(tmp_path / "spool.db")
    gateway = Gateway(mqtt, site, chair, clock, spool, status_interval_s=0.5)
    gateway.device_status(DeviceStatus(chair=chair, device="cuff", source="ble-2a35",
                                       state="connected", at=clock.now()))
    observer = Observer(mqtt, site_filters(site))
    async with running(observer.run()):
        await observer.subscribed()
        spool.failing = True
        sent = [bp(chair, clock, 120 + n, 80) for n in range(5)]
        for reading in sent:
            assert gateway.accept(reading)
        gateway_task = asyncio.create_task(gateway.run())
        try:
            degraded = await observer.wait_for(
                lambda p: isinstance(p, DeviceStatus) and p.state == "degraded")
            assert "disk I/O error" in (degraded.reason or "")
            await asyncio.sleep(2.5)  # several rounds of the pump while the disk fails
            assert not gateway_task.done(), gateway_task
            assert len(spool) == 5  # still held: the disk would not let them go
            spool.failing = False
            await observer.wait_for(
                lambda p: isinstance(p, DeviceStatus) and p.state == "connected"
                and p.counters.spooled == 0, within=10)
            assert len(spool) == 0
        finally:
            gateway_task.cancel()
            await asyncio.gather(gateway_task, return_exceptions=True)
        got = [p.id for p in observer.payloads(Reading)]
        assert got == [r.id for r in sent], "each reading exactly once, in order"
        assert [t for t, _ in observer.raw if t == topics.reading(site, chair, "blood_pressure")]


class FullDisk(Spool):
    """A spool on a disk that refuses every write while ``full`` (SQLite's own message)."""

    full = False

    def append(self, topic: str, payload: bytes, key: str) -> int:
        if self.full:
            raise SpoolError("spool: database or disk is full")
        return super().append(topic, payload, key)

    def probe(self) -> None:
        if self.full:
            raise SpoolError("spool: database or disk is full")
        super().probe()


async def test_a_device_is_back_as_soon_as_the_disk_has_room_not_at_its_next_reading(
    broker: Broker, tmp_path: Path,
) -> None:
    """A cuff measures every few minutes: once its reading was refused for a full disk, it
    must not stay degraded until the next one when the disk has room again."""
    site, chair = unique_site(), "chair-2"
    clock = FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    mqtt = broker.settings
    spool = FullDisk(tmp_path / "spool.db")
    gateway = Gateway(mqtt, site, chair, clock, spool, status_interval_s=30.0)
    gateway.device_status(DeviceStatus(chair=chair, device="cuff", source="ble-2a35",
                                       state="connected", at=clock.now()))
    observer = Observer(mqtt, site_filters(site))
    async with running(observer.run(), gateway.run()):
        await observer.subscribed()
        await gateway.connected.wait()
        spool.full = True
        assert not gateway.accept(bp(chair, clock, 130, 80))
        degraded = await observer.wait_for(
            lambda p: isinstance(p, DeviceStatus) and p.state == "degraded")
        assert "disk is full" in (degraded.reason or "")
        spool.full = False  # room again; no new reading comes

        def back() -> bool:
            statuses = observer.payloads(DeviceStatus)
            after = statuses[statuses.index(degraded) + 1:]
            return any(s.state == "connected" for s in after)

        await wait_until(back, within=5, what="the cuff connected again")
