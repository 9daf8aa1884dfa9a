"""Two dashboards, a real broker and the real engine service: what one screen does, the other
shows within a second (the engine publishes each chair's state retained), and the engine's
answers (accepted, or refused with reasons) come back to the screen that asked."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from textual.widgets import Input, Select, Static

from drivers import topics
from drivers.clock import FakeClock
from drivers.gateway import Gateway
from drivers.wire import AckAlarm, EngineStatus, Reading
from monitor.config import DashboardSettings
from monitor.dashboard.app import DashboardApp
from monitor.dashboard.chair import ChairScreen
from monitor.dashboard.tile import ChairTile
from monitor.engine import EngineConfig
from monitor.engine_service import EngineService
from tests.brokers import Broker
from tests.integration.helpers import publish, running, unique_site

pytestmark = pytest.mark.broker

CHAIR = "chair-1"


def bp(clock: FakeClock, systolic: int, diastolic: int) -> Reading:
    now = clock.now()
    return Reading(chair=CHAIR, device="cuff", source="ble-2a35", kind="blood_pressure",
                   measured_at=now, received_at=now, unit="mm[Hg]",
                   values={"systolic": systolic, "diastolic": diastolic})


async def until(check: Callable[[], bool], within: float = 10.0) -> float:
    """Wait for messages to cross the broker; the wall seconds it took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > within:
            raise AssertionError("not seen in time")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


def tile_text(app: DashboardApp) -> str:
    return str(app.overview.query_one(f"#tile-{CHAIR}", ChairTile).render())


def notices(app: DashboardApp) -> str:
    return "\n".join(f"{n.title}: {n.message}" for n in app._notifications)


async def test_what_one_screen_does_the_other_shows(broker: Broker) -> None:
    site = unique_site()
    clock = FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    mqtt = broker.settings
    engine = EngineService(mqtt, site, EngineConfig(), clock, chairs=[CHAIR],
                           restore_wait_s=0.2, tick_interval_s=0.1)
    gateway = Gateway(mqtt, site, CHAIR, clock)
    settings = DashboardSettings(offline_after_s=3600)
    nurse = DashboardApp(mqtt, site, settings, clock, chairs=[CHAIR], tz=UTC, blink=False,
                         user="nurse")
    physician = DashboardApp(mqtt, site, settings, clock, chairs=[CHAIR], tz=UTC, blink=False,
                             user="physician:dr-lee")
    async with running(engine.run(), gateway.run()):
        await engine.connected.wait()
        await gateway.connected.wait()
        async with nurse.run_test(size=(100, 40)) as pn, physician.run_test(size=(100, 40)) as pp:
            await until(lambda: nurse.floor.link.connected and physician.floor.link.connected)
            await until(lambda: CHAIR in nurse.floor.states and CHAIR in physician.floor.states)

            # The nurse starts a session through the form; both screens show it.
            nurse.open_chair(CHAIR)
            await pn.pause()
            await pn.press("n")
            await pn.pause()
            form = nurse.screen
            form.query_one("#patient_code", Input).value = "P-0042"
            form.query_one("#protocol", Select).value = "spravato"
            form.query_one("#dose_mg", Input).value = "56"
            await pn.press("ctrl+s")
            await until(lambda: "start session: accepted" in notices(nurse))
            await until(lambda: (s := physician.floor.states[CHAIR].session) is not None
                        and s.patient_code == "P-0042")
            await physician.refresh_view()
            assert "P-0042" in tile_text(physician)

            gateway.accept(bp(clock, 128, 82))
            await until(lambda: "blood_pressure" in nurse.floor.states[CHAIR].latest)
            clock.advance(60)
            await pn.press("d")
            await pn.pause()
            await pn.press("enter")
            await until(lambda: "dose given: accepted" in notices(nurse))

            # A high blood pressure 40 minutes later: a high alarm on both screens.
            clock.advance(40 * 60)
            gateway.accept(bp(clock, 186, 104))
            await until(lambda: any(a.priority == "high" and a.condition == "bp_high"
                                    for a in physician.floor.states[CHAIR].alarms))
            await until(lambda: any(a.priority == "high" for a in nurse.floor.states[CHAIR].alarms))
            await physician.refresh_view()
            assert "*** SYS 186 >= 180 mmHg" in tile_text(physician)
            assert physician.bell_count >= 1

            # The nurse acknowledges: the physician's screen shows it within a second.
            await nurse.refresh_view()
            await pn.press("a")
            sent = nurse.floor.sent[-1][1]
            assert isinstance(sent, AckAlarm)
            took = await until(lambda: any(a.acknowledged for a in physician.floor.states[CHAIR].alarms),
                               within=5.0)
            assert took < 1.0, f"the acknowledgement took {took:.2f}s to reach the other screen"
            await physician.refresh_view()
            assert "(ack)" in tile_text(physician)

            # The physician tries to discharge too early: refused, with the reasons.
            physician.open_chair(CHAIR)
            await pp.pause()
            await pp.press("x")
            await pp.pause()
            await pp.press("enter")
            await until(lambda: "discharge: REFUSED" in notices(physician))
            assert "minimum observation of 120 min" in notices(physician)
            await until(lambda: any(not r.accepted for r, _ in nurse.floor.results.get(CHAIR, ())))
            await nurse.refresh_view()
            screen = nurse.screen
            assert isinstance(screen, ChairScreen)
            results = str(screen.query_one("#results", Static).render())
            assert "discharge REFUSED (other screen)" in results

            # ... and overrides with a reason.
            await pp.press("o")
            await pp.pause()
            form = physician.screen
            form.query_one("#override_reason", Input).value = "reviewed at the chair, escort here"
            await pp.press("ctrl+s")
            await until(lambda: (s := nurse.floor.states[CHAIR].session) is not None
                        and s.phase == "discharged")
            assert "discharge: accepted" in notices(physician)
            await nurse.refresh_view()
            head = str(screen.query_one("#chair-head", Static).render())
            assert "discharged" in head and "OVERRIDE: reviewed at the chair" in head


async def test_a_silent_or_stopped_engine_raises_the_offline_banner(broker: Broker) -> None:
    site = unique_site()
    clock = FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    engine = EngineService(broker.settings, site, EngineConfig(), clock, chairs=[CHAIR],
                           restore_wait_s=0.2, tick_interval_s=0.1)
    app = DashboardApp(broker.settings, site, DashboardSettings(offline_after_s=10), clock,
                       chairs=[CHAIR], tz=UTC, blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        banner = app.overview.query_one("#offline", Static)
        await until(lambda: app.floor.link.connected)
        async with running(engine.run()):
            await until(lambda: CHAIR in app.floor.states)
            await app.refresh_view()
            assert banner.has_class("hidden")
            clock.advance(11)  # the engine's clock stands still: no state for 11 s
            await app.refresh_view()
            assert "MONITORING OFFLINE: no update for" in str(banner.render())
            await until(lambda: app.floor.engine_status is not None)
        # The engine is gone; the broker publishes its last will (as it would for a crash).
        await publish(broker.settings, topics.engine_status(site),
                      EngineStatus(state="offline", at=clock.now()).to_json(), retain=True)
        await until(lambda: app.floor.engine_status is not None and app.floor.engine_status.state == "offline")
        await app.refresh_view()
        await pilot.pause()
        assert "MONITORING OFFLINE: the engine has stopped" in str(banner.render())
        assert app.overview.query_one(f"#tile-{CHAIR}", ChairTile).has_class("stale")
