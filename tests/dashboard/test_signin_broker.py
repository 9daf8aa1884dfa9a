"""Signing in at the dashboard against a real Mosquitto with the site's password file and ACL:
the broker judges the password, the screen then connects as that user, and its commands reach
the engine under the user's own topic, answered as that user with that role."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.widgets import Input, Select, Static

from drivers.clock import FakeClock
from monitor.config import DashboardSettings
from monitor.dashboard.app import DashboardApp
from monitor.dashboard.overview import OverviewScreen
from monitor.dashboard.signin import SignInScreen
from monitor.engine import EngineConfig
from monitor.engine_service import EngineService
from tests.integration.helpers import running, unique_site
from tests.signin_site import PASSWORDS, as_user, signing_broker, write_site

pytestmark = pytest.mark.broker

CHAIR = "chair-1"


async def until(check: Callable[[], bool], within: float = 15.0) -> None:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > within:
            raise AssertionError("not seen in time")
        await asyncio.sleep(0.02)


def notices(app: DashboardApp) -> str:
    return "\n".join(f"{n.title}: {n.message}" for n in app._notifications)


async def test_the_broker_judges_the_password_and_the_screen_sends_as_its_user(
    tmp_path: Path,
) -> None:
    site = unique_site()
    directory = write_site(tmp_path, site, (CHAIR,))
    with signing_broker(tmp_path, directory) as broker:
        clock = FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
        engine = EngineService(as_user(broker.settings, "engine"), site, EngineConfig(), clock,
                               chairs=[CHAIR], restore_wait_s=0.2, tick_interval_s=0.1,
                               users=directory.path)
        app = DashboardApp(broker.settings, site, DashboardSettings(offline_after_s=3600),
                           clock, chairs=[CHAIR], tz=UTC, blink=False, directory=directory)
        async with running(engine.run()), app.run_test(size=(100, 40)) as pilot:
            await engine.connected.wait()
            signin = app.screen
            assert isinstance(signin, SignInScreen)
            assert not app.floor.link.connected and app.floor.states == {}

            async def attempt(user: str, password: str) -> None:
                signin.query_one("#user", Input).value = user
                signin.query_one("#password", Input).value = password
                signin.query_one("#password", Input).focus()
                await pilot.press("enter")
                await pilot.pause()
                await until(lambda: app.who.signed_in is not None or "checking" not in str(
                    signin.query_one("#signin-message", Static).render()))
                await pilot.pause()

            await attempt("amy", "not-her-password")
            assert str(signin.query_one("#signin-message", Static).render()) == (
                "wrong user name or password")
            assert isinstance(app.screen, SignInScreen) and app.who.signed_in is None

            await attempt("amy", PASSWORDS["amy"])
            await until(lambda: isinstance(app.screen, OverviewScreen))
            await until(lambda: app.floor.link.connected and CHAIR in app.floor.states)
            assert app.who.mqtt is not None and app.who.mqtt.username == "amy"

            app.open_chair(CHAIR)
            await pilot.pause()
            await pilot.press("n")
            await pilot.pause()
            form = app.screen
            form.query_one("#patient_code", Input).value = "P-0042"
            form.query_one("#protocol", Select).value = "spravato"
            await pilot.press("ctrl+s")
            await until(lambda: "start session: accepted" in notices(app))
            answer = next(r for r, own in app.floor.results[CHAIR] if own)
            assert (answer.by, answer.role) == ("amy", "nurse")
            await until(lambda: (s := app.floor.states[CHAIR].session) is not None
                        and s.patient_code == "P-0042")


async def test_a_kiosk_whose_account_the_broker_refuses_says_so_on_the_screen(
    tmp_path: Path,
) -> None:
    site = unique_site()
    directory = write_site(tmp_path, site, (CHAIR,))
    with signing_broker(tmp_path, directory) as broker:
        wrong = as_user(broker.settings, "wall").model_copy(
            update={"password": as_user(broker.settings, "amy").password})
        app = DashboardApp(wrong, site, DashboardSettings(), FakeClock(), chairs=[CHAIR],
                           tz=UTC, blink=False, directory=directory, kiosk=True)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(lambda: app.floor.link.refused is not None)
            await app.refresh_view()
            await pilot.pause()
            banner = str(app.overview.query_one("#offline", Static).render())
            assert "MONITORING OFFLINE: the broker" in banner and "refused user 'wall'" in banner
            assert str(app.overview.query_one("#who", Static).render()) == "KIOSK · read only"
