"""The dashboard application: a view of the floor (`floor`), fed by a data source (the broker,
`source`; or a replay). It runs the source (a Screen's workers die when it is popped), hands
what arrives to the floor, refreshes the screen on view a few times a second (a newer state
of a chair replaces one still queued), sends what the screens post (`messages`) and rings the
bell. Screens read it through the `Host` protocol, never by importing this module. Where the
site has a user directory it asks who is there first (`signing`, `signin`, `user`); a kiosk
signs nobody in and sends nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import tzinfo
from pathlib import Path, PurePath
from typing import ClassVar

from textual.app import SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from drivers.clock import Clock
from drivers.mqtt import Inbound, MqttSettings
from drivers.wire import CommandBase
from monitor.access.directory import Directory
from monitor.config import DashboardSettings

from . import messages
from .chair import ChairScreen
from .chair_actions import COMMAND_ACTIONS, ActionChairScreen
from .floor import Bridge, Floor, chair_key, command_type
from .notices import answer_notice, overdue_notice
from .outbox import Outbox, Sender
from .overview import OverviewScreen
from .signin import SignInScreen, ask_password
from .signing import SigningIn
from .source import BrokerSource
from .user import ScreenUser, SignIn
from .view import FlashTimer, apply_flash, refresh_screens

__all__ = ["FLASH_S", "DashboardApp", "command_type"]

DEFAULT_PROTOCOLS = ("spravato", "iv_ketamine", "im_ketamine")
REFRESH_S = 0.25
"""Wall seconds between screen refreshes: the bound on redraws, whatever arrives."""
FLASH_S = 0.25
"""Wall seconds per flash step: high alarms toggle every step (2 Hz), medium every 4 (0.5 Hz)."""


class DashboardApp(SigningIn):
    """The overview, and a chair view per chair."""

    CSS_PATH: ClassVar[list[str | PurePath]] = [
        Path(__file__).parent / f"{name}.tcss"
        for name in ("dashboard", "overview", "chair", "forms", "signin")
    ]
    """The screens' styles, beside this module: absolute, so a subclass elsewhere (the
    replay) finds them too. Widgets keep their own DEFAULT_CSS."""
    TITLE = "Chairside"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("u", "sign_out", "Sign out"),
    ]
    Received = messages.Received
    COMMAND_ACTIONS = COMMAND_ACTIONS
    CHAIR_SCREEN: ClassVar[type[ChairScreen]] = ActionChairScreen
    """The chair view: with the command actions here, without them in a replay."""
    SENDS_COMMANDS: ClassVar[bool] = True

    def __init__(
        self, mqtt: MqttSettings | None, site: str, settings: DashboardSettings, clock: Clock,
        *, chairs: list[str] | None = None, banner: str | None = None,
        exit_after_s: float | None = None, chair: str | None = None, user: str | None = None,
        protocols: Sequence[str] | None = None, tz: tzinfo | None = None, blink: bool = True,
        sender: Sender | None = None, directory: Directory | None = None,
        sign_in: SignIn | None = None, kiosk: bool = False, idle_lock_s: float = 300.0,
        remote: bool = False,
    ) -> None:
        super().__init__()
        self.site, self.settings, self.clock, self.tz, self.blink = site, settings, clock, tz, blink
        self.who = ScreenUser(mqtt, site, clock, user or settings.user, directory=directory,
                              sign_in=sign_in, kiosk=kiosk, idle_lock_s=idle_lock_s,
                              sends_commands=self.SENDS_COMMANDS)
        self.floor = Floor(settings, clock, mqtt.url() if mqtt is not None else None)
        self.floor.tz = tz
        if remote:
            # Watching the site from the regional broker: its bridge says if it is in reach.
            self.floor.bridge = Bridge(site)
        self.banner_text = banner
        self.protocols = list(protocols or DEFAULT_PROTOCOLS)
        self.bell_count = 0
        self.outbox = Outbox(self.floor, self.who, sender, self.notify)
        self._initial_chairs = list(chairs or [])
        self._open_chair = chair
        self._exit_after_s = exit_after_s
        self._flash = FlashTimer(self, FLASH_S, self.flash_tick) if blink else None
        self._refreshing = False

    # -- screens ------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[None]:
        return OverviewScreen(self.banner_text)

    async def on_mount(self) -> None:
        self.set_interval(REFRESH_S, self.refresh_view)
        if self._exit_after_s is not None:
            self.set_timer(self._exit_after_s, self.exit)
        if self.who.mqtt is not None and self.who.showing:
            self.listen()
        if not self.who.showing:
            # Over an overview that holds no tile, no chair name, until someone signs in.
            self.push_screen(SignInScreen(self.banner_text, self.site))

    async def on_overview_ready(self, _: messages.OverviewReady | None = None) -> None:
        """The overview is composed: its tiles, then the chair view if one was asked for."""
        if not self.who.showing:
            return
        for chair in sorted(self._initial_chairs, key=chair_key):
            await self.overview.tile(chair)
        if self._open_chair is not None:
            self.open_chair(self._open_chair)
        else:
            await self.refresh_view()

    def open_chair(self, chair: str) -> None:
        if self.who.showing:
            self.push_screen(self.CHAIR_SCREEN(chair, self.banner_text, self.tz))

    def on_open_chair(self, message: messages.OpenChair) -> None:
        self.open_chair(message.chair)

    def on_show_now(self, _: messages.ShowNow) -> None:
        self.call_later(self.refresh_view)

    def chair_screen(self) -> ChairScreen | None:
        for screen in reversed(self.screen_stack):
            if isinstance(screen, ChairScreen):
                return screen
            if isinstance(screen, OverviewScreen):
                return None
        return None

    # -- data in ------------------------------------------------------------------------

    def listen(self) -> None:
        assert self.who.mqtt is not None
        source = BrokerSource(self.who.mqtt, self.site, self.floor.link, self.post_message,
                              bridge=self.floor.bridge is not None)
        self.outbox.source = source
        self.run_worker(source.run(), group="mqtt", exclusive=True)

    def on_received(self, message: messages.Received) -> None:
        self.ingest(message.inbound)

    def on_bridge_state(self, message: messages.BridgeState) -> None:
        self.floor.take_bridge(message.up)

    def ingest(self, inbound: Inbound) -> None:
        """Take one decoded message (from the broker, a replay, or a test)."""
        if not self.who.showing:
            return  # nobody is signed in: nothing of a patient is kept, nor shown
        answer = self.floor.take(inbound.payload)
        if self._flash is not None:
            self._flash.want(self.floor.flashing())
        if answer is not None:
            override = self.who.refusal("override_discharge") is None
            self.notify(**answer_notice(answer, self.tz, override))

    # -- commands out -------------------------------------------------------------------

    async def on_send(self, message: messages.Send) -> None:
        await self.send(message.chair, message.command)

    async def send(self, chair: str, command: CommandBase | None) -> bool:
        """Send a command (None: the form was cancelled); the answer comes back later."""
        if command is None:
            return False
        if self.who.locked:
            # Locked while a form was open: the password first, then this very command.
            self.ask_password(lambda: self.send(chair, command))
            return False
        return await self.outbox.send(chair, command)

    def on_ask_password(self, message: messages.AskPassword) -> None:
        self.ask_password(message.then)

    def ask_password(self, then: Callable[[], object]) -> None:
        if self.who.signed_in is not None:
            ask_password(self, self.who.signed_in.user, then)

    # -- the command palette ------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "sign_out" and self.who.signed_in is None:
            return False
        return super().check_action(action, parameters)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if (signed := self.who.signed_in) is not None:
            yield SystemCommand("Sign out", f"Sign {signed.user} out: the screen shows no "
                                "patient until someone signs in", self.sign_out)
        if self.who.showing:
            shown = self.chair_screen() or self.overview
            yield from shown.system_commands()

    # -- view ---------------------------------------------------------------------------

    def flash_tick(self) -> None:
        if self.is_running:
            self.floor.flash_step += 1
            apply_flash(self)

    async def refresh_view(self) -> None:
        if self._refreshing or not self.is_running:
            return  # already at it, or shutting down (screens are being taken apart)
        self._refreshing = True
        try:
            for pending in self.floor.expire_pending():
                self.notify(**overdue_notice(pending, self.tz))
            if self.floor.bell_due():
                self.ring()
            await refresh_screens(self)
            apply_flash(self)
        finally:
            self._refreshing = False

    def ring(self) -> None:
        self.bell_count += 1
        self.bell()
