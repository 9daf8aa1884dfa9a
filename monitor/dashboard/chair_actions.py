"""The chair view of a screen that sends commands: its keys, forms and palette entries.

Each action opens its form (or sends at once: acknowledge, pause audio) and posts the
command to the App as `Send`; the App checks the lock again and publishes it. What the
signed-in role may not do is neither bound nor offered, and its key says why. A replay's
chair view is the plain `ChairScreen`, which binds none of these keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ClassVar

from textual import events
from textual.app import SystemCommand
from textual.binding import Binding, BindingType
from textual.widgets import OptionList

from drivers.wire import AckAlarm, CommandBase, PauseAudio, ValidationError
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
from .messages import AskPassword, Send
from .permissions import ACTION_COMMANDS, overriders

COMMAND_ACTIONS: frozenset[str] = frozenset(ACTION_COMMANDS)

PALETTE: tuple[tuple[str, str, str], ...] = (
    ("Start session", "Start a session at {chair}", "start_session"),
    ("Dose given", "Record a dose (nasal device, infusion start, injection)", "dose_given"),
    ("Infusion end", "Record the end of the infusion", "infusion_end"),
    ("Manual BP", "Enter a blood pressure measured by hand", "manual_bp"),
    ("Assessment", "Sedation, dissociation, respiration (optional Aldrete)", "assessment"),
    ("Symptoms", "Chest pain, severe headache, ...: refer for emergency care", "symptoms"),
    ("Acknowledge alarm", "Acknowledge the selected (or highest) alarm", "ack"),
    ("Pause audio", "Pause alarm audio for {pause} s", "pause_audio"),
    ("Discharge", "Discharge the patient (refused while conditions are unmet)", "discharge"),
    ("Override discharge", "Discharge with a written reason (a {overriders})",
     "override_discharge"),
    ("End session", "End the session without a discharge", "end_session"),
)
"""The palette's command entries: title, help, action."""


class ActionChairScreen(ChairScreen):
    """One chair, in full, with the commands the screen's user may send."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "ack", "Ack"),
        Binding("p", "pause_audio", "Pause audio"),
        Binding("n", "start_session", "New session"),
        Binding("d", "dose_given", "Dose"),
        Binding("i", "infusion_end", "Infusion end"),
        Binding("m", "manual_bp", "Manual BP"),
        Binding("s", "assessment", "Assess"),
        Binding("y", "symptoms", "Symptoms"),
        Binding("x", "discharge", "Discharge"),
        Binding("o", "override_discharge", "Override", show=False),
        Binding("e", "end_session", "End session"),
    ]

    # -- who may -------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in COMMAND_ACTIONS and self.host.who.refusal(action) is not None:
            return False
        return super().check_action(action, parameters)

    def on_key(self, event: events.Key) -> None:
        """A key of a command this screen does not offer says why, rather than nothing."""
        for binding in self.BINDINGS:
            if not isinstance(binding, Binding) or event.key not in binding.key.split(","):
                continue
            if binding.action in COMMAND_ACTIONS and (
                    why := self.host.who.refusal(binding.action)):
                self.notify(why, title="not allowed", severity="warning", timeout=8)
                return

    def allowed(self, action: str, retry: Callable[[], object]) -> bool:
        """May ``action`` run now? If the role may not, say why; if the screen is locked, ask
        for the password, then run ``retry``."""
        why = self.host.who.refusal(action)
        if why is not None:
            self.notify(why, title="not allowed", severity="warning", timeout=8)
            return False
        if self.host.who.locked:
            self.post_message(AskPassword(retry))
            return False
        return True

    def _form(self, form: CommandForm) -> None:
        def done(command: CommandBase | None) -> None:
            self.post_message(Send(form.chair, command))

        self.app.push_screen(form, callback=done)

    # -- the actions ---------------------------------------------------------------------

    def action_start_session(self) -> None:
        if self.allowed("start_session", self.action_start_session):
            host = self.host
            self._form(StartSessionForm(self.chair, host.who.user, host.clock.now, host.protocols,
                                        blink=host.blink))

    def action_dose_given(self) -> None:
        if not self.allowed("dose_given", self.action_dose_given):
            return
        state = self.host.floor.states.get(self.chair)
        session = state.session if state else None
        detail = ""
        if session is not None and session.doses_expected:
            detail = f"nasal device {session.doses_given + 1}"
        self._form(DoseForm(self.chair, self.host.who.user, self.host.clock.now, detail,
                            blink=self.host.blink))

    def action_infusion_end(self) -> None:
        if self.allowed("infusion_end", self.action_infusion_end):
            host = self.host
            now = clock_time(host.clock.now(), host.tz, seconds=True)
            self._form(InfusionEndForm(self.chair, host.who.user, host.clock.now,
                                       intro=f"Record that the infusion ended now ({now}).",
                                       blink=host.blink))

    def action_manual_bp(self) -> None:
        if self.allowed("manual_bp", self.action_manual_bp):
            self._form(ManualBpForm(self.chair, self.host.who.user, self.host.clock.now,
                                    blink=self.host.blink))

    def action_assessment(self) -> None:
        if self.allowed("assessment", self.action_assessment):
            self._form(AssessmentForm(self.chair, self.host.who.user, self.host.clock.now,
                                      blink=self.host.blink))

    def action_symptoms(self) -> None:
        if self.allowed("symptoms", self.action_symptoms):
            self._form(SymptomsForm(self.chair, self.host.who.user, self.host.clock.now,
                                    blink=self.host.blink,
                                    intro="Refer for emergency care immediately (label). "
                                          "Recording raises a high alarm at every screen."))

    def _unmet(self) -> list[str]:
        state = self.host.floor.states.get(self.chair)
        if state is None:
            return []
        return [localize_times(u.reason, self.host.tz, state.at) for u in state.discharge.unmet]

    def action_discharge(self) -> None:
        if not self.allowed("discharge", self.action_discharge):
            return
        unmet = self._unmet()
        how = ("o overrides with a reason"
               if self.host.who.refusal("override_discharge") is None
               else f"only a {overriders()} may override")
        intro = "Every discharge condition is met." if not unmet else (
            f"Not met yet (the engine will refuse; {how}):\n"
            + "\n".join(f"✗ {u}" for u in unmet)
        )
        self._form(DischargeForm(self.chair, self.host.who.user, self.host.clock.now, intro=intro,
                                 blink=self.host.blink, sender=self.host.who.sender_label()))

    def action_override_discharge(self) -> None:
        if not self.allowed("override_discharge", self.action_override_discharge):
            return
        intro = "Discharge before these conditions are met, with a written reason:\n" + (
            "\n".join(f"✗ {u}" for u in self._unmet()) or "(none unmet now)"
        )
        self._form(DischargeForm(self.chair, self.host.who.user, self.host.clock.now,
                                 override=True, intro=intro, blink=self.host.blink,
                                 sender=self.host.who.sender_label()))

    def action_end_session(self) -> None:
        if not self.allowed("end_session", self.action_end_session):
            return
        state = self.host.floor.states.get(self.chair)
        who = state.session.patient_code if state and state.session else "this chair"
        self._form(EndSessionForm(self.chair, self.host.who.user, self.host.clock.now,
                                  blink=self.host.blink,
                                  intro=f"End the session of {who} without a discharge."))

    def action_pause_audio(self) -> None:
        if not self.allowed("pause_audio", self.action_pause_audio):
            return
        host = self.host
        try:
            command = PauseAudio(at=host.clock.now(), by=host.who.user,
                                 seconds=host.settings.pause_audio_s)
        except ValidationError as exc:  # pragma: no cover - the default is valid
            self.notify(str(exc), severity="error")
            return
        self.post_message(Send(self.chair, command))

    def action_ack(self) -> None:
        if not self.allowed("ack", self.action_ack):
            return
        alarm_id = self.selected_alarm()
        alarms = sorted_alarms(self.host.floor.states.get(self.chair))
        chosen = next((a for a in alarms if a.alarm_id == alarm_id), None)
        if chosen is None or chosen.acknowledged:
            chosen = next((a for a in alarms if not a.acknowledged), None)
        if chosen is None:
            self.notify("no unacknowledged alarm at this chair", severity="warning")
            return
        self.ack_alarm(chosen.alarm_id)

    def ack_alarm(self, alarm_id: str) -> None:
        if self.allowed("ack", lambda: self.ack_alarm(alarm_id)):
            self.post_message(Send(self.chair, AckAlarm(at=self.host.clock.now(),
                                                        by=self.host.who.user, alarm_id=alarm_id)))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.ack_alarm(event.option.id)

    # -- the palette ---------------------------------------------------------------------

    def system_commands(self) -> Iterable[SystemCommand]:
        yield from super().system_commands()
        host = self.host
        for title, help_text, action in PALETTE:
            if host.who.refusal(action) is None:
                text = help_text.format(chair=self.chair, pause=host.settings.pause_audio_s,
                                        overriders=overriders())
                yield SystemCommand(title, text, getattr(self, f"action_{action}"))
        if host.who.refusal("ack") is not None:
            return
        state = host.floor.states.get(self.chair)
        now = host.clock.now()
        for alarm in sorted_alarms(state):
            if not alarm.acknowledged:
                yield SystemCommand(
                    f"Acknowledge: {alarm_text(alarm, state, now, host.tz)}",
                    f"alarm {alarm.alarm_id}",
                    lambda a=alarm.alarm_id: self.ack_alarm(a),
                )
