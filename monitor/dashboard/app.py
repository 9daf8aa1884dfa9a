"""The dashboard application: a view of the engine's retained state, fed from the broker, and
the commands the nurses and physicians send back.

The App owns the MQTT worker (a Screen's workers die when it is popped), the newest state of
every chair, each chair's trends and the answers to commands. Incoming states are coalesced:
a newer state of a chair replaces one still queued, only the newest per chair is kept, and the
screen refreshes a few times a second, so a burst of readings never floods the display. Every
value shows its age from the injected clock; when the engine goes silent a banner says
monitoring is offline and values grey out.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import ClassVar

import aiomqtt
from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen

from drivers import topics
from drivers.clock import Clock
from drivers.mqtt import (
    QOS,
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
from .overview import OverviewScreen, chair_key

log = logging.getLogger(__name__)

Sender = Callable[[str, CommandBase], Awaitable[None]]
"""Sends one command for one chair (the broker by default; tests may record instead)."""

DEFAULT_PROTOCOLS = ("spravato", "iv_ketamine", "im_ketamine")
REFRESH_S = 0.25
"""Wall seconds between screen refreshes: the bound on redraws, whatever arrives."""
FLASH_S = 0.25
"""Wall seconds per flash step: high alarms toggle every step (2 Hz), medium every 4 (0.5 Hz)."""
RESULTS_KEPT = 10


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
    ) -> None:
        super().__init__()
        self.mqtt = mqtt
        self.site = site
        self.settings = settings
        self.clock = clock
        self.banner_text = banner
        self.user = user or settings.user
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
        if self.mqtt is not None:
            self.listen()

    async def overview_ready(self, overview: OverviewScreen) -> None:
        """The overview is composed: its tiles, then the chair view if one was asked for."""
        for chair in sorted(self._initial_chairs, key=chair_key):
            await overview.tile(chair)
        if self._open_chair is not None:
            self.open_chair(self._open_chair)
        else:
            await self.refresh_view()

    def open_chair(self, chair: str) -> None:
        self.push_screen(ChairScreen(chair, self.banner_text, self.tz))

    def action_overview(self) -> None:
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

        await stay_connected(mqtt, lambda: make_client(mqtt, identifier), session,
                             name="dashboard", lost=lost)

    def on_dashboard_app_received(self, message: Received) -> None:
        self.ingest(message.inbound)

    def ingest(self, inbound: Inbound) -> None:
        """Take one decoded message (from the broker, or from a test)."""
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
            if result.type == "discharge":
                body += "\no: override with a reason"
            self.notify(body, title=title, severity="error", timeout=12)

    # -- commands out -------------------------------------------------------------------

    async def _publish(self, chair: str, command: CommandBase) -> None:
        client = self._client
        if client is None:
            raise NotConnected("no connection to the broker")
        await client.publish(topics.commands(self.site, chair), command.to_json(), qos=QOS)

    async def send(self, chair: str, command: CommandBase | None) -> bool:
        """Send a command (None: the form was cancelled); the answer comes back later."""
        if command is None:
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

    def _chair_or_warn(self) -> str | None:
        screen = self.chair_screen()
        if screen is None:
            self.notify("open a chair first (enter on its tile)", severity="warning")
            return None
        return screen.chair

    def action_start_session(self) -> None:
        if (chair := self._chair_or_warn()) is not None:
            self._form(StartSessionForm(chair, self.user, self.clock.now, self.protocols,
                                        blink=self.blink))

    def action_dose_given(self) -> None:
        if (chair := self._chair_or_warn()) is None:
            return
        state = self.states.get(chair)
        detail = ""
        session = state.session if state else None
        if session is not None and session.doses_expected:
            detail = f"nasal device {session.doses_given + 1}"
        self._form(DoseForm(chair, self.user, self.clock.now, detail, blink=self.blink))

    def action_infusion_end(self) -> None:
        if (chair := self._chair_or_warn()) is not None:
            now = clock_time(self.clock.now(), self.tz, seconds=True)
            self._form(InfusionEndForm(chair, self.user, self.clock.now,
                                       intro=f"Record that the infusion ended now ({now}).",
                                       blink=self.blink))

    def action_manual_bp(self) -> None:
        if (chair := self._chair_or_warn()) is not None:
            self._form(ManualBpForm(chair, self.user, self.clock.now, blink=self.blink))

    def action_assessment(self) -> None:
        if (chair := self._chair_or_warn()) is not None:
            self._form(AssessmentForm(chair, self.user, self.clock.now, blink=self.blink))

    def action_symptoms(self) -> None:
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
        if (chair := self._chair_or_warn()) is None:
            return
        unmet = self._unmet(chair)
        intro = "Every discharge condition is met." if not unmet else (
            "Not met yet (the engine will refuse; o overrides with a reason):\n"
            + "\n".join(f"✗ {u}" for u in unmet)
        )
        self._form(DischargeForm(chair, self.user, self.clock.now, intro=intro,
                                 blink=self.blink))

    def action_override_discharge(self) -> None:
        if (chair := self._chair_or_warn()) is None:
            return
        unmet = self._unmet(chair)
        intro = "Discharge before these conditions are met, with a written reason:\n" + (
            "\n".join(f"✗ {u}" for u in unmet) or "(none unmet now)"
        )
        self._form(DischargeForm(chair, self.user, self.clock.now, override=True,
                                 intro=intro, blink=self.blink))

    def action_end_session(self) -> None:
        if (chair := self._chair_or_warn()) is None:
            return
        state = self.states.get(chair)
        who = state.session.patient_code if state and state.session else "this chair"
        self._form(EndSessionForm(chair, self.user, self.clock.now, blink=self.blink,
                                  intro=f"End the session of {who} without a discharge."))

    async def action_pause_audio(self) -> None:
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
        await self.send(chair, AckAlarm(at=self.clock.now(), by=self.user, alarm_id=alarm_id))

    # -- the command palette ------------------------------------------------------------

    SENDS_COMMANDS: ClassVar[bool] = True
    """False where the screen only shows (a replay): no command action runs, none is
    offered, and their keys fall through to the screen's own (a replay's `n`)."""
    COMMAND_ACTIONS: ClassVar[frozenset[str]] = frozenset({
        "start_session", "dose_given", "infusion_end", "manual_bp", "assessment", "symptoms",
        "ack", "pause_audio", "discharge", "override_discharge", "end_session",
    })

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.SENDS_COMMANDS and action in self.COMMAND_ACTIONS:
            return False
        return super().check_action(action, parameters)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        chair = self.chair_screen()
        if chair is not None and not self.SENDS_COMMANDS:
            yield SystemCommand("Overview", "Back to every chair", self.action_overview)
            return
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
            ("Start session", f"Start a session at {c}", self.action_start_session),
            ("Dose given", "Record a dose (nasal device, infusion start, injection)",
             self.action_dose_given),
            ("Infusion end", "Record the end of the infusion", self.action_infusion_end),
            ("Manual BP", "Enter a blood pressure measured by hand", self.action_manual_bp),
            ("Assessment", "Sedation, dissociation, respiration (optional Aldrete)",
             self.action_assessment),
            ("Symptoms", "Chest pain, severe headache, ...: refer for emergency care",
             self.action_symptoms),
            ("Acknowledge alarm", "Acknowledge the selected (or highest) alarm",
             self.action_ack),
            ("Pause audio", f"Pause alarm audio for {self.settings.pause_audio_s} s",
             self.action_pause_audio),
            ("Discharge", "Discharge the patient (refused while conditions are unmet)",
             self.action_discharge),
            ("Override discharge", "Discharge with a written reason (physician)",
             self.action_override_discharge),
            ("End session", "End the session without a discharge", self.action_end_session),
        ):
            yield SystemCommand(title, help_text, action)
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
