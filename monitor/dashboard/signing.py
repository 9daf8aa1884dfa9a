"""The dashboard's sign-in flow: who signs in, out, or is turned away by the broker, and what
the screen forgets then. A base of the App, so that the App holds only what it runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual import events
from textual.app import App

from . import messages
from .floor import Floor
from .outbox import Outbox
from .overview import OverviewScreen
from .signin import SignInScreen
from .user import ScreenUser


class SigningIn(App[None]):
    """Signing in and out over the App's floor, user and data source."""

    who: ScreenUser
    floor: Floor
    outbox: Outbox
    site: str
    banner_text: str | None

    @property
    def overview(self) -> OverviewScreen:
        screen = self.screen_stack[0]
        assert isinstance(screen, OverviewScreen)
        return screen

    def listen(self) -> None:
        """Start the data source (the App's)."""
        raise NotImplementedError

    def stop_listening(self) -> None:
        """Stop it, and every send with it."""
        raise NotImplementedError

    def every_floor(self) -> list[Floor]:
        """The floor of every site the screen watches."""
        raise NotImplementedError

    # The App's handler, declared only: Textual calls a message's handler in every class
    # of the MRO that defines one, so a stand-in here would run after the App's.
    on_overview_ready: Callable[[], Awaitable[None]]

    async def sign_in_as(self, user: str, password: str) -> str | None:
        """Sign ``user`` in (None), or say why not in one line; the sign-in screen stays."""
        problem = await self.who.sign_in(user, password)
        if problem is not None:
            return problem
        for floor in self.every_floor():
            floor.forget()
            floor.link.refused = None
        if self.who.mqtt is not None:
            self.listen()
        # Not from here: this runs in the sign-in screen's worker, which leaving it cancels.
        self.call_later(self._signed_in)
        return None

    async def _signed_in(self) -> None:
        while isinstance(self.screen, SignInScreen):
            await self.pop_screen()
        await self.on_overview_ready()

    def action_sign_out(self) -> None:
        self.sign_out()

    def sign_out(self, message: str = "") -> None:
        """Back to the sign-in screen: the connection closes, every patient is forgotten."""
        if self.who.signed_in is None:
            return
        self.stop_listening()
        self.who.sign_out()
        for floor in self.every_floor():
            floor.forget()
        self.call_later(self._signed_out, message)

    async def _signed_out(self, message: str) -> None:
        while len(self.screen_stack) > 1:
            await self.pop_screen()
        await self.overview.clear()
        await self.push_screen(SignInScreen(self.banner_text, self.site, message))

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.MouseDown) and self.who.signed_in is not None:
            self.who.idle.touch()
        await super().on_event(event)

    def on_refused(self, message: messages.Refused) -> None:
        """The password was changed or the user disabled since: trying again cannot help."""
        if self.who.signed_in is not None:
            self.sign_out("the broker no longer accepts this user: sign in again")
        else:
            for floor in self.every_floor():
                floor.link.refused = message.reason
