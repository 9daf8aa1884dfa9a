"""A chair whose gateway is gone says so: a network cut between one gateway and the broker
(the broker sends the gateway's last will) and a gateway that stops (it says offline itself,
since a clean disconnect sends no will). Ground truth is the engine's published state and
alarms, read by an observer on the broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drivers import topics
from drivers.clock import FakeClock
from drivers.gateway import Gateway
from drivers.wire import AlarmEvent, CommandResult, GatewayStatus, StartSession
from monitor.engine import EngineConfig
from monitor.engine_service import EngineService
from tests.brokers import Broker, mosquitto_path
from tests.integration.helpers import Link, Observer, publish, running, site_filters, unique_site

pytestmark = pytest.mark.broker
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


async def open_session(mqtt: object, site: str, chair: str, clock: FakeClock,
                       observer: Observer) -> None:
    start = StartSession(at=clock.now(), by="nurse", patient_code="P-2", protocol="spravato")
    await publish(mqtt, topics.commands(site, chair), start.to_json())  # type: ignore[arg-type]
    await observer.wait_for(lambda p: isinstance(p, CommandResult) and p.id == start.id)


async def wait_gateway_offline(observer: Observer, clock: FakeClock, chair: str,
                               within: float) -> AlarmEvent:
    """The engine's delay for gateway_offline runs on the fake clock: once the offline status
    is in, move the clock past it."""
    await observer.wait_for(lambda p: isinstance(p, GatewayStatus) and p.chair == chair
                            and p.state == "offline", within=within)
    for _ in range(40):
        clock.advance(1)
        await asyncio.sleep(0.05)
    alarm: AlarmEvent = await observer.wait_for(
        lambda p: isinstance(p, AlarmEvent) and p.chair == chair
        and p.condition == "gateway_offline" and p.event == "raised")
    return alarm


async def test_a_network_cut_to_one_gateway_shows_its_chair_offline(broker: Broker) -> None:
    site, cut_chair, other_chair = unique_site(), "chair-1", "chair-2"
    clock = FakeClock(T0)
    mqtt = broker.settings
    link = Link(mqtt.host, mqtt.port)
    await link.start()
    through_link = mqtt.model_copy(update={"port": link.port})
    engine = EngineService(mqtt, site, EngineConfig(), clock, chairs=[cut_chair, other_chair],
                           restore_wait_s=1.0, tick_interval_s=0.05)
    cut = Gateway(through_link, site, cut_chair, clock, status_interval_s=0.5)
    other = Gateway(mqtt, site, other_chair, clock, status_interval_s=0.5)
    observer = Observer(mqtt, site_filters(site))
    try:
        async with running(observer.run(), engine.run(), cut.run(), other.run()):
            await observer.subscribed()
            await engine.connected.wait()
            await cut.connected.wait()
            await other.connected.wait()
            for chair in (cut_chair, other_chair):
                await open_session(mqtt, site, chair, clock, observer)
            clock.advance(30)
            await asyncio.sleep(1.2)  # heartbeats on the link, newer than the will
            link.cut.set()
            # Mosquitto finds the silent client after 1.5 keep-alives (5 s here).
            alarm = await wait_gateway_offline(observer, clock, cut_chair, within=20)
            assert alarm.priority == "medium"
            raised = {a.chair for a in observer.payloads(AlarmEvent)
                      if a.condition == "gateway_offline" and a.event == "raised"}
            assert raised == {cut_chair}
    finally:
        await link.stop()


async def test_a_gateway_that_stops_says_its_chair_is_unmonitored(broker: Broker) -> None:
    site, chair = unique_site(), "chair-3"
    clock = FakeClock(T0)
    mqtt = broker.settings
    engine = EngineService(mqtt, site, EngineConfig(), clock, chairs=[chair],
                           restore_wait_s=1.0, tick_interval_s=0.05)
    observer = Observer(mqtt, site_filters(site))
    async with running(observer.run(), engine.run()):
        await observer.subscribed()
        await engine.connected.wait()
        gateway = Gateway(mqtt, site, chair, clock, status_interval_s=0.5)
        async with running(gateway.run()):
            await gateway.connected.wait()
            await open_session(mqtt, site, chair, clock, observer)
            await asyncio.sleep(0.8)
        # The gateway stopped cleanly: no will, so it must have said offline itself.
        alarm = await wait_gateway_offline(observer, clock, chair, within=5)
        assert "gateway offline" in alarm.message



OUTAGE = """
import asyncio, gc, logging, sys
from datetime import UTC, datetime
from drivers.clock import FakeClock
from drivers.gateway import Gateway
from drivers.mqtt import MqttSettings
from tests.brokers import Mosquitto
from tests.integration.helpers import bp

async def main(workdir: str, binary: str) -> None:
    from pathlib import Path
    broker = Mosquitto(Path(workdir), binary)
    broker.start()
    clock = FakeClock(datetime(2026, 1, 5, tzinfo=UTC))
    gateway = Gateway(broker.settings, "outage", "c1", clock, status_interval_s=0.2)
    task = asyncio.create_task(gateway.run())
    await gateway.connected.wait()
    for n in range(5):
        gateway.accept(bp("c1", clock, 120 + n, 80))
    await asyncio.sleep(0.5)
    broker.stop()
    await asyncio.sleep(1.5)
    broker.start()
    await asyncio.sleep(1.5)
    gc.collect()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    broker.stop()
    print("published", gateway.published)

logging.basicConfig(level=logging.ERROR)
asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def test_a_broker_outage_leaves_no_unread_error_behind(tmp_path: Path) -> None:
    """After an outage the gateway carries on, and asyncio has nothing to complain of: an
    error it logs as never retrieved is an error nobody handled. A process of its own, so
    the collector and asyncio's own logging are as in a clinic's gateway."""
    binary = mosquitto_path()
    if binary is None:
        pytest.skip("Mosquitto is not installed")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", OUTAGE, str(tmp_path), binary],
                          cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "published 5" in done.stdout
    assert "never retrieved" not in done.stderr, done.stderr
