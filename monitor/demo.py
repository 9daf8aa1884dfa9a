"""``chairside demo``: a whole clinic floor in one process, no hardware, no setup.

An embedded broker on loopback; per chair a simulated patient, its devices and a gateway; a
simulated nurse sending commands; the engine; and the dashboard (or the headless printer).
Every part talks over MQTT exactly as in a clinic, so the demo exercises the real data path.

Time is simulated: ``speed`` times faster than the wall, after a short warm-up that opens the
demo with chairs part-way through their sessions, as a clinic floor looks mid-morning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

import aiomqtt

from drivers import topics
from drivers.clock import SimClock
from drivers.gateway import Gateway
from drivers.mqtt import QOS, make_client, stay_connected
from drivers.mqtt_settings import MqttSettings
from monitor.access import demo_users
from monitor.broker import embedded_broker
from monitor.config import Settings
from monitor.engine_service import EngineService
from monitor.headless import print_feed
from monitor.recording.recorder import Recorder
from monitor.recording.store import Store
from simulators.nurse import Step, session_script
from simulators.rig import ChairRig, layout_for
from simulators.scenario import Scenario, load_scenario

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DemoChair:
    chair: str
    scenario: Scenario
    session_start: datetime


def plan_chairs(settings: Settings, chairs: int, start: datetime) -> list[DemoChair]:
    """Chair ``i`` runs scenario ``i`` (cycling) and starts ``stagger_min`` after chair i-1."""
    demo = settings.demo
    scenarios = [load_scenario(name) for name in demo.scenarios]
    return [
        DemoChair(
            chair=f"chair-{i + 1}",
            scenario=scenarios[i % len(scenarios)],
            session_start=start + timedelta(minutes=i * demo.stagger_min),
        )
        for i in range(chairs)
    ]


async def run_nurse(
    mqtt: MqttSettings,
    site: str,
    clock: SimClock,
    steps: list[tuple[str, Step]],
    *,
    ready: asyncio.Event,
    go: asyncio.Event,
) -> None:
    """Send each scripted command when simulated time reaches it (once ``go`` is set)."""
    pending = sorted(steps, key=lambda s: s[1].at)

    async def session(client: aiomqtt.Client) -> None:
        ready.set()
        await go.wait()
        while pending:
            chair, step = pending[0]
            wait = (step.at - clock.now()).total_seconds()
            if wait > 0:
                await asyncio.sleep(min(clock.wall_delay(wait), 0.5))
                continue
            payload = step.command.model_copy(update={"at": clock.now()})
            await client.publish(topics.commands(site, chair, mqtt.username), payload.to_json(),
                                 qos=QOS)
            pending.pop(0)

    await stay_connected(mqtt, lambda: make_client(mqtt, f"chairside-demo-nurse-{site}"),
                         session, name="demo nurse")


async def run_demo(
    settings: Settings,
    *,
    chairs: int,
    speed: float,
    headless: bool,
    duration: float | None,
    record: Path | None = None,
    out: TextIO = sys.stdout,
) -> int:
    clock = SimClock(
        speed,
        warmup_s=settings.demo.warmup_min * 60.0,
        warmup_wall_s=settings.demo.warmup_wall_s,
        running=False,
    )
    plan = plan_chairs(settings, chairs, clock.now())
    site = settings.site.id
    mqtt = settings.mqtt
    embedded = mqtt.broker == "embedded"
    # The embedded broker signs everyone in, as a clinic's does: users made for this run.
    users = demo_users.make(Path(tempfile.mkdtemp(prefix="chairside-demo-")), site,
                            [c.chair for c in plan]) if embedded else None
    broker_cm = (
        embedded_broker(mqtt, (users.directory, users.hashes)) if users is not None
        else contextlib.nullcontext(mqtt)
    )

    def as_user(live: MqttSettings, user: str) -> MqttSettings:
        return live if users is None else users.settings(live, user)

    async with broker_cm as live:
        engine = EngineService(
            as_user(live, "engine"), site, settings.engine, clock,
            chairs=[c.chair for c in plan],
            users=users.directory.path if users is not None else None,
        )
        tasks: list[asyncio.Task[None]] = [asyncio.create_task(engine.run(), name="engine")]
        await asyncio.wait_for(engine.connected.wait(), timeout=15)
        store: Store | None = None
        if record is not None:
            # QA can list, replay and report the demo's sessions afterwards.
            record.parent.mkdir(parents=True, exist_ok=True)
            store = Store(record)
            recorder = Recorder(as_user(live, "recorder"), site, store, clock)
            tasks.append(asyncio.create_task(recorder.run(), name="recorder"))
            await asyncio.wait_for(recorder.connected.wait(), timeout=15)
        steps: list[tuple[str, Step]] = []
        gateways: list[tuple[DemoChair, Gateway]] = []
        for c in plan:
            gateway = Gateway(as_user(live, f"gw-{c.chair}"), site, c.chair, clock)
            gateways.append((c, gateway))
            tasks.append(asyncio.create_task(gateway.run(), name=f"gateway-{c.chair}"))
            steps += [
                (c.chair, s)
                for s in session_script(
                    c.chair, c.scenario.protocol, c.session_start, c.scenario.dose_at_min
                )
            ]
        nurse_ready, go = asyncio.Event(), asyncio.Event()
        tasks.append(asyncio.create_task(
            run_nurse(as_user(live, "nurse"), site, clock, steps, ready=nurse_ready, go=go),
            name="nurse"))
        await asyncio.wait_for(
            asyncio.gather(nurse_ready.wait(), *(g.connected.wait() for _, g in gateways)),
            timeout=15,
        )
        # Every part is connected: simulated time starts now, for all of them at once.
        clock.start()
        go.set()
        for c, gateway in gateways:
            number = int(c.chair.split("-")[-1])
            devices = ChairRig(c.chair, c.scenario, clock, gateway, c.session_start,
                               devices=layout_for(number), seed=settings.demo.seed + number)
            tasks.append(asyncio.create_task(devices.run(), name=f"devices-{c.chair}"))
        try:
            if headless:
                print(
                    f"chairside demo: {len(plan)} chairs, simulated time x{speed:g}, "
                    f"broker {live.url()}",
                    file=out,
                    flush=True,
                )
                feed = asyncio.create_task(print_feed(as_user(live, "qa"), site, clock, out),
                                           name="feed")
                tasks.append(feed)
                await _until(tasks, duration)
            else:
                from monitor.dashboard.app import DashboardApp

                banner = f"DEMO - simulated patients - time x{speed:g}"
                app = DashboardApp(
                    live, site, settings.dashboard, clock,
                    chairs=[c.chair for c in plan],
                    banner=banner if users is None else f"{banner} - {users.hint()}",
                    directory=users.directory if users is not None else None,
                    idle_lock_s=settings.access.idle_lock_s,
                    exit_after_s=duration,
                    protocols=list(settings.engine.protocols),
                    tz=settings.site.zone(),
                )
                await app.run_async()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if store is not None:
                store.close()
    return 0


async def _until(tasks: list[asyncio.Task[None]], duration: float | None) -> None:
    """Run until ``duration`` wall seconds pass, or a part fails (then raise its error)."""
    done, _ = await asyncio.wait(tasks, timeout=duration, return_when=asyncio.FIRST_EXCEPTION)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
