"""What the screens and the data source tell the App: the screens show and ask, the App
decides. A message travels up the DOM, so no screen needs to import the App."""

from __future__ import annotations

from collections.abc import Callable

from textual.message import Message

from drivers.mqtt import Inbound
from drivers.wire import ChairState, CommandBase


class Received(Message):
    """One decoded message from the broker. A newer state of the same chair supersedes one
    still waiting in the queue (Toolong's coalescing), so a burst collapses."""

    def __init__(self, inbound: Inbound) -> None:
        super().__init__()
        self.inbound = inbound

    def can_replace(self, message: Message) -> bool:
        mine, theirs = self.inbound.payload, getattr(message, "inbound", None)
        return (
            isinstance(message, Received)
            and isinstance(mine, ChairState)
            and theirs is not None
            and isinstance(theirs.payload, ChairState)
            and theirs.payload.chair == mine.chair
        )


class BridgeState(Message):
    """The watched site's bridge to the regional broker says it is up or down."""

    def __init__(self, up: bool) -> None:
        super().__init__()
        self.up = up


class OpenChair(Message):
    """Show this chair's view."""

    def __init__(self, chair: str) -> None:
        super().__init__()
        self.chair = chair


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
