"""`drivers.mqtt.Incoming`, how every Chairside subscriber takes its messages, through a
real Mosquitto: what ``client.messages`` gives, in the same order, and the same end when
the connection goes, whether the iteration waits or messages are still queued."""

from __future__ import annotations

import asyncio

import aiomqtt
import pytest
from aiomqtt.exceptions import MqttCodeError

from drivers.mqtt import Incoming, make_client, payload_bytes
from tests.brokers import Broker
from tests.integration.helpers import unique_site

pytestmark = pytest.mark.broker


async def until(condition: object, within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # type: ignore[operator]  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_messages_queued_and_arriving_come_in_order(broker: Broker) -> None:
    site = unique_site()
    topic = f"chairside/{site}/incoming"
    async with make_client(broker.settings, "incoming-sub-" + site) as sub, \
            make_client(broker.settings, "incoming-pub-" + site) as pub:
        await sub.subscribe(topic, qos=1)
        for n in range(5):
            await pub.publish(topic, str(n), qos=1)
        messages = Incoming(sub)
        await until(lambda: len(messages) == 5)  # these wait in the queue already
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


async def test_what_is_still_queued_at_the_disconnection_is_left_to_the_broker(
    broker: Broker,
) -> None:
    """As with aiomqtt's own iterator: nothing is handed on after the connection ended,
    since its acknowledgement could not be sent (the broker gives it again)."""
    site = unique_site()
    name, topic = "incoming-queued-" + site, f"chairside/{site}/incoming"
    async with make_client(broker.settings, name) as client, \
            make_client(broker.settings, "incoming-pub-" + site) as pub:
        await client.subscribe(topic, qos=1)
        messages = Incoming(client)
        for n in range(3):
            await pub.publish(topic, str(n), qos=1)
        await until(lambda: len(messages) == 3)
        async with make_client(broker.settings, name):
            await until(lambda: client._disconnected.done())
            with pytest.raises(aiomqtt.MqttError, match="Disconnected"):
                await anext(messages)


async def test_leaving_the_client_ends_a_waiting_iteration(broker: Broker) -> None:
    async with make_client(broker.settings, "incoming-left-" + unique_site()) as client:
        waiting = asyncio.create_task(anext(Incoming(client)))
        await asyncio.sleep(0.05)
    async with asyncio.timeout(10):
        with pytest.raises(aiomqtt.MqttError, match="Disconnected"):
            await waiting
