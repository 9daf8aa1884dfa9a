"""The MQTT link shared by every process: its clients, connections and reconnection (the
broker settings are in `drivers.mqtt_settings`, payload decoding in `drivers.payloads`).

All traffic is QoS 1. Reconnection is the caller's loop (aiomqtt's model); `reconnecting`
gives every process the same bounded exponential backoff.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import BaseModel

from drivers import topics
from drivers.mqtt_settings import BrokerRefused, MqttSettings
from drivers.tasks import stop_if_cancelled

log = logging.getLogger(__name__)

QOS = 1
NO_DELAY = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)
"""The socket option every client sets once connected (aiomqtt applies it after connect)."""


def make_client(
    settings: MqttSettings,
    identifier: str,
    *,
    will: aiomqtt.Will | None = None,
    clean_session: bool = True,
    max_inflight: int | None = None,
    queue_type: type[asyncio.Queue[aiomqtt.Message]] | None = None,
) -> aiomqtt.Client:
    """A client for one process. ``clean_session=False`` keeps the broker queueing QoS 1
    messages for us while we are away (the recorder and the engine use it).
    ``max_inflight``: how many of its QoS 1 publishes may await their PUBACK at once (paho's
    default is 20; the client queues the rest). ``queue_type``: the queue received messages
    wait in (aiomqtt's own hook).

    Every client disables Nagle's algorithm on its socket (TCP_NODELAY): paho leaves it on,
    and then a small publish can wait for the delayed ACK of the one before it."""
    tls_context: ssl.SSLContext | None = None
    if settings.tls:
        tls_context = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file else None
        )
        if settings.cert_file:
            tls_context.load_cert_chain(
                str(settings.cert_file), str(settings.key_file) if settings.key_file else None
            )
    client = aiomqtt.Client(
        settings.host,
        settings.port,
        username=settings.username,
        password=settings.password.get_secret_value() if settings.password else None,
        identifier=identifier,
        will=will,
        clean_session=clean_session,
        keepalive=settings.keepalive_s,
        tls_context=tls_context,
        timeout=10,
        socket_options=NO_DELAY,
        max_inflight_messages=max_inflight,
        queue_type=queue_type,
    )
    if max_inflight is not None:
        # aiomqtt warns of "pending publish calls" past 10: that many is what was asked for.
        client.pending_calls_threshold = max_inflight
    return _write_at_once(client)


def _write_at_once(client: aiomqtt.Client) -> aiomqtt.Client:
    """Send each packet when it is queued, not on a later turn of the event loop.

    aiomqtt hands every write to the loop as if from another thread: a byte through the
    loop's wake-up pipe, a turn to watch the socket for writing, a turn to write, a call to
    stop watching. At the broker's pace that is a good part of a process's CPU, and an alarm
    event waits two turns before it leaves. On the client's own loop, and outside paho's
    callbacks (where paho itself would not write either), the packet is written at once;
    whatever the socket does not take, and every other case, goes the loop's way as before.
    """
    paho = client._client
    through_loop = paho.on_socket_register_write
    assert through_loop is not None  # aiomqtt's, set when it built the client

    def register_write(c: Any, userdata: Any, sock: Any) -> None:
        try:
            on_loop = asyncio.get_running_loop() is client._loop
        except RuntimeError:  # paho's connect, run on an executor thread
            on_loop = False
        if not on_loop or not c._in_callback_mutex.acquire(blocking=False):
            through_loop(c, userdata, sock)  # elsewhere, or in a callback of paho's
            return
        c._in_callback_mutex.release()
        try:
            c.loop_write()
        except Exception as exc:
            # What aiomqtt's own write callback does with it: the connection is over.
            if not client._disconnected.done():
                client._disconnected.set_exception(exc)
            return
        if c.want_write() and c._registered_write and c._sock is sock:
            through_loop(c, userdata, sock)  # the socket's buffer is full: the rest later
        # (A write that lost the connection closed the socket: nothing is left to watch.)

    paho.on_socket_register_write = register_write
    return client


def manual_acks(client: aiomqtt.Client) -> aiomqtt.Client:
    """Acknowledge QoS 1 messages only when `ack` says so, not on receipt.

    aiomqtt has no switch for it; paho, underneath, has. This, `ack`, `_write_at_once` and
    `drivers.mqtt_confirmations` are the only places that reach into aiomqtt's private
    parts, checked by tests against the installed version."""
    client._client.manual_ack_set(True)
    return client


def ack(client: aiomqtt.Client, mid: int, qos: int) -> None:
    """Send the PUBACK of a message received with `manual_acks` on."""
    client._client.ack(mid, qos)


def will(topic: str, payload: BaseModel) -> aiomqtt.Will:
    """A retained last will: the broker publishes it when the connection is lost."""
    return aiomqtt.Will(topic, payload.model_dump_json(exclude_none=True), qos=QOS, retain=True)


_REFUSED_CODES = frozenset({4, 5, 134, 135})
"""CONNACK codes for a bad user name or password, or not authorized (MQTT 3.1.1 and 5)."""


def refused(exc: aiomqtt.MqttError, settings: MqttSettings) -> BrokerRefused | None:
    """The credentials error an MQTT error is, if it is one."""
    if not isinstance(exc, MqttConnectError):
        return None
    rc = exc.rc
    code = rc.value if isinstance(rc, ReasonCode) else rc
    if code not in _REFUSED_CODES:
        return None
    who = f"user {settings.username!r}" if settings.username else "a client without a user name"
    return BrokerRefused(f"the broker {settings.url()} refused {who}: "
                         "wrong user name or password, or not allowed to connect")


@dataclass
class Backoff:
    """Bounded exponential backoff: 0.25, 0.5, 1, 2, ... up to ``maximum`` seconds.

    With ``jitter`` j, each wait is drawn from [(1 - j) x, x]: the clients of a site that all
    lost the same broker then do not all come back in the same instant."""

    maximum: float = 10.0
    first: float = 0.25
    jitter: float = 0.0
    rng: random.Random = field(default_factory=random.Random)
    _next: float = 0.0

    def next(self) -> float:
        self._next = self.first if self._next == 0 else min(self._next * 2, self.maximum)
        if not self.jitter:
            return self._next
        return self._next * (1.0 - self.jitter * self.rng.random())

    def reset(self) -> None:
        self._next = 0.0


RECONNECT_JITTER = 0.5


def reconnect_backoff(settings: MqttSettings) -> Backoff:
    """The backoff every client uses between attempts to reach the broker, jittered."""
    return Backoff(maximum=settings.reconnect_max_s, jitter=RECONNECT_JITTER)


async def stay_connected(
    settings: MqttSettings,
    connect: Callable[[], aiomqtt.Client],
    session: Callable[[aiomqtt.Client], Awaitable[object]],
    *,
    name: str,
    lost: Callable[[aiomqtt.MqttError, float], None] | None = None,
) -> None:
    """The one reconnect loop of every broker client of Chairside.

    ``connect`` builds the client anew for each attempt (a will may name the connection);
    ``session`` runs on the connected client. When the broker is lost, ``lost`` is told (or
    a warning logged), and after a jittered wait that grows to ``reconnect_max_s``, so a site
    does not reconnect in lockstep after a broker restart, it connects again. Returns when
    ``session`` does (a client with nothing more to do); a cancellation always ends it.
    """
    backoff = reconnect_backoff(settings)
    while True:
        try:
            async with connect() as client:
                backoff.reset()
                await session(client)
            return
        except aiomqtt.MqttError as exc:
            stop_if_cancelled(exc)
            if (denied := refused(exc, settings)) is not None:
                raise denied from None
            delay = backoff.next()
            if lost is not None:
                lost(exc, delay)
            else:
                log.warning("%s: broker %s lost (%s); retry in %.2fs", name, settings.url(),
                            exc, delay)
            await asyncio.sleep(delay)


@asynccontextmanager
async def connected(
    settings: MqttSettings, identifier: str, **kwargs: Any
) -> AsyncIterator[aiomqtt.Client]:
    """``async with connected(settings, 'x') as client``: a one-shot tool's connection. Wrong
    credentials raise `BrokerRefused`."""
    client = make_client(settings, identifier, **kwargs)
    try:
        await client.__aenter__()
    except aiomqtt.MqttError as exc:
        if (denied := refused(exc, settings)) is not None:
            raise denied from None
        raise
    try:
        yield client
    finally:
        await client.__aexit__(None, None, None)


async def retained(
    client: aiomqtt.Client, site: str, flt: str | Sequence[str], user: str | None = None
) -> AsyncIterator[aiomqtt.Message]:
    """Every retained message under ``flt`` (one filter or several), then the end, known
    rather than waited for.

    A marker published once the subscription is acknowledged, on a topic only this client
    hears, arrives after every retained message the subscription brought: the broker routes
    to one client in order. Live (not retained) messages are skipped. The caller bounds the
    wait for a broker that never routes the marker back (``asyncio.timeout``). ``user`` is the
    client's user name: the marker goes under it, where the broker's ACL lets it publish."""
    nonce = uuid.uuid4().hex
    marker = topics.sync_marker(site, nonce, user)
    for one in [flt] if isinstance(flt, str) else flt:
        await client.subscribe(one, qos=QOS)
    await client.subscribe(marker, qos=QOS)
    await client.publish(marker, nonce.encode(), qos=QOS)
    async for message in client.messages:
        if message.topic.matches(marker):
            return
        if message.retain:
            yield message


class Incoming:
    """A connected client's incoming messages, as ``client.messages`` gives them, for less.

    aiomqtt's iterator runs a task and an ``asyncio.wait`` for every message (the queue's
    get against the disconnection), so a message reaches its handler three turns of the
    event loop after it arrived, each turn the loop's own bookkeeping. Here a message is
    awaited on the queue itself: it is handled on the next turn, and messages already
    queued without a turn between them (what one read of the socket brought). The
    disconnection puts a marker in the queue: as with aiomqtt's iterator, what was queued
    before it is still handed on, then the iteration ends. Made once the client is
    connected, for that connection."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self._queue = client._queue
        self._disconnected = client._disconnected
        self._disconnected.add_done_callback(lambda _: self._queue.put_nowait(_ENDED))

    def __aiter__(self) -> Incoming:
        return self

    async def __anext__(self) -> aiomqtt.Message:
        ended = self._disconnected
        while not (ended.done() and self._queue.empty()):
            message = await self._queue.get()
            if message is not _ENDED:
                return message
            if ended.done():
                break
            # (a marker left by an earlier connection of the same client: not this end)
        raise aiomqtt.MqttError("Disconnected during message iteration") from (
            None if ended.cancelled() else ended.exception())

    def __len__(self) -> int:
        """Messages waiting (the disconnection's marker too, once it came)."""
        return self._queue.qsize()


_ENDED: Any = object()
"""What `Incoming` puts in the queue when the connection ends."""


def payload_bytes(message: aiomqtt.Message) -> bytes:
    """The raw payload of a received message (paho hands over bytes; the type says more)."""
    payload = message.payload
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    return b"" if payload is None else str(payload).encode()
