"""Discharge readiness: each condition alone keeps a session from being ready."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from drivers.wire import Aldrete
from monitor.engine import EngineConfig
from monitor.engine.config import DischargeCriteria
from tests.engine.helpers import Clinic, events, ready_spravato, result, states


def test_ready_exactly_at_120_minutes_not_a_second_before() -> None:
    c = Clinic()
    ready_spravato(c)
    c.goto(minutes=119, seconds=59)
    state = c.state()
    assert not state.discharge.ready
    assert state.session is not None and state.session.phase == "observation"
    (unmet,) = state.discharge.unmet
    assert unmet.condition == "observation_time"
    assert unmet.met_in_s == 1.0
    assert not result(c.discharge()).accepted
    out = c.goto(minutes=120)
    # the tick that crosses 120:00 publishes the change at once
    assert states(out)[-1].discharge.ready
    state = c.state()
    assert state.discharge.ready
    assert state.discharge.unmet == []
    assert state.session is not None and state.session.phase == "ready"
    assert state.observation is not None and state.observation.elapsed_s == 7200


def test_discharge_when_ready_records_who_and_when() -> None:
    c = Clinic()
    ready_spravato(c)
    c.goto(minutes=120)
    out = c.discharge(by="nurse:ann")
    assert result(out).accepted
    session = states(out)[-1].session
    assert session is not None
    assert session.phase == "discharged"
    assert session.discharged_at == c.at(120)
    assert session.discharged_by == "nurse:ann"
    assert session.override_reason is None
    assert session.overridden == []
    # the chair is closed: commands other than a new start are refused
    assert not result(c.assess()).accepted
    assert not result(c.discharge()).accepted


Spoiler = Callable[[Clinic], None]


def _sedated(c: Clinic) -> None:
    c.assess(sedation="present")


def _dissociated(c: Clinic) -> None:
    c.assess(dissociation="present")


def _breathing(c: Clinic) -> None:
    c.assess(respiration="depressed")


def _aldrete_low(c: Clinic) -> None:
    c.assess(aldrete=Aldrete(activity=2, respiration=2, circulation=1, consciousness=1,
                             spo2=2))


def _bp_high(c: Clinic) -> None:
    c.bp(160, 90)


def _dia_high(c: Clinic) -> None:
    c.bp(150, 100)


def _alarm_latched(c: Clinic) -> None:
    c.bp(185, 95)   # high, latching
    c.bp(130, 80)   # condition over, still latched until acknowledged


def _spo2_missing(c: Clinic) -> None:
    c.feed = {}
    c.goto(minutes=119, seconds=50)


@pytest.mark.parametrize(
    ("spoil", "condition", "reason"),
    [
        (_sedated, "assessment", "sedation has not resolved"),
        (_dissociated, "assessment", "dissociation has not resolved"),
        (_breathing, "assessment", "breathing is not normal"),
        (_aldrete_low, "aldrete", "modified Aldrete 8 < 9"),
        (_bp_high, "bp_limits", "latest BP 160/90 mmHg"),
        (_dia_high, "bp_limits", "latest BP 150/100 mmHg"),
        (_alarm_latched, "alarm", "high alarm bp_high: SYS 185 >= 180 mmHg (not acknowledged)"),
        (_spo2_missing, "alarm", "medium alarm spo2_missing"),
    ],
)
def test_each_condition_blocks(spoil: Spoiler, condition: str, reason: str) -> None:
    c = Clinic()
    ready_spravato(c, until_min=115)
    spoil(c)
    c.goto(minutes=120, step_s=15)
    state = c.state()
    assert not state.discharge.ready
    matching = [u for u in state.discharge.unmet if u.condition == condition]
    assert matching, state.discharge.unmet
    assert any(reason in u.reason for u in matching), matching
    assert all(u.met_in_s is None for u in matching)
    refused = result(c.discharge())
    assert not refused.accepted
    assert any(reason in r for r in refused.reasons)


def test_aldrete_at_pass_mark_is_enough() -> None:
    c = Clinic()
    ready_spravato(c, until_min=115)
    c.assess(aldrete=Aldrete(activity=2, respiration=2, circulation=2, consciousness=1, spo2=2))
    c.goto(minutes=120)
    assert c.state().discharge.ready


def test_bp_just_below_limits_is_enough() -> None:
    c = Clinic()
    ready_spravato(c, until_min=115)
    c.bp(159, 99)
    c.goto(minutes=120)
    assert c.state().discharge.ready


def test_aldrete_required_when_configured() -> None:
    base = EngineConfig()
    spravato = base.protocols["spravato"].model_copy(
        update={"discharge": DischargeCriteria(aldrete_required=True)})
    config = base.model_copy(update={"protocols": {**base.protocols, "spravato": spravato}})
    c = Clinic(config)
    ready_spravato(c)
    c.goto(minutes=120)
    assert "aldrete" in c.unmet()


def test_acknowledged_latched_alarm_no_longer_blocks() -> None:
    c = Clinic()
    ready_spravato(c, until_min=115)
    _alarm_latched(c)
    alarm = c.alarm("bp_high")
    out = c.ack(alarm.alarm_id)
    assert [e.event for e in events(out, "bp_high")] == ["acknowledged", "cleared"]
    c.goto(minutes=120)
    assert c.state().discharge.ready


def test_stale_assessment_and_stale_bp() -> None:
    c = Clinic()
    ready_spravato(c, until_min=115)
    c.goto(minutes=141, step_s=10)   # assessment at 110 and BP at 110 are now > 30 min old
    reasons = {u.condition: u.reason for u in c.state().discharge.unmet}
    assert "older than 30 min" in reasons["assessment"]
    assert "older than 30 min" in reasons["bp_recent"]


def test_no_assessment_no_bp() -> None:
    c = Clinic()
    c.feed = {"spo2": 97.0}
    c.start()
    c.dose()
    c.goto(minutes=121, step_s=10)
    unmet = {u.condition for u in c.state().discharge.unmet}
    assert {"assessment", "bp_recent", "bp_check"} <= unmet
    reasons = [u.reason for u in c.state().discharge.unmet if u.condition == "bp_check"]
    assert any("pre_dose missed" in r for r in reasons)
    assert any("40_min missed" in r for r in reasons)
    assert any("pre_discharge due" in r for r in reasons)


def test_dosing_not_complete_blocks() -> None:
    c = Clinic()
    ready_spravato(c, devices=1)
    # the dose was 28 mg; recording the session as 56 mg would need a second device
    c2 = Clinic()
    c2.feed = {"spo2": 97.0}
    c2.start(dose_mg=56)
    c2.bp(120, 80)
    c2.dose()
    c2.goto(minutes=1)
    assert "dose" in c2.unmet()
    assert any("1 of 2 nasal devices" in u.reason for u in c2.state().discharge.unmet)


def test_met_in_s_counts_down_the_observation() -> None:
    c = Clinic()
    ready_spravato(c, until_min=115)
    (unmet,) = [u for u in c.state().discharge.unmet if u.condition == "observation_time"]
    assert unmet.met_in_s == 5 * 60


def test_override_by_physician_is_recorded() -> None:
    c = Clinic()
    c.feed = {"spo2": 97.0}
    c.start()
    c.bp(128, 80)
    c.dose()
    c.goto(minutes=60, step_s=10)
    refused = result(c.discharge(by="nurse", override_reason="patient must leave"))
    assert not refused.accepted
    assert any("may not override" in r for r in refused.reasons)
    out = c.discharge(by="physician:dr-lee", override_reason="stable, escorted home")
    assert result(out).accepted
    session = states(out)[-1].session
    assert session is not None
    assert session.phase == "discharged"
    assert session.override_reason == "stable, escorted home"
    assert session.discharged_by == "physician:dr-lee"
    assert any("minimum observation" in u for u in session.overridden)


def test_override_needs_a_reason() -> None:
    c = Clinic()
    c.start()
    c.bp(128, 80)
    c.dose()
    refused = result(c.discharge(by="physician"))
    assert not refused.accepted
    assert any("minimum observation" in r for r in refused.reasons)


def test_discharge_before_any_dose_is_refused() -> None:
    c = Clinic()
    c.start()
    refused = result(c.discharge(by="physician", override_reason="did not dose"))
    assert not refused.accepted
    assert "use end_session" in refused.reasons[0]


def test_discharge_clears_alarms() -> None:
    c = Clinic()
    c.start()
    c.bp(128, 80)
    c.dose()
    c.bp(190, 100)
    out = c.discharge(by="physician", override_reason="transferred to emergency department")
    assert result(out).accepted
    assert events(out, "bp_high", "cleared")
    assert states(out)[-1].alarms == []


def test_states_of_idle_and_closed_chairs_are_not_ready() -> None:
    c = Clinic()
    c.engine.ensure_chair(c.chair)
    assert c.state().discharge.unmet[0].reason == "no session"
    c.start()
    c.end()
    assert c.state().discharge.unmet[0].reason == "the session is ended"
