"""`drivers.mqtt.Incoming`, how every Chairside subscriber takes its messages, through a
real Mosquitto: what ``client.messages`` gives, in the same order, and the same end when
the connection goes, whether the iteration waits or messages are still queued."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiomqtt
import pytest
from aiomqtt.exceptions import MqttCodeError

from drivers.mqtt import Incoming, make_client, payload_bytes
from drivers.mqtt_settings import MqttSettings
from tests.brokers import Broker
from tests.integration.helpers import unique_site, until

pytestmark = pytest.mark.broker


async def test_messages_queued_and_arriving_come_in_order(broker: Broker) -> None:
    site = unique_site()
    topic = f"chairside/{site}/incoming"
    async with make_client(broker.settings, "incoming-sub-" + site) as sub, \
            make_client(broker.settings, "incoming-pub-" + site) as pub:
        await sub.subscribe(topic, qos=1)
        for n in range(5):
            await pub.publish(topic, str(n), qos=1)
        messages = Incoming(sub)
        await until(lambda: len(messages) == 5, within=10.0)  # these wait in the queue already
        got: list[bytes] = []
        async with asyncio.timeout(10):
            async for message in messages:
                got.append(payload_bytes(message))
                if len(got) == 5:
                    for n in range(5, 8):  # and these arrive while it waits
                        await pub.publish(topic, str(n), qos=1)
                if len(got) == 8:
                    break
    assert got == [str(n).encode() for n in range(8)]


async def test_a_connection_taken_over_ends_a_waiting_iteration(broker: Broker) -> None:
    """Another client with the same identifier makes the broker drop this one: the
    iteration waiting for a message ends with the disconnection as its cause."""
    name = "incoming-taken-" + unique_site()
    async with make_client(broker.settings, name) as client:
        waiting = asyncio.create_task(anext(Incoming(client)))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        async with make_client(broker.settings, name):
            async with asyncio.timeout(10):
                with pytest.raises(aiomqtt.MqttError, match="Disconnected") as ended:
                    await waiting
    assert isinstance(ended.value.__cause__, MqttCodeError)


async def test_what_is_queued_at_the_disconnection_comes_first_as_with_aiomqtt(
    broker: Broker,
) -> None:
    """Three messages wait when the connection is taken over: aiomqtt's own iterator and
    `Incoming`, each on a client of its own, hand on the same messages and then end."""
    site = unique_site()
    topic = f"chairside/{site}/incoming"

    async def through(name: str, take: Callable[[aiomqtt.Client], AsyncIterator[Any]],
                      pub: aiomqtt.Client) -> list[bytes | str]:
        async with make_client(broker.settings, name) as client:
            await client.subscribe(topic, qos=1)
            messages = take(client)
            for n in range(3):
                await pub.publish(topic, f"{name}-{n}", qos=1)
            await until(lambda: len(client.messages) == 3, within=10.0)
            async with make_client(broker.settings, name):  # takes the connection over
                await until(lambda: client._disconnected.done(), within=10.0)
                seen: list[bytes | str] = []
                try:
                    async with asyncio.timeout(10):
                        async for message in messages:
                            seen.append(payload_bytes(message).decode().split("-")[-1])
                except aiomqtt.MqttError as exc:
                    seen.append(str(exc))
                return seen

    async with make_client(broker.settings, "incoming-pub-" + site) as pub:
        theirs = await through("incoming-theirs-" + site, lambda c: aiter(c.messages), pub)
        ours = await through("incoming-ours-" + site, Incoming, pub)
    assert theirs == ["0", "1", "2", "Disconnected during message iteration"]
    assert ours == theirs


async def test_leaving_the_client_ends_a_waiting_iteration(broker: Broker) -> None:
    async with make_client(broker.settings, "incoming-left-" + unique_site()) as client:
        waiting = asyncio.create_task(anext(Incoming(client)))
        await asyncio.sleep(0.05)
    async with asyncio.timeout(10):
        with pytest.raises(aiomqtt.MqttError, match="Disconnected"):
            await waiting


async def test_an_ended_iteration_does_not_wait_and_an_old_marker_is_passed_over() -> None:
    """A client entered again gets a new disconnection future from aiomqtt: the marker its
    last connection left in the queue is not this connection's end."""
    client = make_client(MqttSettings(), "incoming-reused")  # its queue and future alone
    first = Incoming(client)
    client._disconnected.set_result(None)  # the first connection ends; nobody waits
    await asyncio.sleep(0)
    assert len(first) == 1  # its marker
    client._disconnected = asyncio.get_running_loop().create_future()  # as on re-entering
    second = Incoming(client)
    live = object()
    client._queue.put_nowait(live)  # type: ignore[arg-type]
    async with asyncio.timeout(1):
        assert await anext(second) is live
    client._disconnected.set_exception(aiomqtt.MqttError("lost"))
    for _ in range(2):  # the end, and again at once
        async with asyncio.timeout(1):
            with pytest.raises(aiomqtt.MqttError, match="Disconnected"):
                await anext(second)
