"""When the engine service acknowledges its inputs to a real broker: each as soon as the
outputs it caused are acknowledged, never before, and not on the state timer."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import UTC, datetime
from typing import Any

import aiomqtt
import pytest

import monitor.engine_service as engine_service
from drivers import topics
from drivers.clock import FakeClock
from drivers.gateway import OutboxEntry
from drivers.mqtt import make_client, payload_bytes
from drivers.wire import AlarmEvent, ChairState, CommandResult
from monitor.engine import EngineConfig
from monitor.engine_service import EngineService
from tests.brokers import Broker
from tests.integration.helpers import (
    Observer,
    publish,
    received,
    running,
    site_filters,
    unique_site,
    until,
)

pytestmark = pytest.mark.broker
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HOUR = 3600.0


def reading(chair: str, rid: str, systolic: int, diastolic: int) -> bytes:
    at = "2026-01-05T09:00:00.000Z"
    return json.dumps({
        "v": 1, "id": rid, "chair": chair, "device": "cuff", "source": "ble-2a35",
        "kind": "blood_pressure", "measured_at": at, "received_at": at,
        "values": {"systolic": systolic, "diastolic": diastolic}, "unit": "mm[Hg]",
    }).encode()


class Traced(EngineService):
    """The engine service, writing down in order what the broker acknowledged to it and what
    it acknowledged to the broker (by the input's id)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.trace: list[tuple[str, str]] = []
        self._ids: dict[int, str] = {}

    def _handle(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        payload = json.loads(bytes(message.payload))  # type: ignore[arg-type]
        self._ids[message.mid] = str(payload.get("id"))
        self.trace.append(("received", self._ids[message.mid]))
        super()._handle(client, message)

    def _event_sent(self, entry: OutboxEntry) -> None:
        payload = json.loads(entry.payload)
        if entry.topic.endswith("/answered"):  # the retained answers: the newest one's id
            self.trace.append(("answers acknowledged", payload["answered"][-1]["id"]))
        else:
            self.trace.append(("event acknowledged", payload["id"]))
        super()._event_sent(entry)

    def _state_sent(self, chair: str, version: int) -> None:
        self.trace.append(("state acknowledged", chair))
        super()._state_sent(chair, version)

    def acknowledged(self, mid: int) -> None:
        self.trace.append(("input acknowledged", self._ids.get(mid, "?")))


@pytest.fixture
def traced_acks(monkeypatch: pytest.MonkeyPatch) -> list[Traced]:
    services: list[Traced] = []
    real = engine_service.ack

    def ack(client: aiomqtt.Client, mid: int, qos: int) -> None:
        for service in services:
            service.acknowledged(mid)
        real(client, mid, qos)

    monkeypatch.setattr(engine_service, "ack", ack)
    return services


async def test_an_input_is_acknowledged_after_its_alarm_and_at_once_without_the_state_timer(
    broker: Broker, traced_acks: list[Traced],
) -> None:
    site, chair = unique_site(), "chair-1"
    mqtt = broker.settings
    clock = FakeClock(T0)
    # Neither the state timer nor a tick comes within the test: what is acknowledged is
    # acknowledged because its outputs are out, not because a timer went off.
    engine = Traced(mqtt, site, EngineConfig(), clock, restore_wait_s=0.2,
                    tick_interval_s=HOUR, state_min_interval_s=HOUR)
    traced_acks.append(engine)
    observer = Observer(mqtt, site_filters(site))
    readings = topics.reading(site, chair, "blood_pressure")
    async with running(observer.run(), engine.run()):
        await observer.subscribed()
        await engine.connected.wait()
        await publish(mqtt, topics.commands(site, chair), json.dumps({
            "v": 1, "id": "start", "type": "start_session", "at": "2026-01-05T09:00:00.000Z",
            "by": "nurse", "patient_code": "P-1", "protocol": "spravato"}).encode())
        await publish(mqtt, readings, reading(chair, "normal", 124, 78))
        await publish(mqtt, readings, reading(chair, "high", 186, 96))
        alarm = await observer.wait_for(
            lambda p: isinstance(p, AlarmEvent) and p.reading_id == "high" and p.event == "raised")
        await until(lambda: ("input acknowledged", "high") in engine.trace)
        state = await observer.wait_for(
            lambda p: isinstance(p, ChairState) and "blood_pressure" in p.latest
            and p.latest["blood_pressure"].reading_id == "high")
        assert state.alarms
        assert engine.unacknowledged == 0

    trace = engine.trace
    result = next(r for r in observer.payloads(CommandResult) if r.id == "start")
    # Every input was acknowledged only after the broker acknowledged what it caused: the
    # command after its answer, the high BP after its alarm, each after a state of its chair.
    start = trace.index(("input acknowledged", "start"))
    assert trace.index(("event acknowledged", result.id)) < start
    assert trace.index(("answers acknowledged", result.id)) < start  # retained for a restart
    high = trace.index(("input acknowledged", "high"))
    assert trace.index(("event acknowledged", alarm.id)) < high
    normal = trace.index(("input acknowledged", "normal"))
    assert start < normal < high  # in the order they came
    for name, acked in (("start", start), ("normal", normal), ("high", high)):
        # a state of its chair, published after it came, so one that includes it
        received = trace.index(("received", name))
        assert ("state acknowledged", chair) in trace[received:acked]


async def test_a_duplicate_is_acknowledged_after_the_original_whose_outputs_are_out(
    broker: Broker, traced_acks: list[Traced],
) -> None:
    site, chair = unique_site(), "chair-2"
    mqtt = broker.settings
    engine = Traced(mqtt, site, EngineConfig(), FakeClock(T0), restore_wait_s=0.2,
                    tick_interval_s=HOUR, state_min_interval_s=HOUR)
    traced_acks.append(engine)
    readings = topics.reading(site, chair, "blood_pressure")
    async with running(engine.run()):
        await engine.connected.wait()
        async with make_client(mqtt, "pub-" + unique_site()) as client:
            for _ in range(2):  # a gateway's resend of the same reading
                await client.publish(readings, reading(chair, "twice", 124, 78), qos=1)
        await until(lambda: engine.trace.count(("input acknowledged", "twice")) == 2)
    first = engine.trace.index(("input acknowledged", "twice"))
    assert ("state acknowledged", chair) in engine.trace[:first]
    assert engine.unacknowledged == 0


async def test_every_client_disables_nagle_on_its_socket(broker: Broker) -> None:
    async with make_client(broker.settings, "nodelay-" + unique_site()) as client:
        sock = client._client.socket()
        assert isinstance(sock, socket.socket)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


async def test_a_publish_is_on_the_socket_before_the_loop_turns_again(broker: Broker) -> None:
    """A packet is written when it is queued (`drivers.mqtt._write_at_once`): an alarm event
    does not wait for the event loop to watch the socket and come back to write it."""
    async with make_client(broker.settings, "at-once-" + unique_site()) as client:
        paho = client._client
        info = paho.publish("chairside/at-once", b"x", qos=1)  # what aiomqtt's publish does
        assert info.rc == 0
        assert not paho.want_write()  # written: nothing waits for a turn of the loop


async def test_a_burst_bigger_than_the_socket_takes_arrives_whole_and_in_order(
    broker: Broker,
) -> None:
    """What the socket cannot take at once waits for it to drain, as before: with the
    publisher's send buffer made small, a burst of 4 MB fills it again and again, and all
    of it arrives, each message intact, in order."""
    site = unique_site()
    topic = f"chairside/burst-{site}"
    count, size = 40, 100_000
    async with make_client(broker.settings, "burst-sub-" + site) as sub, \
            make_client(broker.settings, "burst-pub-" + site, max_inflight=count) as pub:
        await sub.subscribe(topic, qos=1)

        receiving = asyncio.create_task(received(sub, count))
        pub._client.socket().setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
        bodies = [bytes([i]) * size for i in range(count)]
        waited = []
        for body in bodies:
            info = pub._client.publish(topic, body, qos=1)
            assert info.rc == 0
            waited.append(pub._client.want_write())
        assert any(waited)  # the socket filled: the rest went the event loop's way
        got = await asyncio.wait_for(receiving, 60)
        assert not pub._client.want_write()
        assert pub._client._registered_write is False  # nothing left watching the socket
    assert got == bodies


async def test_a_write_inside_pahos_callbacks_goes_the_loops_way(broker: Broker) -> None:
    """Where paho holds its callback lock it does not write either: the packet waits for
    the loop, and then arrives."""
    site = unique_site()
    topic = f"chairside/in-callback-{site}"
    async with make_client(broker.settings, "cb-sub-" + site) as sub, \
            make_client(broker.settings, "cb-pub-" + site) as pub:
        await sub.subscribe(topic, qos=1)
        paho = pub._client
        with paho._in_callback_mutex:  # as inside on_message or on_connect
            assert paho.publish(topic, b"later", qos=1).rc == 0
            assert paho.want_write()  # not written here
        message = await asyncio.wait_for(anext(aiter(sub.messages)), 15)
        assert payload_bytes(message) == b"later"
        assert not paho.want_write()


async def test_a_write_that_finds_the_connection_gone_says_so_and_leaves_nothing_behind(
    broker: Broker,
) -> None:
    """The broken connection is reported where aiomqtt reports it (its disconnection), and
    no writer is left on a closed socket for the loop to trip over."""
    errors: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: errors.append(context))
    client = make_client(broker.settings, "gone-" + unique_site())
    try:
        await client.__aenter__()
        paho = client._client
        paho.socket().shutdown(socket.SHUT_WR)  # the next send fails: broken pipe
        assert paho.publish("chairside/gone", b"x", qos=1).rc == 0  # queued, then lost
        assert paho.socket() is None  # paho closed it
        assert paho._registered_write is False
        assert client._disconnected.done() and client._disconnected.exception() is not None
        for _ in range(5):
            await asyncio.sleep(0)  # what the loop would run next: nothing that fails
        assert errors == []
    finally:
        loop.set_exception_handler(handler)
