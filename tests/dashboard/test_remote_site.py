"""A remote screen (at the regional broker) through Textual's Pilot: the site's bridge going
down puts the unreachable banner on the overview and the chair view, greys every tile and
panel as an engine offline does, and stops commands with one line; its return takes the
banner away and a fresh state makes the tiles live again."""

from __future__ import annotations

from datetime import UTC

from textual.widgets import Static

from drivers.clock import FakeClock
from monitor.config import DashboardSettings
from monitor.dashboard.app import DashboardApp
from monitor.dashboard.chair import ChairScreen
from monitor.dashboard.messages import BridgeState
from monitor.dashboard.tile import ChairTile
from monitor.dashboard.widgets import VitalPanel
from tests.dashboard.states import NOW, Recorder, alarm, chair_state, feed
from tests.dashboard.test_actions import notifications

UNREACHABLE = "SITE clinic UNREACHABLE since"


def banner(app: DashboardApp) -> Static:
    return app.screen.query_one("#offline", Static)


def shown(app: DashboardApp) -> str | None:
    line = banner(app)
    return None if line.has_class("hidden") else str(line.render())


async def test_the_bridges_will_shows_the_site_unreachable_and_stops_commands() -> None:
    clock = FakeClock(NOW["observation"])
    recorder = Recorder()
    app = DashboardApp(None, "clinic", DashboardSettings(), clock, chairs=["chair-1", "chair-2"],
                       tz=UTC, blink=False, sender=recorder, user="physician", remote=True)
    async with app.run_test(size=(100, 34)) as pilot:
        app.post_message(BridgeState(True))
        for chair in ("chair-1", "chair-2"):
            feed(app, chair_state(chair, "observation", clock.now()))
        await pilot.pause()
        await app.refresh_view()
        assert shown(app) is None
        tiles = list(app.query(ChairTile))
        assert len(tiles) == 2 and not any(t.has_class("stale") for t in tiles)

        clock.advance(2)
        app.post_message(BridgeState(False))
        await pilot.pause()
        await app.refresh_view()
        down = clock.now().strftime("%H:%M:%S")
        assert shown(app) == (f"{UNREACHABLE} {down}: the chairs below are its last known "
                              "state, not live")
        assert all(t.has_class("stale") for t in app.query(ChairTile))

        # The chair view says it too, greyed as when the engine is offline, and sends nothing.
        feed(app, chair_state("chair-1", "observation", clock.now(),
                              alarms=[alarm("chair-1", "high")]))
        await app.refresh_view()
        app.open_chair("chair-1")
        await pilot.pause()
        assert isinstance(app.screen, ChairScreen)
        await app.refresh_view()
        assert app.screen.has_class("stale")
        assert (shown(app) or "").startswith(f"{UNREACHABLE} {down}")
        assert all(p.has_class("stale") for p in app.screen.query(VitalPanel))
        await pilot.press("p")
        await pilot.pause()
        assert recorder.sent == []
        assert (f"chair-1 · pause audio: NOT SENT: site clinic unreachable since {down}: the "
                "command would wait at the region") in notifications(app)

        # Back: the banner goes; a fresh state makes it live, and commands leave again.
        clock.advance(5)
        app.post_message(BridgeState(True))
        await pilot.pause()
        feed(app, chair_state("chair-1", "observation", clock.now(),
                              alarms=[alarm("chair-1", "high")]))
        await app.refresh_view()
        assert shown(app) is None and not app.screen.has_class("stale")
        await pilot.press("p")
        await pilot.pause()
        assert len(recorder.sent) == 1
        await pilot.press("escape")
        await pilot.pause()
        feed(app, chair_state("chair-2", "observation", clock.now()))
        await app.refresh_view()
        assert shown(app) is None
        assert not any(t.has_class("stale") for t in app.query(ChairTile))


async def test_a_screen_at_the_site_shows_no_banner_for_its_uplink() -> None:
    clock = FakeClock(NOW["observation"])
    app = DashboardApp(None, "clinic", DashboardSettings(), clock, chairs=["chair-1"], tz=UTC,
                       blink=False, sender=Recorder())
    async with app.run_test(size=(100, 34)) as pilot:
        feed(app, chair_state("chair-1", "observation", clock.now()))
        app.post_message(BridgeState(False))
        await pilot.pause()
        await app.refresh_view()
        assert shown(app) is None
        assert not app.query_one(ChairTile).has_class("stale")
