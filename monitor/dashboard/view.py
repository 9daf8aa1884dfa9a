"""Putting the floor on the screen: the refresh of the screen on view, and the flash timer
that runs only while an alarm flashes (an idle screen then costs no timer at all)."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import App
from textual.css.query import NoMatches
from textual.timer import Timer

from .chair import ChairScreen
from .host import host_of
from .overview import OverviewScreen
from .region_view import RegionScreen
from .signin import SignInScreen
from .widgets import Banners


class FlashTimer:
    """The flash steps, paused while nothing flashes."""

    def __init__(self, app: App[None], interval_s: float, tick: Callable[[], None]) -> None:
        self.app = app
        self.interval_s = interval_s
        self.tick = tick
        self._timer: Timer | None = None

    def want(self, flashing: bool) -> None:
        if flashing and self._timer is None:
            self._timer = self.app.set_interval(self.interval_s, self.tick)
        elif not flashing and self._timer is not None:
            self._timer.stop()
            self._timer = None


def apply_flash(app: App[None]) -> None:
    """Every chair-showing screen in the present flashing phase."""
    high_on, medium_on = host_of(app).floor.flash_phase()
    for screen in app.screen_stack:
        if isinstance(screen, OverviewScreen | ChairScreen):
            screen.flash(high_on, medium_on)


async def refresh_screens(app: App[None]) -> None:
    """Show the floor on the top screen that shows chairs (nothing under the sign-in)."""
    host = host_of(app)
    floor = host.floor
    now = host.clock.now()
    offline = floor.offline()
    try:
        for screen in reversed(app.screen_stack):
            if isinstance(screen, SignInScreen):
                break
            if isinstance(screen, ChairScreen | OverviewScreen) and screen.is_mounted:
                screen.query_one(Banners).identity(host.who.identity(), host.who.locked)
            if isinstance(screen, ChairScreen):
                screen.show(floor.states.get(screen.chair), floor.histories.get(screen.chair),
                            floor.answers(screen.chair), now, host.settings.stale_after_s,
                            offline)
                break
            if isinstance(screen, RegionScreen):
                await screen.show_sites(host.floors, now, host.settings, host.tz)
                break
            if isinstance(screen, OverviewScreen):
                await screen.show(floor, now, host.settings, offline, host.tz)
                break
    except NoMatches:
        if app.is_running:
            raise
        # The app began to shut down while the overview mounted a tile: nothing to show.
