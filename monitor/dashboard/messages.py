"""What the screens and the data source tell the App: the screens show and ask, the App
decides. A message travels up the DOM, so no screen needs to import the App."""

from __future__ import annotations

from collections.abc import Callable

from textual.message import Message

from drivers.payloads import Inbound
from drivers.wire import ChairState, CommandBase


class Received(Message):
    """One decoded message from the broker. A newer state of the same chair supersedes one
    still waiting in the queue (Toolong's coalescing), so a burst collapses."""

    def __init__(self, inbound: Inbound, site: str | None = None) -> None:
        super().__init__()
        self.inbound = inbound
        self.site = site
        """The site it came from (None: the screen's one site)."""

    def can_replace(self, message: Message) -> bool:
        mine, theirs = self.inbound.payload, getattr(message, "inbound", None)
        return (
            isinstance(message, Received)
            and isinstance(mine, ChairState)
            and theirs is not None
            and isinstance(theirs.payload, ChairState)
            and theirs.payload.chair == mine.chair
            and message.site == self.site
        )


class BridgeState(Message):
    """A watched site's bridge to the regional broker says it is up or down."""

    def __init__(self, up: bool, site: str | None = None) -> None:
        super().__init__()
        self.up = up
        self.site = site


class SiteHeard(Message):
    """The region's broker holds a bridge state of this site: a site the signed-in user may
    see (the region's ACL lets each user read the bridges of the sites they may watch)."""

    def __init__(self, site: str) -> None:
        super().__init__()
        self.site = site


class OpenChair(Message):
    """Show this chair's view."""

    def __init__(self, chair: str, site: str | None = None) -> None:
        super().__init__()
        self.chair = chair
        self.site = site


class ShowNow(Message):
    """A screen was mounted or came back, or what it shows changed: refresh it now, not at
    the next tick."""


class Send(Message):
    """Send this command for this chair (None: the form was cancelled)."""

    def __init__(self, chair: str, command: CommandBase | None) -> None:
        super().__init__()
        self.chair = chair
        self.command = command


class AskPassword(Message):
    """The screen is locked: ask for the password, then run ``then``."""

    def __init__(self, then: Callable[[], object]) -> None:
        super().__init__()
        self.then = then


class OverviewReady(Message):
    """The overview is composed: time for its first tiles (and the chair view asked for)."""


class Refused(Message):
    """The broker refuses this screen's credentials."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason
