"""What a refresh costs the screen: nothing is laid out again while nothing changes, a tile is
rewritten once a second (its ages and clock) or when its state changes, only the tiles whose
place changed move, and the flash timer runs only while an alarm flashes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widget import Widget

from monitor.dashboard.tile import ChairTile
from tests.dashboard import states as S

CHAIRS = [f"chair-{i}" for i in range(1, 9)]


@contextmanager
def counting(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Layouts of any screen, moves of any child, and tile rewrites, while inside."""
    counts = {"layouts": 0, "moves": 0, "tile updates": 0}
    layout, move, update = Screen._refresh_layout, Widget.move_child, ChairTile.update

    def counted_layout(self: Screen[object], *args: object, **kwargs: object) -> None:
        counts["layouts"] += 1
        layout(self, *args, **kwargs)  # type: ignore[arg-type]

    def counted_move(self: Widget, *args: object, **kwargs: object) -> None:
        counts["moves"] += 1
        move(self, *args, **kwargs)  # type: ignore[arg-type]

    def counted_update(self: ChairTile, *args: object, **kwargs: object) -> None:
        counts["tile updates"] += 1
        update(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Screen, "_refresh_layout", counted_layout)
    monkeypatch.setattr(Widget, "move_child", counted_move)
    monkeypatch.setattr(ChairTile, "update", counted_update)
    yield counts
    monkeypatch.undo()


async def settled(pilot: Pilot[None], monkeypatch: pytest.MonkeyPatch) -> None:
    """Until what mounting the tiles asked of the screen is done: a loaded machine may run
    the first layout after the first pause, and it is not the refresh's cost."""
    quiet = 0
    for _ in range(100):
        with counting(monkeypatch) as counts:
            await pilot.pause()
        quiet = quiet + 1 if counts["layouts"] == 0 else 0
        if quiet == 3:  # three turns of the loop in a row with nothing left to lay out
            return
    raise AssertionError("the screen never stopped laying out")


async def test_nothing_changing_lays_nothing_out_and_rewrites_tiles_once_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, clock, _ = S.make_app(CHAIRS)
    async with app.run_test(size=(160, 48)) as pilot:
        for chair in CHAIRS:
            S.feed(app, S.chair_state(chair, "observation", clock.now()))
        await app.refresh_view()
        await settled(pilot, monkeypatch)
        with counting(monkeypatch) as counts:
            for _ in range(3):  # three refreshes within the same second
                clock.advance(0.25)
                await app.refresh_view()
                await pilot.pause()
            assert counts == {"layouts": 0, "moves": 0, "tile updates": 0}
            clock.advance(1)  # a second on: only the head's clock shows seconds
            await app.refresh_view()
            await pilot.pause()
            assert counts == {"layouts": 0, "moves": 0, "tile updates": 0}
            head = str(app.screen.query_one("#overview-head").render())
            assert "09:55:01" in head  # the head's clock moved, without a layout
            clock.advance(4)  # five seconds on: every age moves to its next step
            await app.refresh_view()
            await pilot.pause()
            assert counts["tile updates"] == len(CHAIRS)
            assert counts["layouts"] == 0 and counts["moves"] == 0


async def test_a_chair_that_becomes_urgent_moves_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    app, clock, _ = S.make_app(CHAIRS)
    async with app.run_test(size=(160, 48)) as pilot:
        for chair in CHAIRS:
            S.feed(app, S.chair_state(chair, "observation", clock.now()))
        await app.refresh_view()
        await settled(pilot, monkeypatch)
        assert [t.chair for t in app.overview.tiles()] == CHAIRS
        with counting(monkeypatch) as counts:
            S.feed(app, S.chair_state("chair-6", "observation", clock.now(),
                                      alarms=[S.alarm("chair-6", "high")]))
            await app.refresh_view()
            await pilot.pause()
            assert counts["moves"] == 1  # chair-6 to the front; the others keep their order
            assert counts["tile updates"] == 1  # only its own tile says something new
        order = [t.chair for t in app.overview.tiles()]
        assert order == ["chair-6", *[c for c in CHAIRS if c != "chair-6"]]
        tile = app.query_one("#tile-chair-6", ChairTile)
        assert tile.has_class("alarm-high") and not tile.has_class("stale")


async def test_the_flash_timer_runs_only_while_an_alarm_flashes() -> None:
    app, _, _ = S.make_app(["chair-1", "chair-2"], blink=True)
    async with app.run_test(size=(100, 30)) as pilot:
        timers = app._flash
        assert timers is not None
        S.feed(app, S.chair_state("chair-1", "observation", alarms=[S.alarm("chair-1", "low")]))
        assert timers._timer is None  # low is steady: nothing to time
        S.feed(app, S.chair_state("chair-2", "observation", alarms=[S.alarm("chair-2", "high")]))
        assert timers._timer is not None
        await pilot.pause(0.6)
        assert app.floor.flash_step >= 1  # it ticks
        S.feed(app, S.chair_state("chair-2", "observation"))
        assert timers._timer is None
        step = app.floor.flash_step
        await app.refresh_view()
        await pilot.pause(0.6)
        assert app.floor.flash_step == step
        assert app.query_one("#tile-chair-2", ChairTile).lit  # left lit, not half-way
