"""Helpers for tests that run parts against a real broker."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiomqtt

from drivers import topics
from drivers.clock import Clock
from drivers.mqtt import QOS, make_client, payload_bytes
from drivers.mqtt_settings import MqttSettings
from drivers.payloads import Inbound, PayloadDecoder
from drivers.wire import Reading


def bp(chair: str, clock: Clock, systolic: int, diastolic: int) -> Reading:
    """A cuff reading taken now on ``clock``."""
    now = clock.now()
    return Reading(chair=chair, device="cuff", source="ble-2a35", kind="blood_pressure",
                   measured_at=now, received_at=now, unit="mm[Hg]",
                   values={"systolic": systolic, "diastolic": diastolic})


def unique_site() -> str:
    return "t" + uuid.uuid4().hex[:10]


class Observer:
    """Subscribes like a dashboard and keeps everything it decodes."""

    def __init__(self, mqtt: MqttSettings, filters: list[str]) -> None:
        self.mqtt = mqtt
        self.filters = filters
        self.received: list[Inbound] = []
        self.raw: list[tuple[str, bytes]] = []
        self.decoder = PayloadDecoder()
        self._changed = asyncio.Condition()
        self.ready = asyncio.Event()
        self.failed: Exception | None = None

    async def run(self) -> None:
        try:
            async with make_client(self.mqtt, "observer-" + uuid.uuid4().hex[:8]) as client:
                for flt in self.filters:
                    await client.subscribe(flt, qos=QOS)
                self.ready.set()
                async for message in client.messages:
                    data = payload_bytes(message)
                    self.raw.append((message.topic.value, data))
                    inbound = self.decoder.decode(message.topic.value, data, message.retain)
                    if inbound is not None:
                        async with self._changed:
                            self.received.append(inbound)
                            self._changed.notify_all()
        except Exception as error:
            self.failed = error
            self.ready.set()  # wakes `subscribed`, which reports it
            raise

    async def subscribed(self, within: float = 15.0) -> None:
        """Until every filter is subscribed. An observer that could not connect or subscribe
        fails the test here, with its reason, instead of leaving it waiting for ever."""
        await subscribed(self.ready, within, "the observer")
        if self.failed is not None:
            raise AssertionError(
                f"the observer of {self.filters} could not subscribe: {self.failed!r}"
            ) from self.failed

    async def wait_for(
        self, predicate: Callable[[Any], bool], within: float = 15.0
    ) -> Any:
        """The first payload (already received or coming) that satisfies ``predicate``."""
        async with asyncio.timeout(within), self._changed:
            while True:
                for inbound in self.received:
                    if predicate(inbound.payload):
                        return inbound.payload
                await self._changed.wait()

    def payloads(self, kind: type) -> list[Any]:
        return [i.payload for i in self.received if isinstance(i.payload, kind)]


async def subscribed(ready: asyncio.Event, within: float, who: str) -> None:
    """Wait for ``ready``; past ``within`` seconds the test fails, naming who never was."""
    try:
        async with asyncio.timeout(within):
            await ready.wait()
    except TimeoutError:
        raise AssertionError(f"{who} had not subscribed within {within:.0f} s") from None


@contextlib.asynccontextmanager
async def running(*coros: Any) -> AsyncIterator[list[asyncio.Task[Any]]]:
    """Run background coroutines for the duration of the block; surface their failures."""
    tasks = [asyncio.create_task(c) for c in coros]
    try:
        yield tasks
    finally:
        for t in tasks:
            t.cancel()
        _, pending = await asyncio.wait(tasks, timeout=15)
        if pending:
            for task in asyncio.all_tasks():
                task.print_stack()
        assert not pending, f"tasks did not stop when cancelled: {pending}"
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for r in results:
            if isinstance(r, Exception) and not isinstance(r, asyncio.CancelledError):
                raise r


async def publish(mqtt: MqttSettings, topic: str, payload: bytes, retain: bool = False) -> None:
    async with make_client(mqtt, "pub-" + uuid.uuid4().hex[:8]) as client:
        await client.publish(topic, payload, qos=QOS, retain=retain)


def site_filters(site: str) -> list[str]:
    return [topics.site_filter(site)]


class Link:
    """A TCP relay between one client and the broker that can be cut the way a network cut
    is: nothing passes and nothing closes, so neither side learns of it but by silence."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.cut = asyncio.Event()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:  # the broker is down: the client finds its connection refused
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    if self.cut.is_set():
                        await asyncio.Event().wait()  # the bytes go nowhere, for ever
                    dst.write(data)
                    await dst.drain()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        except asyncio.CancelledError:
            pass  # the relay is shut down with its loop: its connections end with it
        finally:
            for w in (writer, up_writer):
                w.close()


async def received(client: aiomqtt.Client, count: int) -> list[bytes]:
    """The payloads of the next ``count`` messages ``client`` receives, in order."""
    got: list[bytes] = []
    async for message in client.messages:
        got.append(payload_bytes(message))
        if len(got) == count:
            break
    return got


async def until(predicate: object, within: float = 15.0) -> None:
    """Poll ``predicate`` until it holds (what it reads is written from callbacks, not
    awaited), for at most ``within`` seconds."""
    async with asyncio.timeout(within):
        while not predicate():  # type: ignore[operator]  # noqa: ASYNC110
            await asyncio.sleep(0.01)
