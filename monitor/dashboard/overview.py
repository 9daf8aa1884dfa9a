"""The overview, the physician's second screen: one tile per chair, the most urgent first (or
in chair order); arrow keys move between tiles, enter or a click opens the chair. Tiles shrink
to compact ones, then to one line per chair, as the floor grows (`density.py`), and the head
line counts the alarming chairs scrolled out of sight ("a" brings the next one into view)."""

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

from .compact import ChairRow, CompactTile
from .density import FULL, Density, choose, out_of_view_text
from .floor import Floor, chair_key
from .host import Host, host_of
from .messages import OpenChair, OverviewReady, ShowNow
from .tile import ChairTile
from .widgets import Banners

TILE_WIDTH = FULL.width
"""Columns per full tile: two across an 80-column terminal, more on a wide screen."""
WIDGETS: dict[str, type[ChairTile]] = {"full": ChairTile, "compact": CompactTile,
                                       "rows": ChairRow}
"""The widget of a chair at each density."""
NEXT_ALARM_KEY = "a"

__all__ = ["OverviewScreen", "chair_key"]


class OverviewScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "toggle_sort", "Sort: urgency/chair"),
        Binding("left", "move(-1, 0)", "Previous", show=False),
        Binding("right", "move(1, 0)", "Next", show=False),
        Binding("up", "move(0, -1)", "Up", show=False),
        Binding("down", "move(0, 1)", "Down", show=False),
        Binding(NEXT_ALARM_KEY, "next_alarm", "Next alarming chair out of view", show=False),
    ]

    AUTO_FOCUS = "ChairTile"
    """Never the scroll around them: the first tile, once there is one."""

    def __init__(self, banner: str | None) -> None:
        super().__init__()
        self.banner = banner
        self.ready = False
        self._tiles: dict[str, ChairTile] = {}
        self._head = ""
        self._head_base = ""
        self.density: Density = FULL
        self._grid = Grid(id="chairs")
        """The chairs' grid, held: looked for several times a refresh."""
        self.out_of_view: tuple[list[str], list[str]] = ([], [])
        """The alarming chairs above and below the visible part of the scroll."""

    def compose(self) -> ComposeResult:
        yield Banners(self.banner)
        yield Static(id="overview-head")
        with VerticalScroll(id="scroll"):
            yield self._grid
        yield Footer()

    @property
    def host(self) -> Host:
        return host_of(self.app)

    @property
    def columns(self) -> int:
        return self.density.columns(self.size.width)

    def on_mount(self) -> None:
        self.ready = True
        self.watch(self.query_one("#scroll", VerticalScroll), "scroll_y", self._scrolled,
                   init=False)
        self.post_message(OverviewReady())

    def _scrolled(self, _: float) -> None:
        self._note_out_of_view()

    def grids(self) -> list[Grid]:
        """The grids the chairs are in: one, on a screen of one site."""
        return [self._grid]

    def on_resize(self, event: events.Resize) -> None:
        for grid in self.grids():
            grid.styles.grid_size_columns = self.density.columns(event.size.width)
        if choose(len(self._tiles), event.size.width, event.size.height) != self.density:
            self.post_message(ShowNow())
        self.call_after_refresh(self._note_out_of_view)

    def on_screen_resume(self) -> None:
        self.post_message(ShowNow())

    def on_chair_tile_selected(self, message: ChairTile.Selected) -> None:
        message.stop()
        self.post_message(OpenChair(message.chair, message.site))

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
        """The tiles in their order on screen. (Read off the grids' children: asked for
        several times a refresh, and a DOM query matching selectors was most of an unchanged
        refresh's cost.)"""
        return [tile for grid in self.grids() for tile in grid.children
                if isinstance(tile, ChairTile)]

    async def tile(self, chair: str) -> ChairTile:
        if (known := self._tiles.get(chair)) is not None:
            return known
        grid = self.query_one("#chairs", Grid)
        tile = WIDGETS[self.density.kind](chair, id=f"tile-{chair}")
        self._tiles[chair] = tile
        await grid.mount(tile)
        if len(grid.children) == 1:
            tile.focus()
        return tile

    async def clear(self) -> None:
        """No tile at all (signed out)."""
        self._tiles.clear()
        await self.query_one("#chairs", Grid).remove_children()
        self._head_base = ""
        self.out_of_view = ([], [])
        self._put_head("")
        self.query_one(Banners).identity(None)

    def _put_head(self, text: str) -> None:
        """The head line, one row whatever it says: rewritten only when it changes (the
        clock: once a second), without a layout; the alarming chairs out of view after it."""
        self._head_base = text
        above, below = self.out_of_view
        said = out_of_view_text(len(above), len(below), NEXT_ALARM_KEY)
        line = f"{text}   {said}" if said else text
        if line != self._head:
            self._head = line
            head = self.query_one("#overview-head", Static)
            head.set_class(bool(said), "out-of-view")
            head.update(line, layout=False)

    def _note_out_of_view(self) -> None:
        """Which alarming chairs lie wholly or partly above or below the visible part of the
        scroll: worked out from their places in the grid, not from the last frame drawn, so
        it holds as soon as a scroll or a move happens."""
        if not self.ready or not self.is_mounted:
            return
        scroll = self.query_one("#scroll", VerticalScroll)
        lines = scroll.scrollable_content_region.height
        columns = self.columns
        sides: tuple[list[str], list[str]] = ([], [])
        for place, tile in enumerate(self.tiles()):
            side = self.density.side(place, columns, scroll.scroll_y, lines)
            if side:
                sides[side > 0].append(tile.chair)
        floor = self.host.floor
        out = (floor.alarming(sides[0]), floor.alarming(sides[1]))
        if out != self.out_of_view:
            self.out_of_view = out
            self._put_head(self._head_base)

    def action_next_alarm(self) -> None:
        """Bring the nearest alarming chair out of view into view, and focus it."""
        above, below = self.out_of_view
        chair = above[-1] if above else below[0] if below else None
        if chair is not None and (tile := self._tiles.get(chair)) is not None:
            tile.focus()
            tile.scroll_visible(animate=False)

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
        await self._apply_density(floor)
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
        self.call_after_refresh(self._note_out_of_view)

    async def _apply_density(self, floor: Floor) -> None:
        """Full tiles, compact ones or rows for the chairs there will be at this size; a new
        density mounts every chair's widget anew (the focus stays on its chair)."""
        count = len(set(self._tiles) | set(floor.states))
        wanted = choose(count, self.size.width, self.size.height)
        if wanted == self.density:
            return
        self.density = wanted
        grid = self.query_one("#chairs", Grid)
        for kind in WIDGETS:
            grid.set_class(kind == wanted.kind, f"-{kind}")
        grid.styles.grid_size_columns = wanted.columns(self.size.width)
        if not self._tiles:
            return
        focused = self.focused.chair if isinstance(self.focused, ChairTile) else None
        # Swapped before any await, so a chair mounted meanwhile (the initial chairs are
        # mounted as the screen starts) is made at the new density and only once.
        old = list(grid.children)
        fresh = [WIDGETS[wanted.kind](chair, id=f"tile-{chair}")
                 for chair in floor.ordered(list(self._tiles))]
        self._tiles = {tile.chair: tile for tile in fresh}
        await grid.remove_children(old)
        await grid.mount_all(fresh)
        if focused in self._tiles:
            self._tiles[focused].focus(scroll_visible=False)

    def _order(self, tiles: list[ChairTile], floor: Floor, grid: Grid | None = None) -> None:
        """Move only the tiles whose place changed: each move lays the grid out again."""
        by_chair = {tile.chair: tile for tile in tiles}
        wanted = [by_chair[chair] for chair in floor.ordered(list(by_chair))]
        if tiles == wanted:
            return
        grid = grid or self.query_one("#chairs", Grid)
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
