"""The wait between attempts to reach the broker: bounded, doubling, and jittered so that a
site's clients do not all come back in the same instant after a broker restart."""

from __future__ import annotations

import asyncio
import random

from drivers.mqtt import Backoff, reconnect_backoff
from drivers.mqtt_settings import MqttSettings


def test_plain_backoff_doubles_to_its_bound_and_resets() -> None:
    b = Backoff(maximum=2.0)
    assert [b.next() for _ in range(6)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    b.reset()
    assert b.next() == 0.25


def test_jittered_waits_stay_in_their_band_and_differ_between_clients() -> None:
    clients = [Backoff(maximum=8.0, jitter=0.5, rng=random.Random(seed)) for seed in range(20)]
    waves = [[c.next() for _ in range(7)] for c in clients]
    for waits in waves:
        for wait, cap in zip(waits, [0.25, 0.5, 1, 2, 4, 8, 8], strict=True):
            assert cap * 0.5 <= wait <= cap
    # After the same outage, twenty clients' fifth attempts are spread, not in lockstep.
    fifth = sorted(w[4] for w in waves)
    assert fifth[-1] - fifth[0] > 1.0


def test_every_broker_client_uses_the_jittered_backoff() -> None:
    b = reconnect_backoff(MqttSettings(reconnect_max_s=4.0))
    assert b.jitter > 0 and b.maximum == 4.0


async def test_one_session_helper_reconnects_until_the_session_is_done() -> None:
    """``stay_connected``: a refused connection and a session lost midway are each told to
    ``lost`` with the wait before the next attempt; the session runs again on a new client;
    the helper returns when a session completes."""
    import aiomqtt

    from drivers.mqtt import stay_connected

    class Client:
        def __init__(self, n: int) -> None:
            self.n = n

        async def __aenter__(self) -> Client:
            if self.n == 0:
                raise aiomqtt.MqttError("[Errno 111] Connection refused")
            return self

        async def __aexit__(self, *exc: object) -> None:
            return None

    made: list[Client] = []
    sessions: list[int] = []
    told: list[tuple[str, float]] = []

    def connect() -> aiomqtt.Client:
        made.append(Client(len(made)))
        return made[-1]  # type: ignore[return-value]

    async def session(client: aiomqtt.Client) -> None:
        sessions.append(client.n)  # type: ignore[attr-defined]
        if client.n == 1:
            raise aiomqtt.MqttError("Disconnected during message iteration")

    settings = MqttSettings(reconnect_max_s=0.5)
    await stay_connected(settings, connect, session, name="test",
                         lost=lambda exc, delay: told.append((str(exc), delay)))
    assert sessions == [1, 2]
    assert [why for why, _ in told] == ["[Errno 111] Connection refused",
                                        "Disconnected during message iteration"]
    assert all(0 < delay <= 0.5 for _, delay in told)


async def test_the_manual_ack_adapter_fits_the_installed_aiomqtt() -> None:
    """`drivers.mqtt.manual_acks` and `ack` reach into aiomqtt's paho client: this fails, on
    an upgrade that moves it, before any PUBACK goes out early or never."""
    import aiomqtt
    from paho.mqtt.client import Client as PahoClient

    from drivers.mqtt import ack, manual_acks

    client = aiomqtt.Client("127.0.0.1", 1, identifier="adapter-check")
    assert isinstance(client._client, PahoClient)
    assert manual_acks(client) is client
    assert client._client._manual_ack is True
    sent: list[tuple[int, int]] = []
    client._client.ack = lambda mid, qos: sent.append((mid, qos))  # type: ignore[method-assign]
    ack(client, 7, 1)
    assert sent == [(7, 1)]


async def test_the_write_at_once_adapter_fits_the_installed_aiomqtt() -> None:
    """`drivers.mqtt._write_at_once` replaces aiomqtt's write callback on its paho client and
    reads paho's callback lock: this fails, on an upgrade that moves either, before a write
    goes out of order or waits."""
    from drivers.mqtt import make_client

    client = make_client(MqttSettings(), "adapter-check")
    paho = client._client
    assert paho.on_socket_register_write is not None
    assert paho.on_socket_register_write.__qualname__.startswith("_write_at_once")
    assert paho.on_socket_unregister_write == client._on_socket_unregister_write
    assert paho._in_callback_mutex.acquire(blocking=False)
    paho._in_callback_mutex.release()
    assert client._loop is asyncio.get_running_loop()
    assert isinstance(client._disconnected, asyncio.Future)
    # paho marks the write as registered before it calls the callback: a write made inside
    # it cannot ask for another, and whatever is left is the callback's to hand on.
    seen: list[bool] = []
    paho.on_socket_register_write = lambda c, _userdata, _sock: seen.append(c._registered_write)
    paho._sock = object()
    try:
        paho._call_socket_register_write()
    finally:
        paho._sock, paho._registered_write = None, False  # no socket was ever open
    assert seen == [True]


async def test_the_confirmations_adapter_fits_the_installed_aiomqtt() -> None:
    """`drivers.mqtt_confirmations` registers each publish where aiomqtt's ``on_publish``
    pops and sets it, and takes aiomqtt's publish timeout: this fails, on an upgrade that
    changes either, before a PUBACK goes unheard and an input is never acknowledged."""
    from drivers.mqtt import make_client
    from drivers.mqtt_confirmations import Confirmations, _Confirmation

    client = make_client(MqttSettings(), "adapter-check")
    window = Confirmations(client)
    assert window.timeout_s == 10.0
    seen: list[int] = []
    client._pending_publishes[7] = _Confirmation(window, 7, lambda: seen.append(7))
    on_publish = client._client.on_publish
    assert on_publish is not None
    on_publish(client._client, None, 7, None, None)  # as paho calls it on a PUBACK
    assert 7 not in client._pending_publishes
    assert seen == []  # on the loop's next turn, out of paho's callback
    await asyncio.sleep(0)
    assert seen == [7]


async def test_the_received_adapter_fits_the_installed_aiomqtt() -> None:
    """`drivers.mqtt.Incoming` takes messages from aiomqtt's queue and hears the end from
    its disconnection future: this fails, on an upgrade that moves either, before a message
    goes unhandled or a lost connection goes unnoticed."""
    from drivers.mqtt import Incoming, make_client

    client = make_client(MqttSettings(), "adapter-check")
    assert type(client._queue) is asyncio.Queue
    assert isinstance(client._disconnected, asyncio.Future)
    messages = Incoming(client)
    on_message = client._client.on_message
    assert on_message is not None
    import paho.mqtt.client as paho

    sent = paho.MQTTMessage(mid=3, topic=b"chairside/x/y")
    sent.payload = b"hello"
    on_message(client._client, None, sent)  # as paho calls it on a PUBLISH
    assert len(messages) == 1
    got = await anext(messages)
    assert (got.topic.value, got.payload, got.mid) == ("chairside/x/y", b"hello", 3)
