"""The overview, the physician's second screen: one tile per chair, the most urgent first (or
in chair order); arrow keys move between tiles, enter or a click opens the chair."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import ClassVar

from textual import events
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Grid, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from monitor.config import DashboardSettings
from monitor.localtime import clock_time

from .floor import Floor, chair_key
from .host import Host, host_of
from .messages import OpenChair, OverviewReady, ShowNow
from .tile import ChairTile
from .widgets import Banners

TILE_WIDTH = 40
"""Columns per tile: two across an 80-column terminal, more on a wide screen."""

__all__ = ["OverviewScreen", "chair_key"]


class OverviewScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "toggle_sort", "Sort: urgency/chair"),
        Binding("left", "move(-1, 0)", "Previous", show=False),
        Binding("right", "move(1, 0)", "Next", show=False),
        Binding("up", "move(0, -1)", "Up", show=False),
        Binding("down", "move(0, 1)", "Down", show=False),
    ]

    AUTO_FOCUS = "ChairTile"
    """Never the scroll around them: the first tile, once there is one."""

    def __init__(self, banner: str | None) -> None:
        super().__init__()
        self.banner = banner
        self.ready = False
        self._tiles: dict[str, ChairTile] = {}
        self._head = ""

    def compose(self) -> ComposeResult:
        yield Banners(self.banner)
        yield Static(id="overview-head")
        with VerticalScroll(id="scroll"):
            yield Grid(id="chairs")
        yield Footer()

    @property
    def host(self) -> Host:
        return host_of(self.app)

    @property
    def columns(self) -> int:
        return max(1, self.size.width // TILE_WIDTH)

    def on_mount(self) -> None:
        self.ready = True
        self.post_message(OverviewReady())

    def on_resize(self, event: events.Resize) -> None:
        self.query_one("#chairs", Grid).styles.grid_size_columns = max(
            1, event.size.width // TILE_WIDTH
        )

    def on_screen_resume(self) -> None:
        self.post_message(ShowNow())

    def on_chair_tile_selected(self, message: ChairTile.Selected) -> None:
        message.stop()
        self.post_message(OpenChair(message.chair))

    def action_toggle_sort(self) -> None:
        floor = self.host.floor
        floor.sort_by_urgency = not floor.sort_by_urgency
        self.notify("sorted by " + ("urgency" if floor.sort_by_urgency else "chair"), timeout=2)
        self.post_message(ShowNow())

    def system_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Sort: urgency / chair", "Toggle the order of the tiles",
                            self.action_toggle_sort)
        for name in sorted(self.host.floor.states, key=chair_key):
            yield SystemCommand(f"Open {name}", f"Open the chair view of {name}",
                                lambda name=name: self.post_message(OpenChair(name)))

    def tiles(self) -> list[ChairTile]:
        return list(self.query_one("#chairs", Grid).query_children(ChairTile))

    async def tile(self, chair: str) -> ChairTile:
        if (known := self._tiles.get(chair)) is not None:
            return known
        grid = self.query_one("#chairs", Grid)
        tile = ChairTile(chair, id=f"tile-{chair}")
        self._tiles[chair] = tile
        await grid.mount(tile)
        if len(grid.children) == 1:
            tile.focus()
        return tile

    async def clear(self) -> None:
        """No tile at all (signed out)."""
        self._tiles.clear()
        await self.query_one("#chairs", Grid).remove_children()
        self._put_head("")
        self.query_one(Banners).identity(None)

    def _put_head(self, text: str) -> None:
        """The head line, one row whatever it says: rewritten only when it changes (the
        clock: once a second), without a layout."""
        if text != self._head:
            self._head = text
            self.query_one("#overview-head", Static).update(text, layout=False)

    def action_move(self, dx: int, dy: int) -> None:
        tiles = self.tiles()
        if not tiles:
            return
        focused = self.focused
        index = tiles.index(focused) if isinstance(focused, ChairTile) and focused in tiles \
            else -1
        if index < 0:
            tiles[0].focus()
            return
        target = index + dx + dy * self.columns
        if 0 <= target < len(tiles):
            tiles[target].focus()
            tiles[target].scroll_visible()

    async def show(
        self,
        floor: Floor,
        now: datetime,
        settings: DashboardSettings,
        offline: str | None,
        tz: tzinfo | None,
    ) -> None:
        if not self.ready:
            return
        self.query_one(Banners).show(offline)
        for chair in floor.states:
            if chair not in self._tiles:
                await self.tile(chair)
        tiles = self.tiles()
        by = "urgency" if floor.sort_by_urgency else "chair"
        self._put_head(f"{self.host.site} · {clock_time(now, tz, seconds=True)} · "
                       f"{len(tiles)} chairs · sorted by {by}")
        for tile in tiles:
            tile.show(floor.states.get(tile.chair), now, settings, stale=offline is not None,
                      tz=tz)
        self._order(tiles, floor)
        if self.focused is None and tiles:
            self.tiles()[0].focus()

    def _order(self, tiles: list[ChairTile], floor: Floor) -> None:
        """Move only the tiles whose place changed: each move lays the grid out again."""
        by_chair = {tile.chair: tile for tile in tiles}
        wanted = [by_chair[chair] for chair in floor.ordered(list(by_chair))]
        if tiles == wanted:
            return
        grid = self.query_one("#chairs", Grid)
        current = list(tiles)
        for place, tile in enumerate(wanted):
            if current[place] is not tile:
                grid.move_child(tile, before=current[place])
                current.remove(tile)
                current.insert(place, tile)

    def flash(self, high_on: bool, medium_on: bool) -> None:
        if not self.ready:
            return
        for tile in self.tiles():
            tile.flash(high_on, medium_on)
