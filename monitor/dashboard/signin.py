"""Signing in at a screen: the sign-in screen (shown before anything of a patient) and the
password prompt of a locked screen. The checks behind them are `user`'s."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

from textual import events, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Label, Static

from .host import Host, host_of
from .messages import ShowNow
from .user import WRONG
from .widgets import Banners


class UserNameInput(Input):
    """The user name field. Enter hands every key after it to the password field at once:
    keys typed ahead (a fast typist, a badge reader) reach the screen before the focus has
    moved, and must not land in the user name."""

    def __init__(self, password: Input, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._password = password
        self._handing_on = False

    def on_focus(self) -> None:
        self._handing_on = False  # back in the field (a click, shift+tab): it types here

    async def _on_key(self, event: events.Key) -> None:
        if self._handing_on:
            event.stop()
            event.prevent_default()
            if event.is_printable and event.character is not None:
                self._password.insert_text_at_cursor(event.character)
            elif event.key == "backspace":
                self._password.action_delete_left()
            elif event.key == "enter":
                await self._password.action_submit()
            return
        if event.key == "enter":
            self._handing_on = True
        await super()._on_key(event)


class SignInScreen(Screen[None]):
    """User name and password, and nothing of a patient: no tile, no chair name."""

    def __init__(self, banner: str | None, site: str, message: str = "") -> None:
        super().__init__()
        self.banner = banner
        self.site = site
        self.message = message
        self.checking = False

    def compose(self) -> ComposeResult:
        yield Banners(self.banner)
        with Vertical(id="signin"):
            yield Static(f"Chairside · site {self.site} · sign in", id="signin-title")
            # No select-all on focus: keys typed ahead may already be in it.
            password = Input(id="password", password=True, compact=True,
                             select_on_focus=False)
            yield Label("User name")
            yield UserNameInput(password, id="user", compact=True)
            yield Label("Password")
            yield password
            yield Static(self.message, id="signin-message")
            with Horizontal(id="signin-buttons"):
                yield Button("Sign in", variant="primary", id="sign-in", compact=True)

    @property
    def dashboard(self) -> Host:
        return host_of(self.app)

    def on_mount(self) -> None:
        for field in self.query(Input):
            field.cursor_blink = self.dashboard.blink
        self.query_one("#user", Input).focus()

    def say(self, message: str) -> None:
        self.message = message
        self.query_one("#signin-message", Static).update(message)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "user":
            # On to the password; what is typed ahead is already going there, and its own
            # Enter signs in (once).
            self.query_one("#password", Input).focus()
            return
        self.submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.submit()

    def submit(self) -> None:
        if self.checking:
            return  # a second Enter while the broker checks: the first one counts
        user = self.query_one("#user", Input).value.strip()
        password = self.query_one("#password", Input).value
        if not user:
            self.say("enter your user name")
            return
        if not password:
            # An Enter on the emptied field after a refusal keeps the refusal in view.
            if not self.message:
                self.say("enter the password")
            return
        self.checking = True
        self.say("checking...")
        self.attempt(user, password)

    @work(exclusive=True, group="sign-in")
    async def attempt(self, user: str, password: str) -> None:
        try:
            problem = await self.dashboard.sign_in_as(user, password)
        finally:
            self.checking = False
        if problem is not None and self.is_attached:
            self.query_one("#password", Input).value = ""
            self.say(problem)
            self.query_one("#password", Input).focus()


class UnlockScreen(ModalScreen[bool]):
    """A locked screen asks its user's password before a command; another person signs out
    and in as themselves."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, user: str) -> None:
        super().__init__()
        self.user = user

    def compose(self) -> ComposeResult:
        with Vertical(id="unlock"):
            yield Static(f"Locked after a while without use. Password of {self.user}, to "
                         "send this command:", id="unlock-title")
            yield Input(id="password", password=True, compact=True)
            yield Static("", id="unlock-message")
            with Horizontal(id="unlock-buttons"):
                yield Button("Unlock", variant="primary", id="unlock-ok", compact=True)
                yield Button("Cancel", id="unlock-cancel", compact=True)
                yield Button("Sign out", id="unlock-sign-out", compact=True)

    @property
    def dashboard(self) -> Host:
        return host_of(self.app)

    def on_mount(self) -> None:
        field = self.query_one("#password", Input)
        field.cursor_blink = self.dashboard.blink
        field.focus()

    def say(self, message: str) -> None:
        self.query_one("#unlock-message", Static).update(message)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.attempt(event.value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "unlock-ok":
            self.attempt(self.query_one("#password", Input).value)
        elif event.button.id == "unlock-sign-out":
            self.dismiss(False)
            self.app.call_later(self.app.run_action, "app.sign_out")
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(False)

    @work(exclusive=True, group="unlock")
    async def attempt(self, password: str) -> None:
        self.say("checking...")
        problem = await self.dashboard.who.unlock(password)
        if problem is None:
            self.app.post_message(ShowNow())
            self.dismiss(True)
            return
        self.query_one("#password", Input).value = ""
        self.say("wrong password" if problem == WRONG else problem)


def ask_password(app: App[Any], user: str, then: Callable[[], object]) -> None:
    """Ask the locked screen's user for the password (once, however often asked), then run
    ``then``: the command that was asked for."""
    if isinstance(app.screen, UnlockScreen):
        return

    async def done(unlocked: bool | None) -> None:
        if unlocked:
            outcome = then()
            if inspect.isawaitable(outcome):
                await outcome

    app.push_screen(UnlockScreen(user), callback=done)
