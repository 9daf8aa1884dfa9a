"""Signing in at a screen: the sign-in screen (shown before anything of a patient), the
password prompt of a locked screen, and the checks behind them.

The broker is the one judge of a password: signing in is connecting with the user's own
credentials, and the live connection then uses them, so the broker's ACL holds the screen to
what the role may publish. The site's user directory (no secrets) says who is a person who
may sign in at a screen, and with which role.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import aiomqtt
from pydantic import SecretStr
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Label, Static

from drivers.mqtt import BrokerRefused, MqttSettings, connected
from monitor.access.directory import Directory
from monitor.access.roles import PEOPLE, Role

from .widgets import Banners

if TYPE_CHECKING:
    from .app import DashboardApp

SignIn = Callable[[str, str], Awaitable[None]]
"""Checks a user name and password; raises `BrokerRefused` when the broker refuses them."""

WRONG = "wrong user name or password"
SIGN_IN_TIMEOUT_S = 15.0


class SignInRefused(Exception):
    """This user cannot sign in at a screen; the message says why, in one line."""


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: str
    role: Role
    name: str | None = None

    def label(self) -> str:
        return f"{self.user} · {self.role}" + (f" · {self.name}" if self.name else "")


def person(directory: Directory, user: str) -> SignedIn:
    """The directory's entry for a person who may sign in at a screen, or `SignInRefused`."""
    found = directory.users.get(user)
    if found is None:
        raise SignInRefused(f"{user!r} is not a user of site {directory.site!r}")
    if found.disabled:
        raise SignInRefused(f"{user!r} is disabled at this site")
    if found.role not in PEOPLE:
        raise SignInRefused(
            f"{user!r} is a {found.role} account, for a process: it cannot sign in at a screen")
    return SignedIn(user, found.role, found.name)


def with_credentials(mqtt: MqttSettings, user: str, password: str) -> MqttSettings:
    return mqtt.model_copy(update={"username": user, "password": SecretStr(password)})


def broker_sign_in(mqtt: MqttSettings, site: str) -> SignIn:
    """The real check: a connection with these credentials, closed at once."""

    async def check(user: str, password: str) -> None:
        identifier = f"chairside-signin-{site}-{uuid.uuid4().hex[:8]}"
        async with asyncio.timeout(SIGN_IN_TIMEOUT_S):
            async with connected(with_credentials(mqtt, user, password), identifier):
                pass

    return check


async def check_password(sign_in: SignIn, user: str, password: str,
                         url: str | None) -> str | None:
    """None if the broker accepts ``user`` with ``password``, else why not, in one line."""
    if not password:
        return "enter the password"
    try:
        await sign_in(user, password)
    except BrokerRefused:
        return WRONG
    except (aiomqtt.MqttError, OSError, TimeoutError) as exc:
        where = f" {url}" if url else ""
        return f"cannot reach the broker{where} to check the password: {exc or 'timed out'}"
    return None


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

    DEFAULT_CSS = """
    SignInScreen { align: center middle; }
    SignInScreen > Banners { dock: top; }
    SignInScreen #signin {
        width: 60;
        max-width: 100%;
        height: auto;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    SignInScreen #signin-title { text-style: bold; margin: 0 0 1 0; }
    SignInScreen Label { color: $text-muted; }
    SignInScreen #signin-message { color: $error; height: auto; margin: 1 0 0 0; }
    SignInScreen #signin-buttons { height: 1; margin: 1 0 0 0; }
    """

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
    def dashboard(self) -> DashboardApp:
        from .app import DashboardApp

        assert isinstance(self.app, DashboardApp)
        return self.app

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

    DEFAULT_CSS = """
    UnlockScreen { align: center middle; }
    UnlockScreen #unlock {
        width: 60;
        max-width: 100%;
        height: auto;
        border: thick $warning;
        background: $surface;
        padding: 0 1;
    }
    UnlockScreen #unlock-title { text-style: bold; margin: 0 0 1 0; }
    UnlockScreen #unlock-message { color: $error; height: auto; margin: 1 0 0 0; }
    UnlockScreen #unlock-buttons { height: 1; margin: 1 0 0 0; }
    UnlockScreen #unlock-buttons > Button { margin: 0 2 0 0; }
    """

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
    def dashboard(self) -> DashboardApp:
        from .app import DashboardApp

        assert isinstance(self.app, DashboardApp)
        return self.app

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
            self.dashboard.sign_out()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(False)

    @work(exclusive=True, group="unlock")
    async def attempt(self, password: str) -> None:
        self.say("checking...")
        problem = await self.dashboard.unlock_with(password)
        if problem is None:
            self.dismiss(True)
            return
        self.query_one("#password", Input).value = ""
        self.say("wrong password" if problem == WRONG else problem)
