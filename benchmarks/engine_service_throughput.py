"""How many readings a second the engine service takes from a real broker, and how many chair
states it publishes for them, with every input acknowledged only after its effects are out.

    uv run python benchmarks/engine_service_throughput.py [--count N] [--chairs K]

Starts a Mosquitto of its own with its default limits (at most 20 unacknowledged messages in
flight to a client; or the embedded broker where Mosquitto is not installed), opens a session
at each of K chairs, then publishes N readings round-robin as fast as the broker takes them
(QoS 1). Measured: the time until the engine has handled every reading and acknowledged it
to the broker, and the chair states it published meanwhile. A clinic's chairs send a few
readings a second each; the rate says how much headroom one engine has.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
from gateway_throughput import machine, own_broker  # type: ignore[import-not-found]

from drivers import topics
from drivers.clock import WallClock
from drivers.mqtt_settings import MqttSettings
from monitor.engine import EngineConfig
from monitor.engine_service import EngineService

SITE = "bench"


class Counting(EngineService):
    handled = 0

    def process(self, topic: str, payload: bytes, now: datetime) -> None:
        super().process(topic, payload, now)
        self.handled += 1


def stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def run(mqtt: MqttSettings, count: int, chairs: list[str]) -> tuple[float, int]:
    engine = Counting(mqtt, SITE, EngineConfig(), WallClock(), chairs=chairs,
                      restore_wait_s=0.2)
    states = 0
    task = asyncio.create_task(engine.run())
    await engine.connected.wait()
    async with aiomqtt.Client(mqtt.host, mqtt.port) as watcher, \
            aiomqtt.Client(mqtt.host, mqtt.port) as sender:
        await watcher.subscribe(topics.chairs_filter(SITE, "state"), qos=1)

        async def count_states() -> None:
            nonlocal states
            async for _ in watcher.messages:
                states += 1

        counter = asyncio.create_task(count_states())
        for chair in chairs:
            await sender.publish(topics.commands(SITE, chair), json.dumps({
                "v": 1, "id": f"start-{chair}", "type": "start_session", "at": stamp(),
                "by": "nurse", "patient_code": f"P-{chair}", "protocol": "spravato"}), qos=1)
        await asyncio.sleep(1.0)
        base, states = engine.handled, 0
        started = time.perf_counter()
        for i in range(count):
            chair = chairs[i % len(chairs)]
            await sender.publish(topics.reading(SITE, chair, "blood_pressure"), json.dumps({
                "v": 1, "id": f"r-{i}", "chair": chair, "device": "cuff", "source": "ble-2a35",
                "kind": "blood_pressure", "measured_at": stamp(), "received_at": stamp(),
                "values": {"systolic": 120 + i % 30, "diastolic": 80}, "unit": "mm[Hg]"}),
                qos=1)
        while engine.handled - base < count or engine.unacknowledged:  # noqa: ASYNC110
            await asyncio.sleep(0.002)  # polled: the counters belong to the engine
        seconds = time.perf_counter() - started
        await asyncio.sleep(0.5)  # the last coalesced states
        counter.cancel()
    task.cancel()
    await asyncio.gather(task, counter, return_exceptions=True)
    return seconds, states


async def main_async(count: int, chairs: int) -> None:
    names = [f"chair-{i + 1}" for i in range(chairs)]
    with tempfile.TemporaryDirectory(prefix="chairside-bench-") as tmp, \
            own_broker(Path(tmp)) as (mqtt, kind):
        if mqtt.broker == "embedded":
            from monitor.broker import embedded_broker

            async with embedded_broker(mqtt) as live:
                seconds, states = await run(live, count, names)
        else:
            seconds, states = await run(mqtt, count, names)
    print(f"broker   {kind}")
    print(f"count    {count} readings over {chairs} chairs")
    print()
    print(f"handled and acknowledged  {count / seconds:8.0f} readings/s  ({seconds:.2f} s)")
    print(f"chair states published    {states:8d}  ({1000 * states / count:.0f} per 1000 "
          "readings)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000, help="readings")
    parser.add_argument("--chairs", type=int, default=8, help="chairs with a session")
    args = parser.parse_args()
    machine()
    asyncio.run(main_async(args.count, args.chairs))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
