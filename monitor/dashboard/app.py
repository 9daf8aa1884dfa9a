"""The dashboard application: a view of the engine's retained state, fed from the broker, and
the commands the nurses and physicians send back.

The App owns the MQTT worker (a Screen's workers die when it is popped), the newest state of
every chair, each chair's trends and the answers to commands. Incoming states are coalesced:
a newer state of a chair replaces one still queued, only the newest per chair is kept, and the
screen refreshes a few times a second, so a burst of readings never floods the display. Every
value shows its age from the injected clock; when the engine goes silent a banner says
monitoring is offline and values grey out.

On a site with a user directory the screen first asks who is there (`signin`), connects as
that user, offers only what the role may do (`permissions`) and locks when left idle
(`idle`); a kiosk is a wall display that signs nobody in and sends nothing.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import ClassVar

import aiomqtt
from textual import events, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen

from drivers import topics
from drivers.clock import Clock
from drivers.mqtt import (
    QOS,
    BrokerRefused,
    Inbound,
    MqttSettings,
    PayloadDecoder,
    make_client,
    payload_bytes,
    stay_connected,
)
from drivers.wire import (
    AckAlarm,
    ChairState,
    CommandBase,
    CommandResult,
    EngineStatus,
    PauseAudio,
    ValidationError,
)
from monitor.access.directory import Directory
from monitor.config import DashboardSettings
from monitor.localtime import clock_time, localize_times

from .chair import ChairScreen, sorted_alarms
from .format import alarm_text
from .forms import (
    AssessmentForm,
    CommandForm,
    DischargeForm,
    DoseForm,
    EndSessionForm,
    InfusionEndForm,
    ManualBpForm,
    StartSessionForm,
    SymptomsForm,
)
from .history import ChairHistory
from .idle import IdleLock
from .overview import OverviewScreen, chair_key
from .permissions import ACTION_COMMANDS, action_refusal, overriders
from .signin import (
    SignedIn,
    SignIn,
    SignInRefused,
    SignInScreen,
    UnlockScreen,
    broker_sign_in,
    check_password,
    person,
    with_credentials,
)
from .widgets import Banners

log = logging.getLogger(__name__)

Sender = Callable[[str, CommandBase], Awaitable[None]]
"""Sends one command for one chair (the broker by default; tests may record instead)."""

DEFAULT_PROTOCOLS = ("spravato", "iv_ketamine", "im_ketamine")
REFRESH_S = 0.25
"""Wall seconds between screen refreshes: the bound on redraws, whatever arrives."""
FLASH_S = 0.25
"""Wall seconds per flash step: high alarms toggle every step (2 Hz), medium every 4 (0.5 Hz)."""
RESULTS_KEPT = 10
KIOSK = "KIOSK · read only"


def command_type(command: CommandBase) -> str:
    """``start_session``, ``ack_alarm``...: every command model names its type."""
    return str(getattr(command, "type", type(command).__name__))


class NotConnected(Exception):
    """A command cannot be sent: there is no connection to the broker."""


@dataclass(frozen=True, slots=True)
class Pending:
    chair: str
    type: str
    sent_at: datetime


class DashboardApp(App[None]):
    """The overview, and a chair view per chair."""

    CSS_PATH = "dashboard.tcss"
    TITLE = "Chairside"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("u", "sign_out", "Sign out"),
    ]

    class Received(Message):
        """One decoded message from the broker. A newer state of the same chair supersedes
        one still waiting in the queue (Toolong's coalescing), so a burst collapses."""

        def __init__(self, inbound: Inbound) -> None:
            super().__init__()
            self.inbound = inbound

        def can_replace(self, message: Message) -> bool:
            mine, theirs = self.inbound.payload, getattr(message, "inbound", None)
            return (
                isinstance(message, DashboardApp.Received)
                and isinstance(mine, ChairState)
                and theirs is not None
                and isinstance(theirs.payload, ChairState)
                and theirs.payload.chair == mine.chair
            )

    def __init__(
        self,
        mqtt: MqttSettings | None,
        site: str,
        settings: DashboardSettings,
        clock: Clock,
        *,
        chairs: list[str] | None = None,
        banner: str | None = None,
        exit_after_s: float | None = None,
        chair: str | None = None,
        user: str | None = None,
        protocols: Sequence[str] | None = None,
        tz: tzinfo | None = None,
        blink: bool = True,
        sender: Sender | None = None,
        directory: Directory | None = None,
        sign_in: SignIn | None = None,
        kiosk: bool = False,
        idle_lock_s: float = 300.0,
    ) -> None:
        super().__init__()
        self.mqtt = mqtt
        self.directory = None if kiosk else directory
        self.kiosk = kiosk
        self.signed_in: SignedIn | None = None
        self.idle = IdleLock(clock, idle_lock_s)
        self.refused: str | None = None
        """The broker's refusal of this screen's credentials, while it stands."""
        self._site_mqtt = mqtt
        self._sign_in: SignIn | None = sign_in or (
            broker_sign_in(mqtt, site) if mqtt is not None else None)
        self.site = site
        self.settings = settings
        self.clock = clock
        self.banner_text = banner
        self.user = user or settings.user
        self._open_user = self.user
        self.protocols = list(protocols or DEFAULT_PROTOCOLS)
        self.tz = tz
        self.blink = blink
        self.states: dict[str, ChairState] = {}
        self.histories: dict[str, ChairHistory] = {}
        self.results: dict[str, deque[tuple[CommandResult, bool]]] = {}
        self.pending: dict[str, Pending] = {}
        self.sent: list[tuple[str, CommandBase]] = []
        self.engine_status: EngineStatus | None = None
        self.last_state_at: datetime | None = None
        self.decoder = PayloadDecoder(log)
        self.sort_by_urgency = True
        self.broker_connected = False
        self.ever_connected = False
        self.bell_count = 0
        self._client: aiomqtt.Client | None = None
        self._sender: Sender = sender or self._publish
        self._dirty: set[str] = set()
        self._initial_chairs = list(chairs or [])
        self._open_chair = chair
        self._exit_after_s = exit_after_s
        self._flash_step = 0
        self._sounding: set[str] = set()
        self._last_bell: datetime | None = None
        self._refreshing = False

    # -- screens ------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[None]:
        return OverviewScreen(self.banner_text)

    @property
    def needs_sign_in(self) -> bool:
        """A site with a user directory, and this is no kiosk: nobody is shown anything of a
        patient, nor sends anything, before signing in."""
        return self.directory is not None

    @property
    def showing(self) -> bool:
        """May this screen show the site's chairs now?"""
        return not self.needs_sign_in or self.signed_in is not None

    @property
    def overview(self) -> OverviewScreen:
        screen = self.screen_stack[0]
        assert isinstance(screen, OverviewScreen)
        return screen

    async def on_mount(self) -> None:
        self.set_interval(REFRESH_S, self.refresh_view)
        if self.blink:
            self.set_interval(FLASH_S, self.flash_tick)
        if self._exit_after_s is not None:
            self.set_timer(self._exit_after_s, self.exit)
        if self.mqtt is not None and self.showing:
            self.listen()
        if not self.showing:
            # Over an overview that holds no tile, no chair name, until someone signs in.
            self.push_screen(SignInScreen(self.banner_text, self.site))

    async def overview_ready(self, overview: OverviewScreen) -> None:
        """The overview is composed: its tiles, then the chair view if one was asked for."""
        if not self.showing:
            return
        for chair in sorted(self._initial_chairs, key=chair_key):
            await overview.tile(chair)
        if self._open_chair is not None:
            self.open_chair(self._open_chair)
        else:
            await self.refresh_view()

    def open_chair(self, chair: str) -> None:
        if not self.showing:
            return
        self.push_screen(ChairScreen(chair, self.banner_text, self.tz))

    def action_overview(self) -> None:
        if not self.showing:
            return  # never from under the sign-in
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def action_toggle_sort(self) -> None:
        self.sort_by_urgency = not self.sort_by_urgency
        self.notify("sorted by " + ("urgency" if self.sort_by_urgency else "chair"), timeout=2)
        self.call_later(self.refresh_view)

    def show_screen(self, screen: Screen[None]) -> None:
        """A live screen was mounted or came back: show it now, not at the next tick."""
        self.call_later(self.refresh_view)

    def chair_screen(self) -> ChairScreen | None:
        for screen in reversed(self.screen_stack):
            if isinstance(screen, ChairScreen):
                return screen
            if isinstance(screen, OverviewScreen):
                return None
        return None

    # -- signing in ---------------------------------------------------------------------

    async def sign_in_as(self, user: str, password: str) -> str | None:
        """Sign ``user`` in (None), or say why not in one line; the sign-in screen stays."""
        assert self.directory is not None
        try:
            found = person(self.directory, user)
        except SignInRefused as exc:
            return str(exc)
        if self._sign_in is None:
            return "no broker is configured to check the password"
        url = self._site_mqtt.url() if self._site_mqtt is not None else None
        problem = await check_password(self._sign_in, user, password, url)
        if problem is not None:
            return problem
        self.signed_in = found
        self.user = user
        self.idle.unlock()
        self.refused = None
        if self._site_mqtt is not None:
            self.mqtt = with_credentials(self._site_mqtt, user, password)
        self._forget()
        if self.mqtt is not None:
            self.listen()
        # Not from here: this runs in the sign-in screen's worker, which leaving it cancels.
        self.call_later(self._signed_in)
        return None

    async def _signed_in(self) -> None:
        while isinstance(self.screen, SignInScreen):
            await self.pop_screen()
        await self.overview_ready(self.overview)

    def action_sign_out(self) -> None:
        self.sign_out()

    def sign_out(self, message: str = "") -> None:
        """Back to the sign-in screen: the connection closes, every patient is forgotten."""
        if self.signed_in is None:
            return
        self.workers.cancel_group(self, "mqtt")
        self.signed_in = None
        self.user = self._open_user
        self.mqtt = self._site_mqtt
        self._forget()
        self.call_later(self._signed_out, message)

    async def _signed_out(self, message: str) -> None:
        while len(self.screen_stack) > 1:
            await self.pop_screen()
        await self.overview.clear()
        await self.push_screen(SignInScreen(self.banner_text, self.site, message))

    def _forget(self) -> None:
        self._client = None
        self.broker_connected = self.ever_connected = False
        self.states.clear()
        self.histories.clear()
        self.results.clear()
        self.pending.clear()
        self.sent.clear()
        self.engine_status = None
        self.last_state_at = None
        self._sounding.clear()

    @property
    def locked(self) -> bool:
        return self.signed_in is not None and self.idle.check()

    async def unlock_with(self, password: str) -> str | None:
        """Unlock with the signed-in user's password, checked by the broker again."""
        if self.signed_in is None or self._sign_in is None:
            return "nobody is signed in"
        url = self._site_mqtt.url() if self._site_mqtt is not None else None
        problem = await check_password(self._sign_in, self.signed_in.user, password, url)
        if problem is None:
            self.idle.unlock()
            self.call_later(self.refresh_view)
        return problem

    def identity(self) -> str | None:
        """The line that says who this screen is, on every screen (None: an open site)."""
        if self.kiosk:
            return KIOSK
        if self.signed_in is None:
            return None
        if self.locked:
            return f"LOCKED · {self.signed_in.label()} · a command asks for the password"
        return f"signed in: {self.signed_in.label()}"

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.MouseDown) and self.signed_in is not None:
            self.idle.touch()
        await super().on_event(event)

    # -- data in ------------------------------------------------------------------------

    @work(exclusive=True, group="mqtt")
    async def listen(self) -> None:
        assert self.mqtt is not None
        mqtt = self.mqtt
        identifier = f"chairside-dashboard-{self.site}-{uuid.uuid4().hex[:8]}"

        async def session(client: aiomqtt.Client) -> None:
            await client.subscribe(topics.chairs_filter(self.site, "state"), qos=QOS)
            await client.subscribe(topics.chairs_filter(self.site, "command-results"), qos=QOS)
            await client.subscribe(topics.engine_status(self.site), qos=QOS)
            self._client = client
            self.broker_connected = self.ever_connected = True
            try:
                async for message in client.messages:
                    inbound = self.decoder.decode(
                        message.topic.value, payload_bytes(message), message.retain
                    )
                    if inbound is not None:
                        self.post_message(self.Received(inbound))
            finally:
                self._client = None

        def lost(exc: aiomqtt.MqttError, delay: float) -> None:
            log.warning("dashboard: broker lost (%s); retry in %.2fs", exc, delay)
            self.broker_connected = False

        try:
            await stay_connected(mqtt, lambda: make_client(mqtt, identifier), session,
                                 name="dashboard", lost=lost)
        except BrokerRefused as exc:
            # The password was changed or the user disabled since: trying again cannot help.
            log.error("dashboard: %s", exc)
            self.broker_connected = False
            if self.signed_in is not None:
                self.sign_out("the broker no longer accepts this user: sign in again")
            else:
                self.refused = str(exc)

    def on_dashboard_app_received(self, message: Received) -> None:
        self.ingest(message.inbound)

    def ingest(self, inbound: Inbound) -> None:
        """Take one decoded message (from the broker, or from a test)."""
        if not self.showing:
            return  # nobody is signed in: nothing of a patient is kept, nor shown
        payload = inbound.payload
        if isinstance(payload, ChairState):
            self.states[payload.chair] = payload
            self.last_state_at = self.clock.now()
            self.histories.setdefault(payload.chair, ChairHistory()).add(payload)
            self._dirty.add(payload.chair)
        elif isinstance(payload, EngineStatus):
            self.engine_status = payload
        elif isinstance(payload, CommandResult):
            self.take_result(payload)

    def take_result(self, result: CommandResult) -> None:
        """An answer from the engine: kept for the chair view; a toast for our own."""
        own = self.pending.pop(result.id, None) is not None
        self.results.setdefault(result.chair, deque(maxlen=RESULTS_KEPT)).append((result, own))
        if not own:
            return
        title = f"{result.chair} · {result.type.replace('_', ' ')}"
        reasons = [localize_times(r, self.tz, result.at) for r in result.reasons]
        if result.accepted:
            notes = "".join(f"\nnote: {r}" for r in reasons)
            self.notify("accepted" + notes, title=title,
                        severity="warning" if reasons else "information", timeout=4)
        else:
            body = "REFUSED:" + "".join(f"\n✗ {r}" for r in reasons)
            if result.type == "discharge" and self.command_refusal("override_discharge") is None:
                body += "\no: override with a reason"
            self.notify(body, title=title, severity="error", timeout=12)

    # -- commands out -------------------------------------------------------------------

    async def _publish(self, chair: str, command: CommandBase) -> None:
        client = self._client
        if client is None:
            raise NotConnected("no connection to the broker")
        # Signed in: under the user's own topic, where the broker lets only that user publish.
        user = self.signed_in.user if self.signed_in is not None else None
        await client.publish(topics.commands(self.site, chair, user), command.to_json(),
                             qos=QOS)

    async def send(self, chair: str, command: CommandBase | None) -> bool:
        """Send a command (None: the form was cancelled); the answer comes back later."""
        if command is None:
            return False
        if self.locked:
            # Locked while a form was open: the password first, then this very command.
            self.ask_password(lambda: self.send(chair, command))
            return False
        kind = command_type(command)
        self.pending[command.id] = Pending(chair, kind, self.clock.now())
        try:
            await self._sender(chair, command)
        except (NotConnected, aiomqtt.MqttError, OSError) as exc:
            self.pending.pop(command.id, None)
            self.notify(f"NOT SENT: {exc}", title=f"{chair} · {kind.replace('_', ' ')}",
                        severity="error", timeout=10)
            return False
        self.sent.append((chair, command))
        return True

    def _form(self, form: CommandForm) -> None:
        chair = form.chair

        async def done(command: CommandBase | None) -> None:
            await self.send(chair, command)

        self.push_screen(form, callback=done)

    def command_refusal(self, action: str) -> str | None:
        """Why this screen may not take a command action, or None if it may."""
        if not self.SENDS_COMMANDS:
            return "a replay sends no commands"
        if self.kiosk:
            return f"{KIOSK}: this wall display sends no commands"
        if not self.needs_sign_in:
            return None
        if self.signed_in is None:
            return "sign in first"
        return action_refusal(self.signed_in.role, self.signed_in.user, action)

    def allowed(self, action: str, retry: Callable[[], object]) -> bool:
        """May ``action`` run now? If the role may not, say why; if the screen is locked, ask
        for the password, then run ``retry``."""
        why = self.command_refusal(action)
        if why is not None:
            self.notify(why, title="not allowed", severity="warning", timeout=8)
            return False
        if self.locked:
            self.ask_password(retry)
            return False
        return True

    def ask_password(self, then: Callable[[], object]) -> None:
        if self.signed_in is None or isinstance(self.screen, UnlockScreen):
            return

        async def done(unlocked: bool | None) -> None:
            if unlocked:
                outcome = then()
                if inspect.isawaitable(outcome):
                    await outcome

        self.push_screen(UnlockScreen(self.signed_in.user), callback=done)

    def on_key(self, event: events.Key) -> None:
        """A key of a command this screen does not offer says why, rather than nothing."""
        if not self.SENDS_COMMANDS:
            return  # a replay's keys are its own
        for binding in getattr(self.screen, "BINDINGS", ()):
            if not isinstance(binding, Binding) or event.key not in binding.key.split(","):
                continue
            action = binding.action.removeprefix("app.")
            if action in self.COMMAND_ACTIONS and (why := self.command_refusal(action)):
                self.notify(why, title="not allowed", severity="warning", timeout=8)
                return

    def _chair_or_warn(self) -> str | None:
        screen = self.chair_screen()
        if screen is None:
            self.notify("open a chair first (enter on its tile)", severity="warning")
            return None
        return screen.chair

    def action_start_session(self) -> None:
        if not self.allowed("start_session", self.action_start_session):
            return
        if (chair := self._chair_or_warn()) is not None:
            self._form(StartSessionForm(chair, self.user, self.clock.now, self.protocols,
                                        blink=self.blink))

    def action_dose_given(self) -> None:
        if not self.allowed("dose_given", self.action_dose_given):
            return
        if (chair := self._chair_or_warn()) is None:
            return
        state = self.states.get(chair)
        detail = ""
        session = state.session if state else None
        if session is not None and session.doses_expected:
            detail = f"nasal device {session.doses_given + 1}"
        self._form(DoseForm(chair, self.user, self.clock.now, detail, blink=self.blink))

    def action_infusion_end(self) -> None:
        if not self.allowed("infusion_end", self.action_infusion_end):
            return
        if (chair := self._chair_or_warn()) is not None:
            now = clock_time(self.clock.now(), self.tz, seconds=True)
            self._form(InfusionEndForm(chair, self.user, self.clock.now,
                                       intro=f"Record that the infusion ended now ({now}).",
                                       blink=self.blink))

    def action_manual_bp(self) -> None:
        if not self.allowed("manual_bp", self.action_manual_bp):
            return
        if (chair := self._chair_or_warn()) is not None:
            self._form(ManualBpForm(chair, self.user, self.clock.now, blink=self.blink))

    def action_assessment(self) -> None:
        if not self.allowed("assessment", self.action_assessment):
            return
        if (chair := self._chair_or_warn()) is not None:
            self._form(AssessmentForm(chair, self.user, self.clock.now, blink=self.blink))

    def action_symptoms(self) -> None:
        if not self.allowed("symptoms", self.action_symptoms):
            return
        if (chair := self._chair_or_warn()) is not None:
            self._form(SymptomsForm(chair, self.user, self.clock.now, blink=self.blink,
                                    intro="Refer for emergency care immediately (label). "
                                          "Recording raises a high alarm at every screen."))

    def _unmet(self, chair: str) -> list[str]:
        state = self.states.get(chair)
        if state is None:
            return []
        return [localize_times(u.reason, self.tz, state.at) for u in state.discharge.unmet]

    def action_discharge(self) -> None:
        if not self.allowed("discharge", self.action_discharge):
            return
        if (chair := self._chair_or_warn()) is None:
            return
        unmet = self._unmet(chair)
        how = ("o overrides with a reason" if self.command_refusal("override_discharge") is None
               else f"only a {overriders()} may override")
        intro = "Every discharge condition is met." if not unmet else (
            f"Not met yet (the engine will refuse; {how}):\n"
            + "\n".join(f"✗ {u}" for u in unmet)
        )
        self._form(DischargeForm(chair, self.user, self.clock.now, intro=intro,
                                 blink=self.blink, sender=self._sender_label()))

    def action_override_discharge(self) -> None:
        if not self.allowed("override_discharge", self.action_override_discharge):
            return
        if (chair := self._chair_or_warn()) is None:
            return
        unmet = self._unmet(chair)
        intro = "Discharge before these conditions are met, with a written reason:\n" + (
            "\n".join(f"✗ {u}" for u in unmet) or "(none unmet now)"
        )
        self._form(DischargeForm(chair, self.user, self.clock.now, override=True,
                                 intro=intro, blink=self.blink, sender=self._sender_label()))

    def _sender_label(self) -> str | None:
        """Who a form's command is from, when the broker vouches for it: not for editing."""
        signed = self.signed_in
        return None if signed is None else f"{signed.user} ({signed.role})"

    def action_end_session(self) -> None:
        if not self.allowed("end_session", self.action_end_session):
            return
        if (chair := self._chair_or_warn()) is None:
            return
        state = self.states.get(chair)
        who = state.session.patient_code if state and state.session else "this chair"
        self._form(EndSessionForm(chair, self.user, self.clock.now, blink=self.blink,
                                  intro=f"End the session of {who} without a discharge."))

    async def action_pause_audio(self) -> None:
        if not self.allowed("pause_audio", self.action_pause_audio):
            return
        if (chair := self._chair_or_warn()) is None:
            return
        try:
            command = PauseAudio(at=self.clock.now(), by=self.user,
                                 seconds=self.settings.pause_audio_s)
        except ValidationError as exc:  # pragma: no cover - the default is valid
            self.notify(str(exc), severity="error")
            return
        await self.send(chair, command)

    async def action_ack(self) -> None:
        if not self.allowed("ack", self.action_ack):
            return
        if (chair := self._chair_or_warn()) is None:
            return
        screen = self.chair_screen()
        alarm_id = screen.selected_alarm() if screen is not None else None
        state = self.states.get(chair)
        alarms = sorted_alarms(state)
        chosen = next((a for a in alarms if a.alarm_id == alarm_id), None)
        if chosen is None or chosen.acknowledged:
            chosen = next((a for a in alarms if not a.acknowledged), None)
        if chosen is None:
            self.notify("no unacknowledged alarm at this chair", severity="warning")
            return
        await self.ack_alarm(chair, chosen.alarm_id)

    async def ack_alarm(self, chair: str, alarm_id: str) -> None:
        if not self.allowed("ack", lambda: self.ack_alarm(chair, alarm_id)):
            return
        await self.send(chair, AckAlarm(at=self.clock.now(), by=self.user, alarm_id=alarm_id))

    # -- the command palette ------------------------------------------------------------

    SENDS_COMMANDS: ClassVar[bool] = True
    """False where the screen only shows (a replay): no command action runs, none is
    offered, and their keys fall through to the screen's own (a replay's `n`). A kiosk, and a
    signed-in role, take the same path for what they may not send (`command_refusal`)."""
    COMMAND_ACTIONS: ClassVar[frozenset[str]] = frozenset(ACTION_COMMANDS)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.COMMAND_ACTIONS and self.command_refusal(action) is not None:
            return False
        if action == "sign_out" and self.signed_in is None:
            return False
        return super().check_action(action, parameters)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if self.signed_in is not None:
            yield SystemCommand("Sign out", f"Sign {self.signed_in.user} out: the screen "
                                "shows no patient until someone signs in", self.sign_out)
        if not self.showing:
            return
        chair = self.chair_screen()
        if chair is None:
            yield SystemCommand("Sort: urgency / chair", "Toggle the order of the tiles",
                                self.action_toggle_sort)
            for name in sorted(self.states, key=chair_key):
                yield SystemCommand(f"Open {name}", f"Open the chair view of {name}",
                                    lambda name=name: self.open_chair(name))
            return
        c = chair.chair
        yield SystemCommand("Overview", "Back to every chair", self.action_overview)
        for title, help_text, action in (
            ("Start session", f"Start a session at {c}", "start_session"),
            ("Dose given", "Record a dose (nasal device, infusion start, injection)",
             "dose_given"),
            ("Infusion end", "Record the end of the infusion", "infusion_end"),
            ("Manual BP", "Enter a blood pressure measured by hand", "manual_bp"),
            ("Assessment", "Sedation, dissociation, respiration (optional Aldrete)",
             "assessment"),
            ("Symptoms", "Chest pain, severe headache, ...: refer for emergency care",
             "symptoms"),
            ("Acknowledge alarm", "Acknowledge the selected (or highest) alarm",
             "ack"),
            ("Pause audio", f"Pause alarm audio for {self.settings.pause_audio_s} s",
             "pause_audio"),
            ("Discharge", "Discharge the patient (refused while conditions are unmet)",
             "discharge"),
            ("Override discharge", f"Discharge with a written reason (a {overriders()})",
             "override_discharge"),
            ("End session", "End the session without a discharge", "end_session"),
        ):
            if self.command_refusal(action) is None:
                yield SystemCommand(title, help_text, getattr(self, f"action_{action}"))
        if self.command_refusal("ack") is not None:
            return
        state = self.states.get(c)
        now = self.clock.now()
        for alarm in sorted_alarms(state):
            if not alarm.acknowledged:
                text = alarm_text(alarm, state, now, self.tz)
                yield SystemCommand(
                    f"Acknowledge: {text}", f"alarm {alarm.alarm_id}",
                    lambda a=alarm.alarm_id: self.ack_alarm(c, a),
                )

    # -- view ---------------------------------------------------------------------------

    def monitoring_offline(self, now: datetime) -> str | None:
        """Why the screen cannot be trusted as live, or None."""
        if self.refused is not None:
            return f"MONITORING OFFLINE: {self.refused}"
        if self.mqtt is not None and not self.broker_connected:
            if self.ever_connected:
                return f"MONITORING OFFLINE: lost the broker {self.mqtt.url()}"
            return f"MONITORING OFFLINE: connecting to the broker {self.mqtt.url()}"
        if self.engine_status is not None and self.engine_status.state == "offline":
            return "MONITORING OFFLINE: the engine has stopped"
        if self.last_state_at is None:
            return "WAITING FOR MONITORING DATA"
        silent = (now - self.last_state_at).total_seconds()
        if silent > self.settings.offline_after_s * self.clock.rate:
            return f"MONITORING OFFLINE: no update for {silent:.0f}s"
        return None

    def flash_phase(self) -> tuple[bool, bool]:
        """(high on, medium on): high toggles every step (~2 Hz), medium every 4 (~0.5 Hz)."""
        step = self._flash_step
        return (step % 2 == 0, (step // 4) % 2 == 0)

    def flash_tick(self) -> None:
        if not self.is_running:
            return
        self._flash_step += 1
        self._apply_flash()

    def _apply_flash(self) -> None:
        high_on, medium_on = self.flash_phase()
        for screen in self.screen_stack:
            if isinstance(screen, OverviewScreen | ChairScreen):
                screen.flash(high_on, medium_on)

    async def refresh_view(self) -> None:
        if self._refreshing or not self.is_running:
            return  # already at it, or shutting down (screens are being taken apart)
        self._refreshing = True
        try:
            now = self.clock.now()
            offline = self.monitoring_offline(now)
            self._expire_pending(now)
            self._sound(now)
            self._dirty.clear()
            for screen in reversed(self.screen_stack):
                if isinstance(screen, SignInScreen):
                    break
                if isinstance(screen, ChairScreen | OverviewScreen) and screen.is_mounted:
                    screen.query_one(Banners).identity(self.identity(), self.locked)
                if isinstance(screen, ChairScreen):
                    screen.show(
                        self.states.get(screen.chair), self.histories.get(screen.chair),
                        list(self.results.get(screen.chair, ())), now,
                        self.settings.stale_after_s, offline,
                    )
                    break
                if isinstance(screen, OverviewScreen):
                    await screen.show(self.states, now, self.settings, offline,
                                      self.sort_by_urgency, self.tz)
                    break
            self._apply_flash()
        except NoMatches:
            if self.is_running:
                raise
            # The app began to shut down while the overview mounted a tile: nothing to show.
        finally:
            self._refreshing = False

    def _expire_pending(self, now: datetime) -> None:
        limit = self.settings.answer_timeout_s * self.clock.rate
        for command_id, pending in list(self.pending.items()):
            if (now - pending.sent_at).total_seconds() > limit:
                del self.pending[command_id]
                sent = clock_time(pending.sent_at, self.tz, seconds=True)
                self.notify(
                    f"no answer from the engine to {pending.type} sent at {sent}: "
                    "check that monitoring is online, then look at the chair before resending",
                    title=pending.chair, severity="error", timeout=12,
                )

    # -- the bell -----------------------------------------------------------------------

    def sounding(self, now: datetime) -> set[str]:
        """High-priority alarms not acknowledged, at chairs whose audio is not paused."""
        if not self.settings.bell:
            return set()
        out: set[str] = set()
        for state in self.states.values():
            paused = state.audio_paused_until
            if paused is not None and paused > now:
                continue
            out.update(
                a.alarm_id for a in state.alarms if a.priority == "high" and not a.acknowledged
            )
        return out

    def _sound(self, now: datetime) -> None:
        sounding = self.sounding(now)
        new = sounding - self._sounding
        self._sounding = sounding
        repeat = (
            bool(sounding) and self._last_bell is not None
            and (now - self._last_bell).total_seconds()
            >= self.settings.bell_repeat_s * self.clock.rate
        )
        if new or repeat:
            self._last_bell = now
            self.ring()

    def ring(self) -> None:
        self.bell_count += 1
        self.bell()
