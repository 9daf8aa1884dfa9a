"""The overview as the floor grows, through Textual's Pilot on an injected clock: every chair
on one 160x48 screen at 24 chairs (compact tiles) and at 50 (one line each), and the head
line's count of alarming chairs scrolled out of view, which follows scrolling and states."""

from __future__ import annotations

import pytest
from textual.containers import VerticalScroll
from textual.geometry import Region

from monitor.dashboard.app import DashboardApp
from monitor.dashboard.compact import ChairRow, CompactTile
from monitor.dashboard.tile import ChairTile
from tests.dashboard import states as S
from tests.dashboard.test_redraws import counting


def chairs(n: int) -> list[str]:
    return [f"chair-{i}" for i in range(1, n + 1)]


def fill(app: DashboardApp, names: list[str], alarming: dict[str, str] | None = None) -> None:
    now = app.clock.now()
    for chair in names:
        priority = (alarming or {}).get(chair)
        S.feed(app, S.chair_state(chair, "observation", now, alarms=[
            S.alarm(chair, priority)] if priority else []))  # type: ignore[arg-type]


def on_screen(app: DashboardApp) -> dict[str, Region]:
    """Each chair's widget region, and the screen's."""
    return {tile.chair: tile.region for tile in app.overview.tiles()}


def head(app: DashboardApp) -> str:
    return str(app.overview.query_one("#overview-head").render())


async def test_24_chairs_fit_160x48_in_compact_tiles() -> None:
    names = chairs(24)
    app, _, _ = S.make_app(names, banner="DEMO - simulated patients")
    async with app.run_test(size=(160, 48)) as pilot:
        fill(app, names, {"chair-24": "high", "chair-3": "medium"})
        await app.refresh_view()
        await pilot.pause()
        tiles = app.overview.tiles()
        assert sorted(t.chair for t in tiles) == sorted(names)
        assert all(type(t) is CompactTile for t in tiles)
        scroll = app.overview.query_one("#scroll", VerticalScroll).scrollable_content_region
        for chair, region in on_screen(app).items():
            assert region.height == 6 and scroll.contains_region(region), chair
        assert [t.chair for t in tiles[:2]] == ["chair-24", "chair-3"]  # most urgent first
        top = app.query_one("#tile-chair-24", ChairTile)
        said = str(top.render())
        for part in ("observation", "obs 45m", "BP 132/84", "HR 78", "SpO2 97",
                     "*** SYS 186 >= 180 mmHg"):
            assert part in said
        assert top.has_class("alarm-high")
        assert "not in view" not in head(app)


async def test_50_chairs_are_one_line_each_and_all_on_screen() -> None:
    names = chairs(50)
    app, _, _ = S.make_app(names)
    async with app.run_test(size=(160, 48)) as pilot:
        fill(app, names, {"chair-50": "medium"})
        await app.refresh_view()
        await pilot.pause()
        tiles = app.overview.tiles()
        assert len(tiles) == 50 and all(type(t) is ChairRow for t in tiles)
        screen = Region(0, 0, 160, 48)
        assert all(r.height == 1 and screen.contains_region(r)
                   for r in on_screen(app).values())
        assert len({r.x for r in on_screen(app).values()}) == 2  # two columns of rows
        row = str(app.query_one("#tile-chair-50", ChairTile).render())
        assert row.startswith("chair-50") and "** SpO2 90 < 92 %" in row


async def test_a_chair_below_the_fold_that_alarms_is_counted_until_scrolled_into_view() -> None:
    names = chairs(24)
    app, _, _ = S.make_app(names)
    async with app.run_test(size=(80, 24)) as pilot:
        app.floor.sort_by_urgency = False  # chair order: chair-24 stays at the bottom
        fill(app, names)
        await app.refresh_view()
        await pilot.pause()
        assert type(app.overview.tiles()[0]) is CompactTile  # they do not fit: they scroll
        assert "not in view" not in head(app)
        fill(app, ["chair-24"], {"chair-24": "high"})
        await app.refresh_view()
        await pilot.pause()
        assert app.overview.out_of_view == ([], ["chair-24"])
        assert "▼ 1 below: 1 alarming chair not in view (press a)" in head(app)
        assert app.overview.query_one("#overview-head").has_class("out-of-view")
        app.overview.query_one("#scroll", VerticalScroll).scroll_end(animate=False)
        await pilot.pause()
        await pilot.pause()
        assert app.overview.out_of_view == ([], [])
        assert "not in view" not in head(app)
        app.overview.query_one("#scroll", VerticalScroll).scroll_home(animate=False)
        await pilot.pause()
        await pilot.pause()
        assert app.overview.out_of_view == ([], ["chair-24"])
        await pilot.press("a")  # the next alarming chair out of view: focused, in view
        await pilot.pause()
        await pilot.pause()
        assert app.focused is app.query_one("#tile-chair-24", ChairTile)
        assert "not in view" not in head(app)
        fill(app, ["chair-1"], {"chair-1": "medium"})  # now one above, the state's change
        await app.refresh_view()
        await pilot.pause()
        await pilot.pause()
        assert app.overview.out_of_view == (["chair-1"], [])
        assert "▲ 1 above" in head(app)


async def test_a_low_alarm_out_of_view_is_not_counted() -> None:
    names = chairs(24)
    app, _, _ = S.make_app(names)
    async with app.run_test(size=(80, 24)) as pilot:
        app.floor.sort_by_urgency = False
        fill(app, names, {"chair-24": "low"})
        await app.refresh_view()
        await pilot.pause()
        await pilot.pause()
        assert app.overview.out_of_view == ([], [])


async def test_compact_tiles_lay_nothing_out_while_nothing_changes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    names = chairs(24)
    app, clock, _ = S.make_app(names)
    async with app.run_test(size=(160, 48)) as pilot:
        fill(app, names)
        await app.refresh_view()
        await pilot.pause()
        with counting(monkeypatch) as counts:
            for _ in range(3):
                clock.advance(0.25)
                await app.refresh_view()
                await pilot.pause()
            assert counts == {"layouts": 0, "moves": 0, "tile updates": 0}
            clock.advance(1)  # a new second: the overview's clocks count minutes
            await app.refresh_view()
            await pilot.pause()
            assert counts == {"layouts": 0, "moves": 0, "tile updates": 0}
            clock.advance(60)  # a new minute: every observation clock moves, nothing else
            app.floor.last_state_at = clock.now()  # (the engine is still heard from)
            await app.refresh_view()
            await pilot.pause()
            assert counts["tile updates"] == len(names)
            assert counts["layouts"] == 0 and counts["moves"] == 0


async def test_the_density_follows_a_resize_and_keeps_the_focused_chair() -> None:
    names = chairs(24)
    app, _, _ = S.make_app(names)
    async with app.run_test(size=(160, 48)) as pilot:
        fill(app, names)
        await app.refresh_view()
        await pilot.pause()
        app.query_one("#tile-chair-5", ChairTile).focus()
        await pilot.resize_terminal(200, 48)  # 5 across: full tiles fit
        await pilot.pause()
        await app.refresh_view()
        await pilot.pause()
        assert all(type(t) is ChairTile for t in app.overview.tiles())
        assert app.overview.density.kind == "full"
        focused = app.focused
        assert isinstance(focused, ChairTile) and focused.chair == "chair-5"


async def test_compact_tiles_and_rows_flash_their_alarm() -> None:
    """High flashes: the alarm line's lit block comes and goes with the flash phase."""
    for count, kind in ((24, CompactTile), (50, ChairRow)):
        names = chairs(count)
        app, _, _ = S.make_app(names)
        async with app.run_test(size=(160, 48)) as pilot:
            fill(app, names, {"chair-7": "high"})
            await app.refresh_view()
            await pilot.pause()
            tile = app.query_one("#tile-chair-7", ChairTile)
            assert type(tile) is kind
            app.overview.flash(True, True)
            lit = tile.render()
            app.overview.flash(False, False)
            dark = tile.render()
            assert not tile.lit
            assert str(lit) == str(dark) and "*** SYS 186" in str(dark)  # the marker stays
            assert lit.spans != dark.spans  # only the colour block went
