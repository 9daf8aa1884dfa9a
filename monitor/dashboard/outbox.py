"""Where a screen's commands leave: each is awaited by the floor until the engine answers,
and one that cannot leave says NOT SENT with why, at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from drivers.wire import CommandBase

from .floor import Floor, command_type
from .source import SEND_ERRORS, BrokerSource, NotConnected
from .user import ScreenUser

Sender = Callable[[str, CommandBase], Awaitable[None]]
"""Sends one command for one chair (the broker by default; tests may record instead)."""


class Outbox:
    def __init__(self, floor: Floor, who: ScreenUser, sender: Sender | None,
                 notify: Callable[..., Any]) -> None:
        self.floor = floor
        self.who = who
        self.notify = notify
        self.source: BrokerSource | None = None
        """The live connection's source, while there is one."""
        self._sender: Sender = sender or self.publish

    async def publish(self, chair: str, command: CommandBase) -> None:
        """To the broker, under the signed-in user's own topic (the broker lets only that
        user publish there)."""
        if self.source is None:
            raise NotConnected("no connection to the broker")
        user = self.who.signed_in.user if self.who.signed_in is not None else None
        await self.source.publish(chair, command, user)

    async def send(self, chair: str, command: CommandBase) -> bool:
        """Send now; False (and said) when it could not leave, or must not: a site out of
        reach would get it whenever it came back, long after the screen showed why."""
        kind = command_type(command).replace("_", " ")
        if (why := self.floor.not_sendable()) is not None:
            self.notify(f"NOT SENT: {why}", title=f"{chair} · {kind}", severity="error",
                        timeout=10)
            return False
        self.floor.sending(chair, command)
        try:
            await self._sender(chair, command)
        except SEND_ERRORS as exc:
            self.floor.not_sent(command)
            self.notify(f"NOT SENT: {exc}", title=f"{chair} · {kind}", severity="error",
                        timeout=10)
            return False
        self.floor.was_sent(chair, command)
        return True
