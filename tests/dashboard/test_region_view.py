"""The region's overview through Textual's Pilot on an injected clock: each watched site's
chairs in a group under its link status, a site whose bridge is down greyed and said
unreachable while the others stay live, the chair view of any site's chair with commands to
that site only, the sites heard of at the region joining as they come, and snapshots."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from drivers import topics
from drivers.payloads import Inbound
from drivers.wire import AckAlarm, ChairState
from monitor.config import DashboardSettings
from monitor.dashboard.app import ALL_SITES, DashboardApp
from monitor.dashboard.chair import ChairScreen
from monitor.dashboard.compact import CompactTile
from monitor.dashboard.messages import BridgeState, SiteHeard
from monitor.dashboard.region_view import RegionScreen
from monitor.dashboard.tile import ChairTile
from tests.dashboard import states as S
from tests.dashboard.test_snapshots import OVERVIEW, Snap


def region_app(sites: list[str]) -> tuple[DashboardApp, S.FakeClock, S.Recorder]:
    clock = S.FakeClock(S.NOW["observation"])
    recorder = S.Recorder()
    app = DashboardApp(None, "region", DashboardSettings(), clock, tz=UTC, blink=False,
                       sender=recorder, user="dr-a", sites=sites)
    recorder.app = app
    return app, clock, recorder


def feed(app: DashboardApp, site: str, state: ChairState) -> None:
    app.ingest(Inbound(topics.Topic("state", site, state.chair), state), site)


def fill(app: DashboardApp, site: str, count: int, *, alarming: bool = True) -> None:
    now = app.clock.now()
    for i in range(count):
        chair, phase, alarms = OVERVIEW[i % len(OVERVIEW)]
        chair = f"chair-{i + 1}"
        feed(app, site, S.chair_state(chair, phase, now, alarms=[
            S.alarm(chair, p, k) for p, k in alarms] if alarming else []))


def head(app: DashboardApp, site: str) -> Static:
    return app.screen.query_one(f"#site-{site}", Static)


async def bridges_up(app: DashboardApp, *sites: str) -> None:
    for site in sites:
        app.post_message(BridgeState(True, site))


async def test_each_site_is_a_group_under_its_link() -> None:
    app, _, _ = region_app(["west", "east"])
    async with app.run_test(size=(160, 48)) as pilot:
        assert isinstance(app.screen, RegionScreen)
        await bridges_up(app, "east", "west")
        await pilot.pause()
        fill(app, "east", 3)
        fill(app, "west", 2, alarming=False)
        await app.refresh_view()
        await pilot.pause()
        # The same chair name at two sites is two tiles, each in its own site's group.
        east = app.screen.query_one("#chairs-east")
        west = app.screen.query_one("#chairs-west")
        assert [t.chair for t in east.query_children(ChairTile)] == [
            "chair-1", "chair-2", "chair-3"]  # high, medium, low: the most urgent first
        assert {t.chair for t in west.query_children(ChairTile)} == {"chair-1", "chair-2"}
        assert head(app, "east").region.y < head(app, "west").region.y  # sites in order
        assert str(head(app, "east").render()) == "east · live · 3 chairs · 2 alarming"
        assert str(head(app, "west").render()) == "west · live · 2 chairs"
        said = str(app.screen.query_one("#overview-head").render())
        assert said.startswith("region · ") and "2 sites · 5 chairs" in said
        assert not any(t.has_class("stale") for t in app.screen.query(ChairTile))


async def test_a_site_whose_bridge_is_down_is_unreachable_while_the_others_stay_live() -> None:
    app, clock, _ = region_app(["east", "west"])
    async with app.run_test(size=(160, 48)) as pilot:
        await bridges_up(app, "east", "west")
        await pilot.pause()
        fill(app, "east", 2)
        fill(app, "west", 2)
        await app.refresh_view()
        await pilot.pause()
        app.post_message(BridgeState(False, "west"))  # the bridge's will, at the region
        await pilot.pause()
        await app.refresh_view()
        await pilot.pause()
        said = str(head(app, "west").render())
        assert said.startswith("west · UNREACHABLE since 09:55:00: last known state, not live")
        assert head(app, "west").has_class("unreachable")
        assert not head(app, "east").has_class("unreachable")
        assert all(t.has_class("stale") for t in app.screen.query_one(
            "#chairs-west").query_children(ChairTile))
        assert not any(t.has_class("stale") for t in app.screen.query_one(
            "#chairs-east").query_children(ChairTile))
        assert "1 not live" in str(app.screen.query_one("#overview-head").render())
        # Silence after the bridge said it is up counts too: east goes quiet past the limit.
        clock.advance(DashboardSettings().offline_after_s + 1)
        fill(app, "west", 2)  # west's queued states arrive: it is up again
        app.post_message(BridgeState(True, "west"))
        await pilot.pause()
        await app.refresh_view()
        await pilot.pause()
        assert head(app, "east").has_class("unreachable")
        assert "east · UNREACHABLE since 09:55:00" in str(head(app, "east").render())
        assert not head(app, "west").has_class("unreachable")


async def test_a_chair_view_of_any_site_sends_to_that_site_only() -> None:
    app, _, recorder = region_app(["east", "west"])
    async with app.run_test(size=(120, 40)) as pilot:
        await bridges_up(app, "east", "west")
        fill(app, "east", 1)
        fill(app, "west", 1)
        await app.refresh_view()
        await pilot.pause()
        app.screen.query_one("#tile-west-chair-1", ChairTile).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ChairScreen) and app.screen.chair == "chair-1"
        assert app.site == "west" and app.floor is app.floors["west"]
        await app.send("chair-1", AckAlarm(at=app.clock.now(), by="dr-a",
                                           alarm_id=app.floor.states["chair-1"].alarms[0].alarm_id))
        assert [c for c, _ in app.floors["west"].sent] == ["chair-1"]
        assert app.floors["east"].sent == []
        assert len(recorder.sent) == 1
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, RegionScreen)

        # West out of reach: its chair's view says so, and sends nothing.
        app.post_message(BridgeState(False, "west"))
        await pilot.pause()
        app.screen.query_one("#tile-west-chair-1", ChairTile).focus()
        await pilot.press("enter")
        await pilot.pause()
        await app.refresh_view()
        await pilot.pause()
        offline = app.screen.query_one("#offline", Static)
        assert str(offline.render()).startswith("SITE west UNREACHABLE since")
        sent = await app.send("chair-1", AckAlarm(
            at=app.clock.now(), by="dr-a",
            alarm_id=app.floor.states["chair-1"].alarms[0].alarm_id))
        assert sent is False and len(recorder.sent) == 1


async def test_all_sites_are_the_sites_heard_of_at_the_region() -> None:
    app, _, _ = region_app([ALL_SITES])
    async with app.run_test(size=(160, 48)) as pilot:
        await app.refresh_view()
        await pilot.pause()
        assert str(app.screen.query_one("#offline", Static).render()) == (
            "WAITING FOR THE REGION'S SITES")
        for site in ("north", "east"):
            app.post_message(SiteHeard(site))
        await pilot.pause()
        await bridges_up(app, "north", "east")
        await pilot.pause()
        fill(app, "north", 1)
        fill(app, "east", 1)
        await app.refresh_view()
        await pilot.pause()
        assert sorted(app.floors) == ["east", "north"]
        assert app.screen.query_one("#offline", Static).has_class("hidden")
        assert head(app, "east").region.y < head(app, "north").region.y


async def test_24_chairs_at_each_of_two_sites_shrink_to_compact_tiles() -> None:
    app, _, _ = region_app(["east", "west"])
    async with app.run_test(size=(160, 48)) as pilot:
        await bridges_up(app, "east", "west")
        fill(app, "east", 12)
        fill(app, "west", 12)
        await app.refresh_view()
        await pilot.pause()
        tiles = list(app.screen.query(ChairTile))
        assert len(tiles) == 24 and all(type(t) is CompactTile for t in tiles)
        assert all(t.site in ("east", "west") for t in tiles)


def region_floor(app: DashboardApp, down: str | None) -> Callable[[Pilot[None]], Any]:
    async def run_before(pilot: Pilot[None]) -> None:
        await bridges_up(app, "east", "west")
        await pilot.pause()
        fill(app, "east", 7)
        fill(app, "west", 5)
        if down is not None:
            app.post_message(BridgeState(False, down))
        await pilot.pause()
        await app.refresh_view()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("down", [None, "west"])
def test_region_overview(snap_compare: Snap, down: str | None) -> None:
    """Two sites' groups at 160x48; with west's bridge down, west's group is unreachable."""
    app, _, _ = region_app(["east", "west"])
    assert snap_compare(app, terminal_size=(160, 48), run_before=region_floor(app, down))
