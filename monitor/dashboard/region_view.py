"""The region's overview, a supervising physician's screen across sites: each site's chairs in
a group of their own under a line that says the site's link (live, or unreachable since when,
its chairs greyed as last known, not live), the most urgent first within each site; enter or
a click opens the chair view of any of them, which then speaks to that site. One density for
every group, chosen from the chairs of all the sites, and one count of the alarming chairs
out of view across them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo

from textual.app import ComposeResult, SystemCommand
from textual.containers import Grid, VerticalScroll
from textual.widgets import Footer, Static

from monitor.config import DashboardSettings
from monitor.localtime import clock_time

from .density import choose
from .floor import Floor, chair_key
from .messages import OpenChair, ShowNow
from .overview import WIDGETS, OverviewScreen
from .tile import ChairTile
from .widgets import Banners

HEAD_LINES = 1
"""Lines of each site's head line, above its chairs."""


def tile_key(site: str, chair: str) -> str:
    return f"{site}/{chair}"


def dom_id(*parts: str) -> str:
    """An id for the screen's widgets (a site or chair may hold '.', which an id may not)."""
    return "-".join(parts).replace(".", "_")


def link_text(floor: Floor, tz: tzinfo | None) -> tuple[str, bool]:
    """What a site's head line says of its link, and whether its chairs are live."""
    since = floor.unreachable_since()
    if since is not None:
        return (f"UNREACHABLE since {clock_time(since, tz, seconds=True)}: last known state, "
                "not live"), False
    offline = floor.offline()
    if offline is None:
        return "live", True
    return offline, False


def region_offline(floors: Mapping[str, Floor]) -> str | None:
    """The banner over every group: what stands between this screen and the region itself
    (no site heard yet, or the broker refused or lost on every site's connection); a site
    out of reach is said on its own group."""
    if not floors:
        return "WAITING FOR THE REGION'S SITES"
    cut = [floor.offline() for floor in floors.values()
           if floor.link.refused is not None
           or (floor.link.url is not None and not floor.link.connected)]
    return cut[0] if len(cut) == len(floors) else None


class RegionScreen(OverviewScreen):
    """Every watched site's chairs, grouped by site."""

    DEFAULT_CSS = """
    RegionScreen .site-head { height: 1; padding: 0 1; background: $panel-darken-1;
                              text-style: bold; }
    RegionScreen .site-head.unreachable { background: $error-darken-2; }
    RegionScreen .site-chairs { grid-size: 2; grid-gutter: 0 1; grid-rows: 8; height: auto; }
    RegionScreen .site-chairs.-compact { grid-rows: 6; }
    RegionScreen .site-chairs.-rows { grid-rows: 1; }
    """

    def __init__(self, banner: str | None) -> None:
        super().__init__(banner)
        self._grids: dict[str, Grid] = {}
        self._heads: dict[str, Static] = {}
        self._said: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Banners(self.banner)
        yield Static(id="overview-head")
        yield VerticalScroll(id="scroll")
        yield Footer()

    def grids(self) -> list[Grid]:
        return list(self._grids.values())

    async def group(self, site: str) -> Grid:
        """The site's head line and grid, mounted in site order the first time."""
        if (known := self._grids.get(site)) is not None:
            return known
        head = Static(site, classes="site-head", id=dom_id("site", site))
        grid = Grid(classes=f"site-chairs -{self.density.kind}", id=dom_id("chairs", site))
        grid.styles.grid_size_columns = self.columns
        self._heads[site], self._grids[site] = head, grid
        later = [s for s in self._grids if s > site]
        before = self._heads[min(later)] if later else None
        await self.query_one("#scroll", VerticalScroll).mount(head, grid, before=before)
        return grid

    async def site_tile(self, site: str, chair: str) -> ChairTile:
        key = tile_key(site, chair)
        if (known := self._tiles.get(key)) is not None:
            return known
        grid = await self.group(site)
        tile = WIDGETS[self.density.kind](chair, site, id=dom_id("tile", site, chair))
        self._tiles[key] = tile
        await grid.mount(tile)
        if len(self._tiles) == 1:
            tile.focus()
        return tile

    async def clear(self) -> None:
        """No tile at all (signed out); the sites' groups stay, empty."""
        self._tiles.clear()
        for grid in self._grids.values():
            await grid.remove_children()
        self._said.clear()
        self._head_base = ""
        self.out_of_view = ([], [])
        self._put_head("")
        self.query_one(Banners).identity(None)

    def system_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Sort: urgency / chair", "Toggle the order of the tiles",
                            self.action_toggle_sort)
        for site, floor in sorted(self.host.floors.items()):
            for name in sorted(floor.states, key=chair_key):
                yield SystemCommand(
                    f"Open {site} {name}", f"Open the chair view of {name} at site {site}",
                    lambda name=name, site=site: self.post_message(OpenChair(name, site)))

    async def show_sites(self, floors: Mapping[str, Floor], now: datetime,
                         settings: DashboardSettings, tz: tzinfo | None) -> None:
        if not self.ready:
            return
        links = {site: link_text(floor, tz) for site, floor in floors.items()}
        self.query_one(Banners).show(region_offline(floors))
        await self._apply_sites_density(floors)
        for site, floor in sorted(floors.items()):
            await self.group(site)
            for chair in floor.states:
                await self.site_tile(site, chair)
        cut = sum(1 for _, live in links.values() if not live)
        by = "urgency" if floors and next(iter(floors.values())).sort_by_urgency else "chair"
        sites = f"{len(floors)} site{'s' if len(floors) != 1 else ''}"
        self._put_head(f"region · {clock_time(now, tz, seconds=True)} · {sites}"
                       + (f", {cut} not live" if cut else "")
                       + f" · {len(self._tiles)} chairs · sorted by {by}")
        for site, floor in floors.items():
            text, live = links[site]
            grid = self._grids[site]
            tiles = list(grid.query_children(ChairTile))
            alarming = len(floor.alarming(floor.states))
            said = (f"{site} · {text} · {len(tiles)} chair{'s' if len(tiles) != 1 else ''}"
                    + (f" · {alarming} alarming" if alarming else ""))
            if self._said.get(site) != said:
                self._said[site] = said
                head = self._heads[site]
                head.set_class(not live, "unreachable")
                head.update(said, layout=False)
            for tile in tiles:
                tile.show(floor.states.get(tile.chair), now, settings, stale=not live, tz=tz)
            self._order(tiles, floor, grid)
        if self.focused is None and self._tiles:
            self.tiles()[0].focus()
        self.call_after_refresh(self._note_out_of_view)

    async def _apply_sites_density(self, floors: Mapping[str, Floor]) -> None:
        """One density for every group, from the chairs of all the sites (each head line
        takes a line of the screen as well)."""
        count = len(set(self._tiles) | {tile_key(site, chair) for site, floor in floors.items()
                                        for chair in floor.states})
        wanted = choose(count, self.size.width, self.size.height - HEAD_LINES * len(floors))
        if wanted == self.density:
            return
        self.density = wanted
        focused = self.focused if isinstance(self.focused, ChairTile) else None
        focus_key = tile_key(focused.site or "", focused.chair) if focused else None
        swaps: list[tuple[Grid, list[ChairTile]]] = []
        tiles: dict[str, ChairTile] = {}
        for site, grid in self._grids.items():
            for kind in WIDGETS:
                grid.set_class(kind == wanted.kind, f"-{kind}")
            grid.styles.grid_size_columns = wanted.columns(self.size.width)
            chairs = [tile.chair for tile in grid.query_children(ChairTile)]
            floor = floors.get(site)
            made = [WIDGETS[wanted.kind](chair, site, id=dom_id("tile", site, chair))
                    for chair in (floor.ordered(chairs) if floor is not None else chairs)]
            tiles.update({tile_key(site, tile.chair): tile for tile in made})
            swaps.append((grid, made))
        self._tiles = tiles  # before any await, as on one site's overview
        for grid, made in swaps:
            await grid.remove_children()
            await grid.mount_all(made)
        if focus_key in self._tiles:
            self._tiles[focus_key].focus(scroll_visible=False)

    def action_toggle_sort(self) -> None:
        floors = list(self.host.floors.values())
        urgency = not (floors[0].sort_by_urgency if floors else True)
        for floor in floors:
            floor.sort_by_urgency = urgency
        self.notify("sorted by " + ("urgency" if urgency else "chair"), timeout=2)
        self.post_message(ShowNow())

    def _note_out_of_view(self) -> None:
        """As on one site's overview, over the groups one below the other."""
        if not self.ready or not self.is_mounted:
            return
        scroll = self.query_one("#scroll", VerticalScroll)
        lines = scroll.scrollable_content_region.height
        columns = self.columns
        floors = self.host.floors
        out: tuple[list[str], list[str]] = ([], [])
        top = 0
        for site, grid in self._grids.items():
            top += HEAD_LINES
            tiles = list(grid.query_children(ChairTile))
            sides: tuple[list[str], list[str]] = ([], [])
            for place, tile in enumerate(tiles):
                side = self.density.side_at(top + self.density.y(place, columns),
                                            scroll.scroll_y, lines)
                if side:
                    sides[side > 0].append(tile.chair)
            top += self.density.lines(len(tiles), self.size.width) if tiles else 0
            if (floor := floors.get(site)) is not None:
                for i in (0, 1):
                    out[i].extend(tile_key(site, chair) for chair in floor.alarming(sides[i]))
        if out != self.out_of_view:
            self.out_of_view = out
            self._put_head(self._head_base)
