"""A broker that restarts mid-session: the gateway and the engine reconnect on their own, the
session carries on, and readings taken while the broker was down still raise their alarm."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from drivers import topics
from drivers.clock import FakeClock
from drivers.gateway import Gateway
from drivers.wire import AlarmEvent, ChairState, CommandResult, DoseGiven, StartSession
from monitor.engine import EngineConfig
from monitor.engine_service import EngineService
from tests.brokers import Broker
from tests.integration.helpers import Observer, bp, publish, running, site_filters, unique_site

pytestmark = pytest.mark.broker


async def test_parts_reconnect_after_a_broker_restart(own_broker: Broker) -> None:
    site, chair = unique_site(), "chair-1"
    clock = FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    mqtt = own_broker.settings
    engine = EngineService(mqtt, site, EngineConfig(), clock, chairs=[chair],
                           restore_wait_s=0.2, tick_interval_s=0.1)
    gateway = Gateway(mqtt, site, chair, clock)
    async with running(engine.run(), gateway.run()):
        await engine.connected.wait()
        await gateway.connected.wait()
        observer = Observer(mqtt, site_filters(site))
        async with running(observer.run()):
            await observer.subscribed()
            start = StartSession(at=clock.now(), by="nurse", patient_code="P-5", protocol="spravato")
            await publish(mqtt, topics.commands(site, chair), start.to_json())
            await observer.wait_for(lambda p: isinstance(p, CommandResult) and p.id == start.id)
            baseline = bp(chair, clock, 126, 80)
            gateway.accept(baseline)
            await observer.wait_for(lambda p: isinstance(p, ChairState) and "blood_pressure" in p.latest)
            clock.advance(60)
            dose = DoseGiven(at=clock.now(), by="nurse")
            await publish(mqtt, topics.commands(site, chair), dose.to_json())
            await observer.wait_for(lambda p: isinstance(p, CommandResult) and p.id == dose.id)

        own_broker.stop()
        await asyncio.sleep(0.5)  # let both clients notice the loss
        assert not gateway.connected.is_set()
        clock.advance(40 * 60)
        high = bp(chair, clock, 188, 104)
        gateway.accept(high)  # taken while the broker is down: waits in the outbox
        assert len(gateway.outbox) >= 1
        own_broker.start()

        observer = Observer(mqtt, site_filters(site))
        async with running(observer.run()):
            await observer.subscribed()
            alarm = await observer.wait_for(
                lambda p: isinstance(p, AlarmEvent) and p.reading_id == high.id, within=30)
            assert alarm.condition == "bp_high" and alarm.priority == "high"
            state = await observer.wait_for(
                lambda p: isinstance(p, ChairState) and p.session is not None
                and p.session.first_dose_at is not None, within=30)
            assert state.session.patient_code == "P-5"
        assert len(gateway.outbox) == 0
