"""The wire contract: what the models accept, refuse and emit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from drivers.wire import (
    COMMAND_ADAPTER,
    AlarmEvent,
    ChairState,
    ManualBp,
    Reading,
    json_schemas,
)

T = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def reading(**over: object) -> Reading:
    base: dict[str, object] = dict(
        chair="chair-1", device="cuff", source="ble-2a35", kind="blood_pressure",
        measured_at=T, received_at=T, values={"systolic": 120, "diastolic": 80, "mean": 93},
        unit="mm[Hg]",
    )
    base.update(over)
    return Reading.model_validate(base)


def test_reading_json_has_version_and_millisecond_utc_times() -> None:
    local = datetime(2026, 1, 5, 10, 0, 0, 123000, tzinfo=timezone(timedelta(hours=1)))
    data = json.loads(reading(measured_at=local).to_json())
    assert data["v"] == 1
    assert data["measured_at"] == "2026-01-05T09:00:00.123Z"
    assert data["quality"] == "valid"
    assert "seq" not in data  # None fields are left out


def test_reading_round_trips_through_json() -> None:
    r = reading(flags=["irregular_pulse"], quality="questionable", seq=3)
    assert Reading.model_validate_json(r.to_json()) == r


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"values": {"systolic": 401}}, "values.systolic=401"),
        ({"values": {"systolic": -1}}, "out of range"),
        ({"unit": "kPa", "values": {"systolic": 60.0}}, "out of range"),
        ({"kind": "spo2", "unit": "%", "values": {"spo2": 101}}, "values.spo2=101"),
        ({"kind": "spo2", "unit": "%", "values": {"heart_rate": 60}}, "not a field of spo2"),
        ({"unit": "%"}, "unit '%' is not allowed"),
        ({"values": {}}, "no values must have quality 'invalid'"),
        ({"measured_at": "2026-01-05T09:00:00"}, "UTC offset"),
        ({"flags": ["Bad Flag"]}, "pattern"),
        ({"kind": "heart_rate", "unit": "/min", "values": {"rr_intervals": [70.0]}}, "rr_intervals"),
    ],
)
def test_reading_refuses_impossible_values_with_the_field_named(
    over: dict[str, object], needle: str
) -> None:
    with pytest.raises(ValidationError) as info:
        reading(**over)
    assert needle in str(info.value)


def test_kpa_pressure_converts_to_mmhg() -> None:
    r = reading(unit="kPa", values={"systolic": 18.9, "diastolic": 11.0})
    assert r.in_mmhg("systolic") == pytest.approx(141.76, abs=0.01)
    assert r.in_mmhg("mean") is None


def test_invalid_reading_may_carry_no_values() -> None:
    r = reading(kind="spo2", unit="%", values={}, quality="invalid", flags=["sensor_off"])
    assert r.values == {}


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    data = json.loads(reading().to_json())
    data["added_in_v1_1"] = "x"
    assert Reading.model_validate(data).chair == "chair-1"


def test_commands_are_a_discriminated_union() -> None:
    cmd = COMMAND_ADAPTER.validate_json(
        b'{"v":1,"type":"manual_bp","at":"2026-01-05T09:00:00.000Z","by":"nurse",'
        b'"systolic":150,"diastolic":95}'
    )
    assert isinstance(cmd, ManualBp)
    assert cmd.id  # an idempotency key is generated when the sender gives none


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({"type": "launch_rocket"}, "does not match any of the expected tags"),
        ({"type": "manual_bp", "systolic": 80, "diastolic": 90}, "below systolic"),
        ({"type": "start_session", "patient_code": "Jane Doe", "protocol": "spravato"}, "pattern"),
        ({"type": "pause_audio", "seconds": 3600}, "less than or equal to 600"),
        ({"type": "ack_alarm"}, "alarm_id"),
    ],
)
def test_bad_commands_are_refused(payload: dict[str, object], needle: str) -> None:
    base = {"v": 1, "at": "2026-01-05T09:00:00.000Z", "by": "nurse"}
    with pytest.raises(ValidationError) as info:
        COMMAND_ADAPTER.validate_python({**base, **payload})
    assert needle in str(info.value)


def test_wrong_version_is_refused() -> None:
    data = json.loads(reading().to_json())
    data["v"] = 2
    with pytest.raises(ValidationError):
        Reading.model_validate(data)


def test_highest_alarm_prefers_priority_then_age() -> None:
    from drivers.wire import ActiveAlarm

    def alarm(aid: str, priority: str, minutes: int) -> ActiveAlarm:
        return ActiveAlarm.model_validate(dict(
            alarm_id=aid, condition="c", kind="physiological", priority=priority,
            message="m", raised_at=T + timedelta(minutes=minutes), active=True))

    state = ChairState(chair="chair-1", at=T, alarms=[
        alarm("a", "medium", 0), alarm("b", "high", 5), alarm("c", "high", 2)])
    top = state.highest_alarm()
    assert top is not None and top.alarm_id == "c"
    assert ChairState(chair="chair-1", at=T).highest_alarm() is None


def test_alarm_event_names_parameter_value_and_limit() -> None:
    event = AlarmEvent(alarm_id="chair-1:bp_high:1", chair="chair-1", condition="bp_high",
                       kind="physiological", priority="high", event="raised", at=T,
                       message="SYS 186 >= 180 mmHg")
    assert json.loads(event.to_json())["message"] == "SYS 186 >= 180 mmHg"


def test_json_schema_covers_every_payload() -> None:
    schemas = json_schemas()
    assert set(schemas) >= {"Reading", "DeviceStatus", "Command", "ChairState", "AlarmEvent",
                            "EngineStatus"}
    assert "measured_at" in schemas["Reading"]["properties"]
    assert "manual_bp" in json.dumps(schemas["Command"])
