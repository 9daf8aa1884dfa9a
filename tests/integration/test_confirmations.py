"""Publishes confirmed by a call on their PUBACK (`drivers.mqtt_confirmations`), through a
real Mosquitto: every one confirmed, in order, out of paho's callbacks; a lost connection
said at once; and an engine whose broker stops answering finds it by its unacknowledged
publishes, long before the keep-alive would, and loses nothing."""

from __future__ import annotations

import asyncio
import json
import time

import aiomqtt
import pytest
from aiomqtt.exceptions import MqttCodeError

import monitor.engine_service as engine_service
from drivers import topics
from drivers.clock import FakeClock
from drivers.mqtt import make_client
from drivers.mqtt_confirmations import Confirmations
from drivers.wire import ChairState, CommandResult
from monitor.engine import EngineConfig
from monitor.engine_service import EngineService
from tests.brokers import Broker
from tests.integration.helpers import (
    Link,
    Observer,
    publish,
    received,
    running,
    site_filters,
    unique_site,
)
from tests.integration.test_engine_acks import HOUR, T0, reading

pytestmark = pytest.mark.broker


async def test_every_publish_is_confirmed_once_in_order_and_outside_pahos_callbacks(
    broker: Broker,
) -> None:
    """More publishes than the client lets await their PUBACK at once: paho queues the rest,
    and each is confirmed once the broker has it, on a turn of its own."""
    site, count = unique_site(), 60
    topic = f"chairside/{site}/confirm"
    confirmed: list[int] = []
    inside_callback: list[int] = []
    async with make_client(broker.settings, "confirm-sub-" + site) as sub, \
            make_client(broker.settings, "confirm-pub-" + site, max_inflight=5) as pub:
        await sub.subscribe(topic, qos=1)

        receiving = asyncio.create_task(received(sub, count))
        window = Confirmations(pub)
        paho = pub._client

        def on(n: int) -> None:
            if not paho._in_callback_mutex.acquire(blocking=False):
                inside_callback.append(n)  # what it sent would wait for the loop
            else:
                paho._in_callback_mutex.release()
            confirmed.append(n)

        for n in range(count):
            window.publish(topic, str(n), confirmed=lambda n=n: on(n))  # type: ignore[misc]
        assert confirmed == []  # never within the publish
        assert len(window) == count
        async with asyncio.timeout(15):
            while len(confirmed) < count:  # noqa: ASYNC110  (the calls come from the loop)
                await asyncio.sleep(0.01)
            got = await receiving
    assert confirmed == list(range(count))
    assert got == [str(n).encode() for n in range(count)]
    assert not inside_callback
    assert len(window) == 0


async def test_a_publish_on_a_lost_connection_raises_at_once(broker: Broker) -> None:
    client = make_client(broker.settings, "confirm-gone-" + unique_site())
    async with client:
        window = Confirmations(client)
    with pytest.raises(MqttCodeError, match="not currently connected"):
        window.publish("chairside/x/confirm", b"late", confirmed=lambda: None)
    assert len(window) == 0


async def test_a_failing_confirmation_holds_back_no_other_and_ends_the_connection(
    broker: Broker, caplog: pytest.LogCaptureFixture,
) -> None:
    """What a failed call was to release stays held: `check` then raises, so the connection
    ends and the broker gives the unacknowledged inputs again."""
    confirmed: list[int] = []

    def on(n: int) -> None:
        if n == 1:
            raise ValueError("a defect in a confirmation")
        confirmed.append(n)

    async with make_client(broker.settings, "confirm-fail-" + unique_site()) as client:
        window = Confirmations(client)
        for n in range(3):
            window.publish("chairside/x/confirm", str(n), confirmed=lambda n=n: on(n))  # type: ignore[misc]
        async with asyncio.timeout(10):
            while len(confirmed) < 2:  # noqa: ASYNC110  (the calls come from the loop)
                await asyncio.sleep(0.01)
        assert confirmed == [0, 2]
        assert len(window) == 0
        with pytest.raises(aiomqtt.MqttError, match=r"confirmation failed.*a defect"):
            window.check()
    assert "the confirmation of a publish failed" in caplog.text


async def test_a_publish_unacknowledged_past_the_timeout_is_an_error(broker: Broker) -> None:
    """The deadline is the oldest publish's, read on an injected clock; a PUBACK that never
    comes is a broker cut off by a silent network (the relay passes nothing)."""
    link = Link("127.0.0.1", broker.port)
    await link.start()
    now = [1000.0]
    try:
        settings = broker.settings.model_copy(update={"port": link.port})
        async with make_client(settings, "confirm-late-" + unique_site()) as client:
            window = Confirmations(client, timeout_s=10.0, clock=lambda: now[0])
            link.cut.set()
            window.publish("chairside/x/confirm", b"first", confirmed=lambda: None)
            now[0] += 4.0
            window.publish("chairside/x/confirm", b"second", confirmed=lambda: None)
            now[0] += 6.0
            window.check()  # the oldest has waited exactly the timeout: not yet
            now[0] += 0.5
            with pytest.raises(aiomqtt.MqttError, match=r"waited 10\.5s .*\(more than 10s\)"):
                window.check()
            assert len(window) == 2
            client._disconnected.set_result(None)  # the relay never closes: leave at once
    finally:
        await link.stop()


async def test_an_engine_finds_a_silent_broker_by_its_unacknowledged_publishes(
    broker: Broker,
) -> None:
    """The network between the engine and the broker goes silent (nothing passes, nothing
    closes) and its keep-alive is ten minutes: the engine ends the connection once a publish
    has waited its timeout, connects again when the network is back, and the reading sent
    meanwhile reaches the screen. Ground truth is an observer on the broker directly."""
    site, chair = unique_site(), "chair-1"
    link = Link("127.0.0.1", broker.port)
    await link.start()
    readings = topics.reading(site, chair, "blood_pressure")
    settings = broker.settings.model_copy(update={"port": link.port, "keepalive_s": 600})
    engine = EngineService(settings, site, EngineConfig(), FakeClock(T0), restore_wait_s=0.2,
                           tick_interval_s=0.1, publish_timeout_s=1.0)
    observer = Observer(broker.settings, site_filters(site))

    def shown(rid: str) -> object:
        return lambda p: (isinstance(p, ChairState) and "blood_pressure" in p.latest
                          and p.latest["blood_pressure"].reading_id == rid)

    try:
        async with running(observer.run(), engine.run()):
            await observer.subscribed()
            async with asyncio.timeout(15):
                await engine.connected.wait()
            await publish(broker.settings, readings, reading(chair, "before", 124, 78))
            await observer.wait_for(shown("before"))  # type: ignore[arg-type]

            link.cut.set()
            cut = time.monotonic()
            await publish(broker.settings, readings, reading(chair, "during", 131, 80))
            # Its status, every ten ticks, goes unacknowledged: found within the timeout.
            async with asyncio.timeout(8):
                while engine.connected.is_set():  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            assert time.monotonic() - cut < 8  # not the keep-alive (600 s)
            assert not [p for p in observer.payloads(ChairState)
                        if "blood_pressure" in p.latest
                        and p.latest["blood_pressure"].reading_id == "during"]

            link.cut.clear()  # the network is back: the engine connects by itself
            state = await observer.wait_for(shown("during"), within=20)  # type: ignore[arg-type]
            assert state.latest["blood_pressure"].values["systolic"] == 131
            await engine.connected.wait()
            async with asyncio.timeout(10):
                while engine.unacknowledged:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
    finally:
        await link.stop()


@pytest.mark.parametrize("burst", ["readings", "commands"])
async def test_a_burst_at_one_chair_leaves_whole_when_only_pubacks_wake_the_publisher(
    broker: Broker, burst: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Readings (or commands) for one chair, faster than their states (or answers) are
    acknowledged: a newer state waits while its chair's is in flight; answers past the
    events allowed in flight wait their turn. With no tick and no state timer within the
    test, only the PUBACKs of what is in flight can send them: the last reading is on the
    screen (every command is answered), and every input is acknowledged."""
    site, chair = unique_site(), "chair-1"
    if burst == "commands":
        # One event in flight: each answer's retained list waits for the answer's PUBACK.
        monkeypatch.setattr(engine_service, "EVENTS_IN_FLIGHT", 1)
    engine = EngineService(broker.settings, site, EngineConfig(), FakeClock(T0),
                           restore_wait_s=0.2, tick_interval_s=HOUR, state_min_interval_s=HOUR)
    observer = Observer(broker.settings, site_filters(site))
    count = 40  # each command answered twice over (answer, retained list): > 32 in flight
    async with running(observer.run(), engine.run()):
        await observer.subscribed()
        async with asyncio.timeout(15):
            await engine.connected.wait()
        async with make_client(broker.settings, "burst-" + site) as client:
            for n in range(count):
                if burst == "readings":
                    await client.publish(topics.reading(site, chair, "blood_pressure"),
                                         reading(chair, f"r{n}", 120 + n % 5, 78), qos=1)
                else:
                    await client.publish(topics.commands(site, chair), json.dumps({
                        "v": 1, "id": f"c{n}", "type": "dose_given",
                        "at": "2026-01-05T09:00:00.000Z", "by": "nurse"}).encode(), qos=1)
        async with asyncio.timeout(20):
            if burst == "readings":
                await observer.wait_for(
                    lambda p: isinstance(p, ChairState) and "blood_pressure" in p.latest
                    and p.latest["blood_pressure"].reading_id == f"r{count - 1}", within=20)
            while burst == "commands" and {  # noqa: ASYNC110
                    r.id for r in observer.payloads(CommandResult)} != {
                    f"c{n}" for n in range(count)}:
                await asyncio.sleep(0.05)
            while engine.unacknowledged:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
