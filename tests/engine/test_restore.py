"""Restart: open sessions come back from retained states without repeating alarms."""

from __future__ import annotations

from datetime import timedelta

from drivers.wire import AnsweredCommands, ChairState, DoseGiven
from monitor.engine import Engine, EngineConfig
from tests.engine.helpers import Clinic, events, ready_spravato, result


def restarted(c: Clinic, gap_s: float = 2.0, config: EngineConfig | None = None,
              answers: bool = True) -> Clinic:
    """A new engine that took back ``c``'s retained states and (unless not ``answers``) its
    answered commands, through JSON, as from MQTT."""
    retained = [ChairState.model_validate_json(s.to_json()) for s in c.engine.states(c.now)]
    assert all(b'"answered"' not in s.to_json() for s in retained)  # not in a state
    answered = [AnsweredCommands.model_validate_json(c.engine.answers(s.chair, c.now).to_json())
                for s in retained] if answers else []
    fresh = Clinic(config)
    fresh.now = c.now + timedelta(seconds=gap_s)
    fresh.feed = dict(c.feed)
    fresh._ids = c._ids
    fresh.engine.restore(retained, fresh.now, answered)
    return fresh


def busy_session() -> Clinic:
    c = Clinic()
    c.feed = {"spo2": 97.0}
    c.start(dose_mg=56)
    c.spo2(97)
    c.bp(120, 80)
    c.dose()
    c.goto(minutes=5, step_s=15)
    c.dose()
    c.goto(minutes=20, step_s=15)
    c.bp(185, 100)                      # high, latching
    c.bp(165, 90)                       # still medium tier: the alarm stays high and active
    c.goto(minutes=51, step_s=15)       # the 40-minute check is missed
    c.ack(c.alarm("bp_check_due").alarm_id)
    c.pause(60)
    return c


def test_restore_repeats_no_alarm() -> None:
    c = busy_session()
    before = c.state()
    assert {a.condition for a in before.alarms} == {"bp_high", "bp_rise"}
    fresh = restarted(c)
    out = fresh.tick()
    assert events(out, event="raised") == []
    after = fresh.state()
    assert [a.alarm_id for a in after.alarms] == [a.alarm_id for a in before.alarms]
    assert after.alarms == before.alarms
    assert after.session == before.session
    assert after.bp_checks == before.bp_checks
    assert after.audio_paused_until == before.audio_paused_until
    # time goes on without new alarms for the same conditions
    out = fresh.advance(minutes=5, step_s=15)
    assert events(out, event="raised") == []


def test_alarm_ids_continue_after_restore() -> None:
    c = busy_session()
    used = {e.alarm_id for e in events(c.outputs)}
    fresh = restarted(c)
    fresh.feed = {}
    out = fresh.advance(seconds=40)        # the oximeter goes silent: a new alarm
    raised = events(out, event="raised")
    assert raised
    assert not {e.alarm_id for e in raised} & used


def test_restored_baseline_still_judges_rises() -> None:
    c = busy_session()
    c.ack(c.alarm("bp_rise").alarm_id)
    c.bp(130, 80)
    c.ack(c.alarm("bp_high").alarm_id)
    assert "bp_rise" not in c.conditions()
    fresh = restarted(c)
    session = fresh.state().session
    assert session is not None
    assert (session.baseline_systolic, session.baseline_diastolic) == (120, 80)
    out = fresh.bp(162, 85)
    assert events(out, "bp_rise", "raised")


def test_restored_session_reaches_discharge() -> None:
    c = Clinic()
    ready_spravato(c, until_min=115)
    fresh = restarted(c)
    fresh.goto(minutes=120, step_s=15)
    state = fresh.state()
    assert state.discharge.ready, state.discharge.unmet
    assert result(fresh.discharge()).accepted


def test_restored_acknowledgement_and_escalation_hold() -> None:
    c = busy_session()
    high = c.alarm("bp_high")
    assert high.escalated
    fresh = restarted(c)
    assert fresh.alarm("bp_high").escalated
    out = fresh.advance(minutes=3)
    assert events(out, event="escalated") == []


def test_session_with_unknown_protocol_is_not_restored() -> None:
    c = Clinic()
    c.start(protocol="iv_ketamine")
    base = EngineConfig()
    config = base.model_copy(update={
        "protocols": {"spravato": base.protocols["spravato"]},
        "rules": [r for r in base.rules if r.protocols is None],
    })
    fresh = restarted(c, config=config)
    state = fresh.state()
    assert state.session is None
    # Not idle, though: the chair says a session may be open and unwatched, until acked.
    (alarm,) = state.alarms
    assert alarm.condition == "state_not_recovered" and alarm.priority == "high"
    assert "'iv_ketamine' is no longer configured" in alarm.message
    fresh.ack(alarm.alarm_id)
    assert fresh.state().alarms == []


def test_closed_session_restores_closed() -> None:
    c = Clinic()
    c.start()
    c.end(reason="declined")
    fresh = restarted(c)
    session = fresh.state().session
    assert session is not None and session.phase == "ended"
    assert result(fresh.start(patient="P002")).accepted


def test_restore_of_silent_stream_keeps_no_data_alarm_until_data() -> None:
    c = Clinic()
    c.start(protocol="iv_ketamine")
    c.hr(70)
    c.advance(seconds=31)
    assert c.alarm("no_data") is not None
    fresh = restarted(c)
    assert events(fresh.tick(), "no_data") == []
    out = fresh.hr(72)
    assert events(out, "no_data", "cleared")


def test_restore_needs_no_prior_engine() -> None:
    engine = Engine(EngineConfig())
    engine.restore([], Clinic().now)
    assert engine.states(Clinic().now) == []


def test_retained_device_status_older_than_the_restart_is_taken() -> None:
    c = Clinic()
    c.start(protocol="im_ketamine")
    c.device("connected", device="cuff")
    status_time = c.now
    c.advance(seconds=5)
    fresh = restarted(c, gap_s=60)
    # the broker redelivers the retained status (an old one) and then a newer one
    from drivers.wire import DeviceStatus

    fresh.send(DeviceStatus(chair=fresh.chair, device="cuff", source="t", state="offline",
                            at=status_time))
    assert fresh.state().devices == {"cuff": "offline"}


def test_unrestorable_session_leaves_no_stuck_alarms() -> None:
    c = Clinic()
    c.start(protocol="iv_ketamine")
    c.bp(190, 100)
    assert c.alarm("bp_high") is not None
    base = EngineConfig()
    config = base.model_copy(update={"protocols": {"spravato": base.protocols["spravato"]}})
    fresh = restarted(c, config=config)
    # None of the session's alarms is stuck on screen: only the one saying it is lost.
    assert [a.condition for a in fresh.state().alarms] == ["state_not_recovered"]


def dosed() -> tuple[Clinic, DoseGiven]:
    """A Spravato session three minutes after its one dose, and that dose's command."""
    c = Clinic()
    c.start(dose_mg=56)
    c.bp(120, 80)
    dose = DoseGiven(id="dose-1", at=c.now, by="nurse", detail="nasal device 1")
    c.send(dose)
    c.goto(minutes=3, step_s=15)
    return c, dose


def test_a_command_redelivered_after_a_restart_is_not_applied_twice() -> None:
    c, dose = dosed()
    fresh = restarted(c)
    outputs = fresh.send(dose)  # the broker redelivers the same command after the restart
    answer = result(outputs)
    assert answer.accepted
    assert answer.reasons == ["answered before the engine restarted"]
    state = fresh.engine.states(fresh.now)[0]
    assert state.session is not None and state.session.doses_given == 1
    assert [a.id for a in fresh.engine.answers(c.chair, fresh.now).answered][-1] == "dose-1"


def test_without_its_answers_a_restarted_engine_applies_a_redelivered_command_again() -> None:
    """The retained answers are what protects a redelivery: the state alone does not."""
    c, dose = dosed()
    fresh = restarted(c, answers=False)
    fresh.send(dose)
    state = fresh.engine.states(fresh.now)[0]
    assert state.session is not None and state.session.doses_given == 2
