"""Running a session live through a real broker, second by second on a fake clock: a
gateway, the engine service, a nurse's screen sending commands, and the recorder."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from drivers import topics
from drivers.clock import FakeClock
from drivers.gateway import Gateway
from drivers.mqtt import QOS, make_client
from drivers.mqtt_settings import MqttSettings
from drivers.wire import (
    AckAlarm,
    AlarmEvent,
    Assessment,
    CommandResult,
    Discharge,
    DoseGiven,
    StartSession,
)
from monitor.engine import EngineConfig
from monitor.engine_service import EngineService, Output
from monitor.recording.recorder import Recorder
from monitor.recording.store import Store
from tests.integration.helpers import running
from tests.recording.scenario import START, bp, hr, spo2


class Watch:
    """The payloads a part has taken, for the test to wait on (no sleeping)."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.seen: set[bytes] = set()
        self.changed = asyncio.Event()

    def add(self, payload: bytes) -> None:
        self.payloads.append(payload)
        self.seen.add(payload)
        self.changed.set()

    async def until(self, predicate: Callable[[], bool], within: float = 15.0) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    async def has(self, payloads: list[bytes], within: float = 15.0) -> None:
        await self.until(lambda: all(p in self.seen for p in payloads), within)


class WatchedRecorder(Recorder):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.watch = Watch()

    def record(self, topic: str, payload: bytes, now: datetime, retained: bool = False) -> bool:
        stored = super().record(topic, payload, now, retained)
        self.watch.add(payload)
        return stored


class WatchedService(EngineService):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.watch = Watch()

    def process(self, topic: str, payload: bytes, now: datetime) -> None:
        super().process(topic, payload, now)
        self.watch.add(payload)


async def run_session(mqtt: MqttSettings, site: str, db: Path, config: EngineConfig,
                      chair: str = "chair-1") -> tuple[list[Output], Store]:
    """Run the short scenario live; return what the engine emitted and the recording."""
    clock = FakeClock(START)
    store = Store(db)
    outputs: list[Output] = []
    service = WatchedService(mqtt, site, config, clock, chairs=[chair], restore_wait_s=0.2,
                             tick_interval_s=3600, on_output=outputs.append)
    recorder = WatchedRecorder(mqtt, site, store, clock)
    gateway = Gateway(mqtt, site, chair, clock)
    nurse = make_client(mqtt, "nurse-" + uuid.uuid4().hex[:8])
    async with running(recorder.run(), service.run()), nurse:
        await recorder.connected.wait()
        await service.connected.wait()
        async with running(gateway.run()):
            await gateway.connected.wait()
            await recorder.watch.until(lambda: any(b'"online"' in p and b'"chair"' in p
                                                   for p in recorder.watch.payloads))
            await service.watch.until(lambda: len(service.watch.payloads) >= 1)
            service.tick(clock.now())

            def alarm_id(condition: str) -> str:
                for o in outputs:
                    if isinstance(o, AlarmEvent) and o.condition == condition:
                        return o.alarm_id
                raise AssertionError(f"no {condition} alarm")

            for second in range(0, 290):
                now = clock.now()
                commands: list[bytes] = []
                readings = [spo2(chair, now, 90 if 60 <= second < 80 else 97, pulse=72)]
                if not 200 <= second < 240:
                    readings.append(hr(chair, now, 72 + (second % 5)))
                pressures = {10: (128, 82), 90: (186, 104), 150: (140, 85), 260: (130, 80)}
                if second in pressures:
                    readings.append(bp(chair, now, *pressures[second]))
                for r in readings:
                    gateway.accept(r)
                sent = [r.to_json() for r in readings]
                if second == 0:
                    commands.append(StartSession(at=now, by="nurse", patient_code="P-0042",
                                                 protocol="short", dose_mg=56,
                                                 lot="L1").to_json())
                if second == 30:
                    commands.append(DoseGiven(at=now, by="nurse", dose_mg=56).to_json())
                if second == 170:
                    commands.append(AckAlarm(at=now, by="nurse",
                                             alarm_id=alarm_id("bp_high")).to_json())
                if second == 265:
                    commands.append(Assessment(at=now, by="nurse", sedation="none",
                                               dissociation="none",
                                               respiration="normal").to_json())
                if second == 275:
                    commands.append(Discharge(at=now, by="nurse").to_json())
                for payload in commands:
                    await nurse.publish(topics.commands(site, chair), payload, qos=QOS)
                sent += commands
                await recorder.watch.has(sent)
                await service.watch.has(sent)
                service.tick(now)
                clock.advance(1)
            # Everything the engine said must have reached the recorder before we stop.
            said = [o.to_json() for o in outputs if isinstance(o, AlarmEvent | CommandResult)]
            await recorder.watch.has(said)
            await recorder.watch.until(
                lambda: any(b'"phase":"discharged"' in p for p in recorder.watch.payloads))
    store.commit()
    return outputs, store
