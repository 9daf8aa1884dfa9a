"""Helpers for the device tests: sinks, waiting, simulated patients, a resilient observer."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt

from drivers import topics
from drivers.clock import Clock, SimClock, loop_time
from drivers.gateway import Gateway
from drivers.mqtt import QOS, make_client, payload_bytes
from drivers.mqtt_settings import MqttSettings
from drivers.payloads import PayloadDecoder
from drivers.wire import DeviceStatus, Reading
from simulators.devices import SimContext
from simulators.patient import Patient
from simulators.scenario import Scenario, load_scenario
from tests.integration.helpers import subscribed

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def context(scenario: str | Scenario = "uneventful", speed: float = 1.0,
            clock: Clock | None = None) -> SimContext:
    chosen = load_scenario(scenario) if isinstance(scenario, str) else scenario
    # On the event loop's clock: in a test whose loop fakes time, the devices keep pace.
    clock = clock or SimClock(speed, START, monotonic=loop_time)
    return SimContext(Patient(chosen), clock, clock.now())


class ListSink:
    """A driver sink that keeps everything (no broker)."""

    def __init__(self, refuse: bool = False) -> None:
        self.readings: list[Reading] = []
        self.statuses: list[DeviceStatus] = []
        self.refuse = refuse
        self._seq: dict[str, int] = {}

    def accept(self, reading: Reading) -> bool:
        if self.refuse:
            return False
        self.readings.append(reading)
        return True

    def device_status(self, status: DeviceStatus) -> None:
        self.statuses.append(status)

    def next_seq(self, device: str) -> int:
        n = self._seq.get(device, 0)
        self._seq[device] = n + 1
        return n

    def states(self, device: str | None = None) -> list[str]:
        return [s.state for s in self.statuses if device is None or s.device == device]


class RecordingGateway(Gateway):
    """A gateway that remembers, in order, every reading it accepted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.accepted: list[Reading] = []

    def accept(self, reading: Reading) -> bool:
        ok = super().accept(reading)
        if ok:
            self.accepted.append(reading)
        return ok


async def wait_until(predicate: Callable[[], bool], within: float = 10.0,
                     what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.02)


class PersistentObserver:
    """Subscribes to a site with a persistent session and reconnects when the broker goes
    away, so nothing published while it was gone is missed (the broker queues it)."""

    def __init__(self, mqtt: MqttSettings, site: str) -> None:
        self.mqtt = mqtt
        self.site = site
        self.client_id = "observer-" + uuid.uuid4().hex[:8]
        self.readings: list[Reading] = []
        self.statuses: list[DeviceStatus] = []
        self.decoder = PayloadDecoder()
        self.ready = asyncio.Event()
        self.connects = 0

    async def run(self) -> None:
        while True:
            try:
                async with make_client(self.mqtt, self.client_id, clean_session=False) as client:
                    self.connects += 1
                    await client.subscribe(topics.site_filter(self.site), qos=QOS)
                    self.ready.set()
                    async for message in client.messages:
                        inbound = self.decoder.decode(message.topic.value,
                                                      payload_bytes(message), message.retain)
                        if inbound is None:
                            continue
                        if isinstance(inbound.payload, Reading):
                            self.readings.append(inbound.payload)
                        elif isinstance(inbound.payload, DeviceStatus):
                            self.statuses.append(inbound.payload)
            except aiomqtt.MqttError:
                await asyncio.sleep(0.2)

    async def subscribed(self, within: float = 15.0) -> None:
        """Until subscribed the first time (it keeps trying while the broker is away)."""
        await subscribed(self.ready, within, f"the persistent observer of {self.site}")


def status_reasons(statuses: list[DeviceStatus], device: str) -> list[tuple[str, str | None]]:
    return [(s.state, s.reason) for s in statuses if s.device == device]


async def cancel(*tasks: asyncio.Task[Any]) -> None:
    """Cancel and wait; a task that will not stop is a failure, not a hang."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=10)
    assert not pending, f"tasks did not stop when cancelled: {pending}"
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def pty_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "pty"
    folder.mkdir(exist_ok=True)
    return folder
