"""What a screen may read of the application that shows it, as a protocol: the screens
depend on this, never on the App's module, so the App can import them without a circle."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any, Protocol, cast

from textual.app import App

from drivers.clock import Clock
from monitor.config import DashboardSettings

from .floor import Floor
from .user import ScreenUser


class Host(Protocol):
    """The dashboard as its screens see it: the floor, the settings, who is at the screen and
    what they may do. Requests go up as messages (`messages`)."""

    floor: Floor
    """The floor of the site in view (on a screen of several sites: the chair view's)."""
    floors: dict[str, Floor]
    """The floor of every site watched, by site."""
    who: ScreenUser
    settings: DashboardSettings
    clock: Clock
    site: str
    tz: tzinfo | None
    blink: bool
    protocols: list[str]

    async def sign_in_as(self, user: str, password: str) -> str | None:
        """Sign ``user`` in (None), or say why not in one line."""


def host_of(app: App[Any]) -> Host:
    """The running dashboard behind a screen (every dashboard App is a Host)."""
    return cast(Host, app)
