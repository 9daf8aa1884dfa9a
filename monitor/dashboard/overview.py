"""The overview, the physician's second screen: one tile per chair, the most urgent first (or
in chair order); arrow keys move between tiles, enter or a click opens the chair."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from drivers.wire import ChairState
from monitor.config import DashboardSettings
from monitor.localtime import clock_time

from .format import urgency
from .tile import ChairTile
from .widgets import Banners

if TYPE_CHECKING:
    from .app import DashboardApp

TILE_WIDTH = 40
"""Columns per tile: two across an 80-column terminal, more on a wide screen."""


def chair_key(chair: str) -> str:
    """chair-2 before chair-10."""
    head, _, tail = chair.rpartition("-")
    return f"{head}-{int(tail):06d}" if tail.isdigit() else chair


class OverviewScreen(Screen[None]):
    DEFAULT_CSS = """
    OverviewScreen #chairs {
        grid-size: 2;
        grid-gutter: 0 1;
        grid-rows: 8;
        height: auto;
    }
    OverviewScreen #scroll { height: 1fr; }
    OverviewScreen #overview-head { height: 1; padding: 0 1; background: $panel; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "app.toggle_sort", "Sort: urgency/chair"),
        Binding("left", "move(-1, 0)", "Previous", show=False),
        Binding("right", "move(1, 0)", "Next", show=False),
        Binding("up", "move(0, -1)", "Up", show=False),
        Binding("down", "move(0, 1)", "Down", show=False),
    ]

    def __init__(self, banner: str | None) -> None:
        super().__init__()
        self.banner = banner
        self.ready = False

    def compose(self) -> ComposeResult:
        yield Banners(self.banner)
        yield Static(id="overview-head")
        with VerticalScroll(id="scroll"):
            yield Grid(id="chairs")
        yield Footer()

    @property
    def dashboard(self) -> DashboardApp:
        from .app import DashboardApp

        assert isinstance(self.app, DashboardApp)
        return self.app

    @property
    def columns(self) -> int:
        return max(1, self.size.width // TILE_WIDTH)

    async def on_mount(self) -> None:
        self.ready = True
        await self.dashboard.overview_ready(self)

    def on_resize(self, event: events.Resize) -> None:
        self.query_one("#chairs", Grid).styles.grid_size_columns = max(
            1, event.size.width // TILE_WIDTH
        )

    def on_screen_resume(self) -> None:
        self.dashboard.show_screen(self)

    def on_chair_tile_selected(self, message: ChairTile.Selected) -> None:
        self.dashboard.open_chair(message.chair)

    def tiles(self) -> list[ChairTile]:
        return list(self.query_one("#chairs", Grid).query_children(ChairTile))

    async def tile(self, chair: str) -> ChairTile:
        grid = self.query_one("#chairs", Grid)
        for tile in grid.query_children(ChairTile):
            if tile.chair == chair:
                return tile
        tile = ChairTile(chair, id=f"tile-{chair}")
        await grid.mount(tile)
        if len(grid.children) == 1:
            tile.focus()
        return tile

    async def clear(self) -> None:
        """No tile at all (signed out)."""
        await self.query_one("#chairs", Grid).remove_children()
        self.query_one("#overview-head", Static).update("")
        self.query_one(Banners).identity(None)

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
        states: dict[str, ChairState],
        now: datetime,
        settings: DashboardSettings,
        offline: str | None,
        by_urgency: bool,
        tz: tzinfo | None,
    ) -> None:
        if not self.ready:
            return
        self.query_one(Banners).show(offline)
        for chair in states:
            await self.tile(chair)
        tiles = self.tiles()
        self.query_one("#overview-head", Static).update(
            f"{self.dashboard.site} · {clock_time(now, tz, seconds=True)} · "
            f"{len(tiles)} chairs · sorted by {'urgency' if by_urgency else 'chair'}"
        )
        for tile in tiles:
            tile.show(states.get(tile.chair), now, settings, stale=offline is not None, tz=tz)
        self._order(tiles, states, by_urgency)
        if self.focused is None and tiles:
            self.tiles()[0].focus()

    def _order(
        self, tiles: list[ChairTile], states: dict[str, ChairState], by_urgency: bool
    ) -> None:
        def key(tile: ChairTile) -> tuple[int, int, str]:
            rank, unacked = urgency(states.get(tile.chair)) if by_urgency else (0, 0)
            return (-rank, -unacked, chair_key(tile.chair))

        wanted = sorted(tiles, key=key)
        if tiles != wanted:
            grid = self.query_one("#chairs", Grid)
            for tile in wanted:
                grid.move_child(tile, after=len(grid.children) - 1)

    def flash(self, high_on: bool, medium_on: bool) -> None:
        if not self.ready:
            return
        for tile in self.tiles():
            tile.flash(high_on, medium_on)
