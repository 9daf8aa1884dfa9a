"""Every action of the chair view through Textual's Pilot: the form, its validation by the wire
models, the command sent, and the engine's answer (accepted, or refused with its reasons)."""

from __future__ import annotations

from datetime import UTC

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Select, SelectionList, Static

from drivers.wire import (
    AckAlarm,
    Assessment,
    Discharge,
    DoseGiven,
    EndSession,
    InfusionEnd,
    ManualBp,
    PauseAudio,
    StartSession,
)
from monitor.config import DashboardSettings
from monitor.dashboard.app import DashboardApp
from monitor.dashboard.chair import ChairScreen
from monitor.dashboard.forms import (
    AssessmentForm,
    CommandForm,
    DischargeForm,
    ManualBpForm,
    StartSessionForm,
)
from tests.dashboard.states import (
    NOW,
    Recorder,
    alarm,
    chair_state,
    feed,
    make_app,
    result,
)


async def open_chair(app: DashboardApp, pilot: Pilot[None], chair: str = "chair-1") -> ChairScreen:
    await app.refresh_view()
    await pilot.pause()
    app.open_chair(chair)
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, ChairScreen)
    return screen


async def type_into(pilot: Pilot[None], field: str, text: str, *, keys: bool = False) -> None:
    """Fill a field: by key presses (``keys``), or by setting it (quicker)."""
    form = pilot.app.screen
    widget = form.query_one(f"#{field}", Input)
    widget.focus()
    widget.value = ""
    if keys:
        await pilot.press(*text)
    else:
        widget.value = text
    await pilot.pause()


def form_of(app: DashboardApp) -> CommandForm:
    screen = app.screen
    assert isinstance(screen, CommandForm), f"no form open: {screen!r}"
    return screen


def errors(app: DashboardApp) -> str:
    return str(form_of(app).query_one("#form-errors", Static).render())


def notifications(app: DashboardApp) -> str:
    return "\n".join(f"{n.title}: {n.message}" for n in app._notifications)


async def test_start_session_form_validates_then_sends_and_shows_the_answer() -> None:
    recorder = Recorder()
    recorder.answer = lambda chair, cmd: result(cmd, chair, True)
    app, clock, _ = make_app(recorder=recorder)
    async with app.run_test(size=(100, 34)) as pilot:
        feed(app, chair_state("chair-1", "idle", NOW["observation"]))
        await open_chair(app, pilot)
        await pilot.press("n")
        await pilot.pause()
        form = form_of(app)
        assert isinstance(form, StartSessionForm)

        await type_into(pilot, "patient_code", "John Smith", keys=True)  # a name: refused
        await type_into(pilot, "dose_mg", "2000")
        await pilot.press("enter")
        await pilot.pause()
        assert recorder.sent == []
        shown = errors(app)
        assert "Patient code: use 1-32 letters, digits, - or _" in shown
        assert "Dose (mg): Input should be less than or equal to 1000" in shown
        assert form.query_one("#patient_code", Input).has_class("error")

        await type_into(pilot, "patient_code", "P-0042", keys=True)
        await type_into(pilot, "dose_mg", "84")
        await type_into(pilot, "lot", "LOT-7731")
        form.query_one("#protocol", Select).value = "spravato"
        form.query_one("#concomitant", SelectionList).select("benzodiazepine")
        await pilot.click("#send")
        await pilot.pause()

        chair, command = recorder.sent[-1]
        assert chair == "chair-1" and isinstance(command, StartSession)
        assert (command.patient_code, command.protocol, command.dose_mg, command.lot) == (
            "P-0042", "spravato", 84.0, "LOT-7731")
        assert command.concomitant == ["benzodiazepine"]
        assert command.by == "nurse" and command.at == clock.now()
        assert not isinstance(app.screen, CommandForm)
        assert "start session: accepted" in notifications(app)
        await app.refresh_view()
        assert "start_session accepted" in str(app.screen.query_one("#results", Static).render())


async def test_dose_given_prefills_the_next_nasal_device() -> None:
    app, _, recorder = make_app()
    async with app.run_test(size=(100, 34)) as pilot:
        feed(app, chair_state("chair-1", "dosing"))
        await open_chair(app, pilot)
        await pilot.press("d")
        await pilot.pause()
        assert form_of(app).query_one("#detail", Input).value == "nasal device 2"
        await pilot.press("enter")
        await pilot.pause()
        command = recorder.last()
        assert isinstance(command, DoseGiven) and command.detail == "nasal device 2"


async def test_infusion_end_is_confirmed_then_sent() -> None:
    app, _, recorder = make_app()
    async with app.run_test(size=(100, 34)) as pilot:
        feed(app, chair_state("chair-1", "dosing"))
        await open_chair(app, pilot)
        await pilot.press("i")
        await pilot.pause()
        assert "infusion ended now (09:55:00)" in str(
            form_of(app).query_one("#form-intro", Static).render())
        await pilot.press("escape")  # cancelled: nothing sent
        await pilot.pause()
        assert recorder.sent == []
        await pilot.press("i")
        await pilot.pause()
        await pilot.click("#send")
        await pilot.pause()
        assert isinstance(recorder.last(), InfusionEnd)


async def test_manual_bp_refuses_diastolic_above_systolic() -> None:
    app, _, recorder = make_app()
    async with app.run_test(size=(100, 34)) as pilot:
        feed(app, chair_state("chair-1", "observation"))
        await open_chair(app, pilot)
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(form_of(app), ManualBpForm)
        await pilot.press("enter")
        await pilot.pause()
        assert "Systolic: required" in errors(app) and "Diastolic: required" in errors(app)
        await type_into(pilot, "systolic", "120")
        await type_into(pilot, "diastolic", "130")
        await pilot.press("enter")
        await pilot.pause()
        assert "diastolic 130 must be below systolic 120" in errors(app)
        await type_into(pilot, "systolic", "abc")
        await pilot.press("enter")
        await pilot.pause()
        assert "Systolic: Input should be a valid integer" in errors(app)
        assert recorder.sent == []
        await type_into(pilot, "systolic", "150")
        await type_into(pilot, "diastolic", "92")
        await type_into(pilot, "pulse", "81")
        await pilot.press("enter")
        await pilot.pause()
        command = recorder.last()
        assert isinstance(command, ManualBp)
        assert (command.systolic, command.diastolic, command.pulse) == (150, 92, 81)


async def test_symptoms_form_asks_for_one_at_least_and_sends_them() -> None:
    from drivers.wire import Symptoms
    from monitor.dashboard.forms import SymptomsForm

    app, _, recorder = make_app()
    async with app.run_test(size=(100, 44)) as pilot:
        feed(app, chair_state("chair-1", "observation"))
        await open_chair(app, pilot)
        await pilot.press("y")
        await pilot.pause()
        form = form_of(app)
        assert isinstance(form, SymptomsForm)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Symptoms: choose at least one" in errors(app)
        assert recorder.sent == []
        form.query_one("#symptoms", SelectionList).select("chest_pain")
        form.query_one("#symptoms", SelectionList).select("seizure")
        await type_into(pilot, "note", "clutching chest")
        await pilot.press("ctrl+s")
        await pilot.pause()
        command = recorder.last()
        assert isinstance(command, Symptoms)
        assert command.symptoms == ["chest_pain", "seizure"]
        assert command.note == "clutching chest" and command.by == "nurse"


async def test_assessment_with_and_without_aldrete() -> None:
    app, _, recorder = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        feed(app, chair_state("chair-1", "observation"))
        await open_chair(app, pilot)
        await pilot.press("s")
        await pilot.pause()
        form = form_of(app)
        assert isinstance(form, AssessmentForm)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Sedation: required" in errors(app)
        for name, value in (("sedation", "none"), ("dissociation", "present"),
                            ("respiration", "normal"), ("moaas", 4)):
            form.query_one(f"#{name}", Select).value = value
        form.query_one("#aldrete-activity", Select).value = 2  # one item only: refused
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Aldrete: score all five items or none" in errors(app)
        assert recorder.sent == []
        for name in ("respiration", "circulation", "consciousness", "spo2"):
            form.query_one(f"#aldrete-{name}", Select).value = 2
        form.query_one("#aldrete-consciousness", Select).value = 1
        await type_into(pilot, "note", "drowsy, settling")
        await pilot.press("ctrl+s")
        await pilot.pause()
        command = recorder.last()
        assert isinstance(command, Assessment)
        assert (command.sedation, command.dissociation, command.respiration, command.moaas) == (
            "none", "present", "normal", 4)
        assert command.aldrete is not None and command.aldrete.total == 9
        assert command.note == "drowsy, settling"

        await pilot.press("s")  # without Aldrete
        await pilot.pause()
        form = form_of(app)
        for name, value in (("sedation", "none"), ("dissociation", "none"),
                            ("respiration", "normal")):
            form.query_one(f"#{name}", Select).value = value
        await pilot.click("#send")
        await pilot.pause()
        command = recorder.last()
        assert isinstance(command, Assessment) and command.aldrete is None
        assert command.moaas is None


async def test_ack_acknowledges_the_highlighted_alarm_or_else_the_highest() -> None:
    app, _, recorder = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        feed(app, chair_state("chair-1", "observation", alarms=[
            alarm("chair-1", "medium"), alarm("chair-1", "high")]))
        screen = await open_chair(app, pilot)
        await pilot.press("a")
        await pilot.pause()
        first = recorder.last()
        assert isinstance(first, AckAlarm) and first.alarm_id == "chair-1:bp_high:1"

        alarms = screen.query_one("#alarms", OptionList)
        assert alarms.option_count == 2
        alarms.highlighted = 1  # the medium one
        await pilot.press("a")
        await pilot.pause()
        second = recorder.last()
        assert isinstance(second, AckAlarm) and second.alarm_id == "chair-1:spo2_low:1"

        alarms.focus()  # enter on an alarm in the list acknowledges it
        alarms.highlighted = 0
        await pilot.press("enter")
        await pilot.pause()
        third = recorder.last()
        assert isinstance(third, AckAlarm) and third.alarm_id == "chair-1:bp_high:1"


async def test_ack_refusal_and_nothing_to_acknowledge() -> None:
    recorder = Recorder()
    recorder.answer = lambda chair, cmd: result(
        cmd, chair, False, "alarm chair-1:bp_high:1 was already acknowledged by nurse at "
        "2026-01-05T09:50:00.000Z")
    app, _, _ = make_app(recorder=recorder)
    async with app.run_test(size=(100, 40)) as pilot:
        feed(app, chair_state("chair-1", "observation", alarms=[alarm("chair-1", "high")]))
        await open_chair(app, pilot)
        await pilot.press("a")
        await pilot.pause()
        shown = notifications(app)
        assert "REFUSED" in shown and "acknowledged by nurse at 09:50:00" in shown
        feed(app, chair_state("chair-1", "observation", alarms=[
            alarm("chair-1", "high", acknowledged=True)]))
        await pilot.press("a")
        await pilot.pause()
        assert "no unacknowledged alarm" in notifications(app)
        assert len(recorder.sent) == 1


async def test_pause_audio_sends_the_default_pause() -> None:
    app, _, recorder = make_app()
    async with app.run_test(size=(100, 34)) as pilot:
        feed(app, chair_state("chair-1", "observation", alarms=[alarm("chair-1", "high")]))
        await open_chair(app, pilot)
        await pilot.press("p")
        await pilot.pause()
        command = recorder.last()
        assert isinstance(command, PauseAudio) and command.seconds == 120


async def test_discharge_refusal_shows_the_reasons_and_override_asks_for_one() -> None:
    recorder = Recorder()
    reasons = ("minimum observation of 120 min from 09:10:00Z ends at 11:10:00Z",
               "no sedation and dissociation assessment recorded")
    recorder.answer = lambda chair, cmd: result(
        cmd, chair, isinstance(cmd, Discharge) and cmd.override_reason is not None, *(
            () if isinstance(cmd, Discharge) and cmd.override_reason else reasons))
    app, _, _ = make_app(recorder=recorder)
    async with app.run_test(size=(100, 40)) as pilot:
        feed(app, chair_state("chair-1", "observation"))
        screen = await open_chair(app, pilot)
        await pilot.press("x")
        await pilot.pause()
        form = form_of(app)
        assert isinstance(form, DischargeForm) and not form.override
        intro = str(form.query_one("#form-intro", Static).render())
        assert "ends at 11:10:00" in intro and "no sedation" in intro
        await pilot.press("enter")
        await pilot.pause()
        plain = recorder.last()
        assert isinstance(plain, Discharge) and plain.override_reason is None

        shown = notifications(app)
        assert "REFUSED" in shown and "ends at 11:10:00" in shown and "o: override" in shown
        await app.refresh_view()
        panel = str(screen.query_one("#results", Static).render())
        assert "discharge REFUSED" in panel
        assert "✗ minimum observation of 120 min from 09:10:00 ends at 11:10:00" in panel
        assert "✗ no sedation and dissociation assessment recorded" in panel

        await pilot.press("o")
        await pilot.pause()
        form = form_of(app)
        assert isinstance(form, DischargeForm) and form.override
        await pilot.press("enter")  # no reason: refused by the form
        await pilot.pause()
        assert "Reason for override: required to override" in errors(app)
        await type_into(pilot, "override_reason", "ok")  # too short for the wire model
        await pilot.press("enter")
        await pilot.pause()
        assert "Reason for override: String should have at least 3 characters" in errors(app)
        await type_into(pilot, "override_reason", "escort waiting, reviewed by physician")
        await type_into(pilot, "by", "physician:dr-lee")
        await pilot.press("enter")
        await pilot.pause()
        override = recorder.last()
        assert isinstance(override, Discharge)
        assert override.override_reason == "escort waiting, reviewed by physician"
        assert override.by == "physician:dr-lee"
        assert "discharge: accepted" in notifications(app)


async def test_end_session_with_a_reason() -> None:
    app, _, recorder = make_app()
    async with app.run_test(size=(100, 34)) as pilot:
        feed(app, chair_state("chair-1", "pre_dose"))
        await open_chair(app, pilot)
        await pilot.press("e")
        await pilot.pause()
        assert "End the session of P-0042" in str(
            form_of(app).query_one("#form-intro", Static).render())
        await type_into(pilot, "reason", "patient declined")
        await pilot.press("enter")
        await pilot.pause()
        command = recorder.last()
        assert isinstance(command, EndSession) and command.reason == "patient declined"


async def test_a_refused_start_shows_why() -> None:
    recorder = Recorder()
    recorder.answer = lambda chair, cmd: result(
        cmd, chair, False, "chair chair-1 already has an open session (patient P-0042, "
        "observation); discharge or end it first")
    app, _, _ = make_app(recorder=recorder)
    async with app.run_test(size=(100, 34)) as pilot:
        feed(app, chair_state("chair-1", "observation"))
        screen = await open_chair(app, pilot)
        await pilot.press("n")
        await pilot.pause()
        await type_into(pilot, "patient_code", "P-0043")
        await pilot.press("enter")
        await pilot.pause()
        assert "already has an open session" in notifications(app)
        await app.refresh_view()
        assert "start_session REFUSED" in str(screen.query_one("#results", Static).render())


async def test_every_action_is_in_the_command_palette() -> None:
    app, _, recorder = make_app()
    async with app.run_test(size=(100, 34)) as pilot:
        feed(app, chair_state("chair-1", "observation", alarms=[alarm("chair-1", "high")]))
        await open_chair(app, pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Start session", "Dose given", "Infusion end", "Manual BP",
                      "Assessment", "Symptoms", "Acknowledge alarm", "Pause audio", "Discharge",
                      "Override discharge", "End session", "Overview",
                      "Acknowledge: SYS 186 >= 180 mmHg"):
            assert title in titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"manual bp")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ManualBpForm)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"acknowledge: sys")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.3)
        command = recorder.last()
        assert isinstance(command, AckAlarm) and command.alarm_id == "chair-1:bp_high:1"


async def test_overview_palette_opens_a_chair() -> None:
    app, _, _ = make_app(["chair-1", "chair-2"])
    async with app.run_test(size=(100, 34)) as pilot:
        feed(app, chair_state("chair-1", "observation"))
        feed(app, chair_state("chair-2", "observation"))
        await app.refresh_view()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Open chair-2" in titles and "Sort: urgency / chair" in titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"open chair-2")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ChairScreen) and app.screen.chair == "chair-2"


async def test_the_overview_offers_no_command_until_a_chair_is_open() -> None:
    """The commands are the chair view's own: the overview binds none, offers none in the
    palette, and its keys send nothing."""
    app, _, recorder = make_app()
    async with app.run_test(size=(100, 34)) as pilot:
        await app.refresh_view()
        actions = {b.binding.action for b in app.screen.active_bindings.values()}
        assert actions & set(app.COMMAND_ACTIONS) == set()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert not {"Pause audio", "Acknowledge alarm", "Start session"} & set(titles)
        assert not hasattr(app, "action_pause_audio")
        assert not hasattr(app.screen, "action_pause_audio")
        await pilot.press("p", "a")
        await pilot.pause()
        assert recorder.sent == []


async def test_a_command_without_a_broker_is_not_sent_and_says_so() -> None:
    from drivers.clock import FakeClock
    from drivers.mqtt_settings import MqttSettings

    # A broker nobody listens on: the app is never connected while the test runs.
    app = DashboardApp(MqttSettings(host="127.0.0.1", port=9, reconnect_max_s=5),
                       "clinic", DashboardSettings(), FakeClock(NOW["observation"]),
                       chairs=["chair-1"], tz=UTC, blink=False)
    async with app.run_test(size=(100, 34)) as pilot:
        feed(app, chair_state("chair-1", "observation"))
        await open_chair(app, pilot)
        await pilot.press("p")
        await pilot.pause()
        assert "NOT SENT: no connection to the broker" in notifications(app)
        assert not app.floor.pending
        banner = str(app.screen.query_one("#offline", Static).render())
        assert "MONITORING OFFLINE: connecting to the broker mqtt://127.0.0.1:9" in banner


async def test_no_answer_from_the_engine_is_reported() -> None:
    app, clock, recorder = make_app()
    async with app.run_test(size=(100, 34)) as pilot:
        feed(app, chair_state("chair-1", "observation"))
        await open_chair(app, pilot)
        await pilot.press("p")
        await pilot.pause()
        assert app.floor.pending
        clock.advance(5)
        await app.refresh_view()
        await pilot.pause()
        assert "no answer" not in notifications(app)
        clock.advance(6)
        await app.refresh_view()
        await pilot.pause()
        assert "no answer from the engine to pause_audio sent at 09:55:00" in notifications(app)
        assert not app.floor.pending
        assert len(recorder.sent) == 1


async def test_the_clinic_sets_the_pause_length_and_the_answer_timeout() -> None:
    settings = DashboardSettings(pause_audio_s=300, answer_timeout_s=30.0)
    app, clock, recorder = make_app(settings=settings)
    async with app.run_test(size=(100, 34)) as pilot:
        feed(app, chair_state("chair-1", "observation"))
        await open_chair(app, pilot)
        await pilot.press("p")
        await pilot.pause()
        command = recorder.last()
        assert isinstance(command, PauseAudio) and command.seconds == 300
        clock.advance(29)
        await app.refresh_view()
        await pilot.pause()
        assert app.floor.pending and "no answer" not in notifications(app)
        clock.advance(2)
        await app.refresh_view()
        await pilot.pause()
        assert "no answer from the engine to pause_audio" in notifications(app)


@pytest.mark.parametrize("key", ["escape"])
async def test_escape_goes_back_to_the_overview(key: str) -> None:
    app, _, _ = make_app()
    async with app.run_test(size=(100, 34)) as pilot:
        feed(app, chair_state("chair-1", "observation"))
        await open_chair(app, pilot)
        await pilot.press(key)
        await pilot.pause()
        assert not isinstance(app.screen, ChairScreen)
