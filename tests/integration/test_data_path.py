"""Gateway -> broker -> engine -> broker, through a real broker: readings become ChairState
and a high blood pressure becomes a high-priority alarm."""

from __future__ import annotations

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


async def test_readings_become_state_and_high_bp_alarm(broker: Broker) -> None:
    site, chair = unique_site(), "chair-1"
    clock = FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    mqtt = broker.settings
    engine = EngineService(mqtt, site, EngineConfig(), clock, chairs=[chair],
                           restore_wait_s=0.2, tick_interval_s=0.1)
    gateway = Gateway(mqtt, site, chair, clock)
    observer = Observer(mqtt, site_filters(site))
    async with running(observer.run(), engine.run(), gateway.run()):
        await observer.subscribed()
        await engine.connected.wait()
        await gateway.connected.wait()

        start = StartSession(at=clock.now(), by="nurse", patient_code="P-0042",
                             protocol="spravato", dose_mg=56, lot="L1")
        await publish(mqtt, topics.commands(site, chair), start.to_json())
        result = await observer.wait_for(
            lambda p: isinstance(p, CommandResult) and p.id == start.id)
        assert result.accepted, result.reasons

        baseline = bp(chair, clock, 128, 82)
        gateway.accept(baseline)
        await observer.wait_for(
            lambda p: isinstance(p, ChairState) and "blood_pressure" in p.latest
            and p.latest["blood_pressure"].reading_id == baseline.id)
        clock.advance(60)
        dose = DoseGiven(at=clock.now(), by="nurse", detail="nasal device 1")
        await publish(mqtt, topics.commands(site, chair), dose.to_json())
        await observer.wait_for(lambda p: isinstance(p, CommandResult) and p.id == dose.id)

        clock.advance(40 * 60)
        high = bp(chair, clock, 186, 104)
        gateway.accept(high)

        alarm = await observer.wait_for(
            lambda p: isinstance(p, AlarmEvent) and p.condition == "bp_high"
            and p.event == "raised")
        assert alarm.priority == "high"
        assert alarm.chair == chair
        assert "SYS 186" in alarm.message and "180" in alarm.message
        assert alarm.reading_id == high.id

        state = await observer.wait_for(
            lambda p: isinstance(p, ChairState) and "blood_pressure" in p.latest
            and p.latest["blood_pressure"].reading_id == high.id)
        assert state.session is not None
        assert state.session.patient_code == "P-0042"
        assert state.session.first_dose_at is not None
        assert state.observation is not None
        assert state.observation.elapsed_s == pytest.approx(40 * 60, abs=1)
        top = state.highest_alarm()
        assert top is not None and top.condition == "bp_high" and top.priority == "high"
