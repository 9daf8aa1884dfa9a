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
from drivers.mqtt_settings import MqttSettings
from drivers.payloads import Inbound
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
from .region_view import RegionScreen
from .signin import SignInScreen, ask_password
from .signing import SigningIn
from .source import BrokerSource, SitesHeard
from .user import ScreenUser, SignIn
from .view import FlashTimer, apply_flash, refresh_screens

__all__ = ["ALL_SITES", "FLASH_S", "DashboardApp", "command_type"]

ALL_SITES = "all"
"""In ``sites``: every site the region's broker has a bridge state of for this user."""

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
        remote: bool = False, sites: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.site, self.settings, self.clock, self.tz, self.blink = site, settings, clock, tz, blink
        self.who = ScreenUser(mqtt, site, clock, user or settings.user, directory=directory,
                              sign_in=sign_in, kiosk=kiosk, idle_lock_s=idle_lock_s,
                              sends_commands=self.SENDS_COMMANDS)
        self.url = mqtt.url() if mqtt is not None else None
        self.sender = sender
        self.remote = remote or sites is not None
        self.region = sites is not None
        """Several sites watched from the regional broker, each in a group of its own."""
        self.discover = sites is not None and ALL_SITES in sites
        self.floors: dict[str, Floor] = {}
        self.outboxes: dict[str, Outbox] = {}
        self._listening = False
        # A floor of no site until one is looked at ("all" sites, none heard yet).
        self.floor = self._new_floor(None)
        self.outbox = Outbox(self.floor, self.who, sender, self.notify)
        for name in ([site] if sites is None else [s for s in sites if s != ALL_SITES]):
            self.add_site(name)
        if self.floors:
            self.look_at(next(iter(self.floors)))
        self.banner_text = banner
        self.protocols = list(protocols or DEFAULT_PROTOCOLS)
        self.bell_count = 0
        self._initial_chairs = list(chairs or [])
        self._open_chair = chair
        self._exit_after_s = exit_after_s
        self._flash = FlashTimer(self, FLASH_S, self.flash_tick) if blink else None
        self._refreshing = False
        self._drawn: tuple[object, ...] | None = None
        """What the screens were last drawn from (see `_refresh_tick`)."""

    # -- sites --------------------------------------------------------------------------

    def _new_floor(self, site: str | None) -> Floor:
        floor = Floor(self.settings, self.clock, self.url)
        floor.tz = self.tz
        if self.remote and site is not None:
            # Watched from the regional broker: the site's bridge says if it is in reach.
            floor.bridge = Bridge(site)
        return floor

    def add_site(self, site: str) -> Floor:
        """A site to watch: its floor and its outbox (and its source, once listening)."""
        if (known := self.floors.get(site)) is not None:
            return known
        floor = self.floors[site] = self._new_floor(site)
        floor.flash_step = self.floor.flash_step
        self.outboxes[site] = Outbox(floor, self.who, self.sender, self.notify)
        if self._listening:
            self._listen_to(site)
        return floor

    def look_at(self, site: str) -> None:
        """The site whose chair is in view: its floor, and where its commands leave."""
        self.site, self.floor, self.outbox = site, self.floors[site], self.outboxes[site]

    def every_floor(self) -> list[Floor]:
        floors = list(self.floors.values())
        return floors if self.floor in floors else [self.floor, *floors]

    def on_site_heard(self, message: messages.SiteHeard) -> None:
        self.add_site(message.site)
        self.call_later(self.refresh_view)

    # -- screens ------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[None]:
        if self.region:
            return RegionScreen(self.banner_text)
        return OverviewScreen(self.banner_text)

    async def on_mount(self) -> None:
        self.set_interval(REFRESH_S, self._refresh_tick)
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
        for chair in sorted(self._initial_chairs if not self.region else (), key=chair_key):
            await self.overview.tile(chair)
        if self._open_chair is not None:
            self.open_chair(self._open_chair)
        else:
            await self.refresh_view()

    def open_chair(self, chair: str, site: str | None = None) -> None:
        if not self.who.showing:
            return
        if site is not None and site in self.floors:
            self.look_at(site)
        banner = self.banner_text
        if self.region:  # which site's chair this is, on every line of its view
            banner = f"site {self.site}" + (f" · {banner}" if banner else "")
        self.push_screen(self.CHAIR_SCREEN(chair, banner, self.tz))

    def on_open_chair(self, message: messages.OpenChair) -> None:
        self.open_chair(message.chair, message.site)

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
        """A connection per site (each its own link on its floor), and at the region watching
        "all" one more that hears of the sites."""
        assert self.who.mqtt is not None
        self.workers.cancel_group(self, "mqtt")
        self._listening = True
        for site in self.floors:
            self._listen_to(site)
        if self.discover:
            self.run_worker(SitesHeard(self.who.mqtt, self.post_message).run(), group="mqtt")

    def _listen_to(self, site: str) -> None:
        assert self.who.mqtt is not None
        floor = self.floors[site]
        source = BrokerSource(self.who.mqtt, site, floor.link, self.post_message,
                              bridge=floor.bridge is not None)
        self.outboxes[site].source = source
        self.run_worker(source.run(), group="mqtt")

    def stop_listening(self) -> None:
        self._listening = False
        self.workers.cancel_group(self, "mqtt")
        for outbox in self.outboxes.values():
            outbox.source = None

    def on_received(self, message: messages.Received) -> None:
        self.ingest(message.inbound, message.site)

    def on_bridge_state(self, message: messages.BridgeState) -> None:
        floor = self.floors.get(message.site) if message.site is not None else self.floor
        if floor is not None:
            floor.take_bridge(message.up)

    def ingest(self, inbound: Inbound, site: str | None = None) -> None:
        """Take one decoded message (from the broker, a replay, or a test) of ``site``
        (None: the site in view)."""
        if not self.who.showing:
            return  # nobody is signed in: nothing of a patient is kept, nor shown
        floor = self.floor if site is None else self.floors.get(site)
        if floor is None:
            return
        answer = floor.take(inbound.payload)
        if self._flash is not None:
            self._flash.want(any(f.flashing() for f in self.floors.values()))
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
            for floor in self.every_floor():
                floor.flash_step += 1
            apply_flash(self)

    async def _refresh_tick(self) -> None:
        """The refresh timer: the screens are drawn again only when what they show may have
        changed (something arrived or left, the clock's second, an offline reason, the
        screens, who is signed in); on a floor where nothing changes, three refreshes in
        four found nothing to draw, at the cost of a walk over every tile."""
        await self.refresh_view(when_changed=True)

    def _view_key(self, floors: list[Floor]) -> tuple[object, ...]:
        return (
            int(self.clock.now().timestamp()),
            tuple((id(floor), floor.changes, floor.offline()) for floor in floors),
            id(self.floor), self.floor.sort_by_urgency,
            tuple(id(screen) for screen in self.screen_stack), self.size,
            self.who.identity(),
        )

    async def refresh_view(self, *, when_changed: bool = False) -> None:
        if self._refreshing or not self.is_running:
            return  # already at it, or shutting down (screens are being taken apart)
        self._refreshing = True
        try:
            floors = self.every_floor()
            for floor in floors:
                for pending in floor.expire_pending():
                    self.notify(**overdue_notice(pending, self.tz))
            if [floor for floor in floors if floor.bell_due()]:  # every floor asked
                self.ring()
            key = self._view_key(floors)
            if when_changed and key == self._drawn:
                return
            await refresh_screens(self)
            self._drawn = key
            apply_flash(self)
        finally:
            self._refreshing = False

    def ring(self) -> None:
        self.bell_count += 1
        self.bell()
