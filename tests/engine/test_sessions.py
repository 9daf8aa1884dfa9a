"""Sessions driven by commands: start, dose, discharge, end; every command answered."""

from __future__ import annotations

from datetime import timedelta

import pytest

from drivers.wire import ChairState
from monitor.engine import Engine, EngineConfig
from tests.engine.helpers import T0, Clinic, events, result, states


def test_unknown_chair_becomes_known_and_idle() -> None:
    engine = Engine(EngineConfig())
    engine.ensure_chair("chair-9")
    (state,) = engine.states(T0)
    assert state.chair == "chair-9"
    assert state.session is None
    assert not state.discharge.ready


def test_start_session_records_patient_protocol_dose() -> None:
    c = Clinic()
    out = c.start(dose_mg=84, lot="L123", concomitant=["benzodiazepine"])
    assert result(out).accepted
    (state,) = states(out)
    assert state.session is not None
    assert state.session.phase == "pre_dose"
    assert state.session.patient_code == "P001"
    assert state.session.protocol == "spravato"
    assert state.session.dose_mg == 84
    assert state.session.lot == "L123"
    assert state.session.concomitant == ["benzodiazepine"]
    assert state.session.doses_expected == 3
    assert state.observation is None


@pytest.mark.parametrize(
    ("first", "second", "accepted"),
    [
        ({"protocol": "spravato"}, {"protocol": "spravato"}, False),
        ({"protocol": "nope"}, None, None),
    ],
)
def test_start_refusals(first: dict[str, str], second: dict[str, str] | None,
                        accepted: bool | None) -> None:
    c = Clinic()
    out = c.start(**first)
    if second is None:
        r = result(out)
        assert not r.accepted
        assert "unknown protocol 'nope'" in r.reasons[0]
        return
    out = c.start(patient="P002", **second)
    r = result(out)
    assert r.accepted is accepted
    assert "already has an open session" in r.reasons[0]


def test_too_many_devices_refused() -> None:
    c = Clinic()
    r = result(c.start(dose_mg=112))
    assert not r.accepted
    assert "4 nasal devices" in r.reasons[0]


def test_first_dose_starts_observation_clock() -> None:
    c = Clinic()
    c.start(dose_mg=56)
    c.bp(120, 80)
    c.goto(minutes=2)
    out = c.dose()
    assert result(out).accepted
    state = states(out)[0]
    assert state.session is not None
    assert state.session.phase == "dosing"
    assert state.session.first_dose_at == c.at(2)
    assert state.observation is not None
    assert state.observation.started_at == c.at(2)
    assert state.observation.minimum_s == 7200
    assert state.observation.earliest_discharge_at == c.at(122)
    c.goto(minutes=7)
    out = c.dose()
    state = states(out)[0]
    assert state.session is not None
    assert state.session.phase == "observation"
    assert state.session.doses_given == 2
    # the clock still runs from the first device
    assert state.observation is not None
    assert state.observation.started_at == c.at(2)
    assert state.observation.elapsed_s == 300


def test_commands_need_an_open_session() -> None:
    c = Clinic()
    for send in (c.dose, c.infusion_end, c.assess, c.discharge, c.end):
        r = result(send())
        assert not r.accepted
        assert "needs an open session" in r.reasons[0]
    r = result(c.manual_bp(120, 80))
    assert not r.accepted


def test_same_command_id_twice_is_applied_once() -> None:
    c = Clinic()
    c.start(dose_mg=84)
    c.bp(120, 80)
    first = c.dose(id="dose-1")
    c.advance(minutes=6)
    again = c.dose(id="dose-1")
    assert again == [result(first)]
    session = c.state().session
    assert session is not None
    assert session.doses_given == 1


def test_latest_reading_per_kind_with_age() -> None:
    c = Clinic()
    c.spo2(97)
    c.hr(72)
    c.advance(seconds=30)
    state = c.state()
    assert set(state.latest) == {"spo2", "heart_rate"}
    assert state.latest["spo2"].values == {"spo2": 97}
    assert state.latest["spo2"].age_s == 30
    assert state.latest["heart_rate"].device == "ecg"


def test_duplicate_reading_is_ignored() -> None:
    c = Clinic()
    r = c.reading("spo2", {"spo2": 97}, rid="same")
    assert c.send(r)
    assert c.send(r) == []


def test_discharge_refused_before_readiness_with_reasons() -> None:
    c = Clinic()
    c.start(dose_mg=56)
    c.bp(120, 80)
    c.dose()
    c.goto(minutes=30, step_s=60)
    r = result(c.discharge())
    assert not r.accepted
    assert any("minimum observation of 120 min" in reason for reason in r.reasons)
    assert c.state().session.phase == "dosing"  # type: ignore[union-attr]


def test_end_session_closes_and_clears_alarms() -> None:
    c = Clinic()
    c.start()
    c.bp(190, 100)
    assert c.alarm("bp_high") is not None
    out = c.end(reason="patient declined")
    assert result(out).accepted
    assert events(out, "bp_high", "cleared")
    state = states(out)[-1]
    assert state.session is not None
    assert state.session.phase == "ended"
    assert state.session.end_reason == "patient declined"
    assert state.alarms == []
    # a new session may start now
    assert result(c.start(patient="P002")).accepted


def test_every_output_state_is_complete_and_json_round_trips() -> None:
    c = Clinic()
    c.start()
    out = c.bp(150, 85)
    state = states(out)[-1]
    again = ChairState.model_validate_json(state.to_json())
    assert again == state
    assert state.at == T0 + timedelta()
