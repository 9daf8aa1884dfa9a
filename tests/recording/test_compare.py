"""Comparing a replay with a recording: the same alarm events, at times one second of wall
time apart at most, which on a simulated clock is ``clock_rate`` times more clock time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from drivers import topics
from drivers.clock import FakeClock
from drivers.mqtt_settings import MqttSettings
from drivers.wire import AlarmEvent
from monitor.engine import EngineConfig, Output
from monitor.engine_service import EngineService
from monitor.recording.replay import compare

T0 = datetime(2026, 1, 5, 9, 40, tzinfo=UTC)


def event(at: datetime, *, rate: float = 1.0, name: str = "raised") -> AlarmEvent:
    return AlarmEvent(alarm_id="a", chair="chair-1", condition="spo2_missing", kind="technical",
                      priority="medium", event=name, at=at, message="m", clock_rate=rate)


def test_live_clock_allows_one_second() -> None:
    recorded = [event(T0)]
    assert compare(recorded, [event(T0 + timedelta(seconds=0.9))]).same
    difference = compare(recorded, [event(T0 + timedelta(seconds=2.4))])
    assert [e.at for e in difference.only_recorded] == [T0]
    assert [e.at for e in difference.only_replayed] == [T0 + timedelta(seconds=2.4)]


def test_fast_clock_allows_one_wall_second_of_its_time() -> None:
    recorded = [event(T0, rate=150.0)]
    assert compare(recorded, [event(T0 - timedelta(seconds=2.4))]).same
    assert compare(recorded, [event(T0 + timedelta(seconds=149))]).same
    assert not compare(recorded, [event(T0 + timedelta(seconds=151))]).same


def test_events_are_matched_one_to_one() -> None:
    recorded = [event(T0, rate=60.0), event(T0 + timedelta(seconds=10), rate=60.0)]
    assert not compare(recorded, [event(T0)]).same
    assert not compare(recorded, [event(T0, name="cleared"), event(T0)]).same


def alarm(at: datetime, name: str, *, kind: str = "technical", alarm_id: str = "b",
          rate: float = 150.0) -> AlarmEvent:
    return AlarmEvent(alarm_id=alarm_id, chair="chair-1", condition="no_data", kind=kind,
                      priority="medium", event=name, at=at, message="m", clock_rate=rate)


def test_a_technical_alarm_one_run_raised_and_cleared_within_the_tolerance_is_brief() -> None:
    recorded = [event(T0, rate=150.0)]
    blip = [alarm(T0 + timedelta(minutes=5), "raised"),
            alarm(T0 + timedelta(minutes=5, seconds=5), "cleared")]
    difference = compare(recorded, [event(T0, rate=150.0), *blip])
    assert difference.same
    assert difference.brief == blip
    # the same from the other side: only the recording had it
    assert compare([event(T0, rate=150.0), *blip], recorded).brief == blip


def test_a_replayed_blip_takes_the_recorded_clock_rate() -> None:
    # a replay's own events carry its clock's rate (1): the recording says how fast it ran
    recorded = [event(T0, rate=60.0)]
    blip = [alarm(T0 + timedelta(seconds=30), "raised", rate=1.0),
            alarm(T0 + timedelta(seconds=85), "cleared", rate=1.0)]
    assert compare(recorded, [event(T0, rate=60.0), *blip]).brief == blip
    assert compare([event(T0, rate=1.0)], [event(T0), *blip]).brief == []


def test_a_clinical_or_longer_or_unfinished_alarm_is_never_brief() -> None:
    start = T0 + timedelta(minutes=5)
    clinical = [alarm(start, "raised", kind="physiological"),
                alarm(start + timedelta(seconds=5), "cleared", kind="physiological")]
    longer = [alarm(start, "raised"), alarm(start + timedelta(seconds=151), "cleared")]
    unfinished = [alarm(start, "raised")]
    for only_one_run in (clinical, longer, unfinished):
        difference = compare([], only_one_run)
        assert not difference.same
        assert difference.brief == []
        assert difference.only_replayed == only_one_run


def raw(payload: dict[str, object]) -> bytes:
    return json.dumps({"v": 1, **payload}).encode()


def alarms_on(clock: FakeClock) -> list[AlarmEvent]:
    site, chair = "clinic", "chair-1"
    outputs: list[Output] = []
    service = EngineService(MqttSettings(), site, EngineConfig(), clock, on_output=outputs.append)
    at = clock.now().isoformat()
    commands = topics.commands(site, chair)
    service.process(commands, raw({"id": "c1", "type": "start_session", "at": at, "by": "n",
                                   "patient_code": "P-1", "protocol": "spravato"}), clock.now())
    service.process(commands, raw({"id": "c2", "type": "dose_given", "at": at, "by": "n"}),
                    clock.now())
    service.process(topics.reading(site, chair, "blood_pressure"), raw({
        "id": "r1", "chair": chair, "device": "cuff", "source": "ble-2a35",
        "kind": "blood_pressure", "measured_at": at, "received_at": at,
        "values": {"systolic": 186, "diastolic": 90}, "unit": "mm[Hg]"}), clock.now())
    return [o for o in outputs if isinstance(o, AlarmEvent)]


def test_engine_service_says_how_fast_its_clock_ran() -> None:
    live = alarms_on(FakeClock(T0))
    assert any(e.condition == "bp_high" for e in live)
    assert {e.clock_rate for e in live} == {1.0}
    fast = alarms_on(FakeClock(T0, speed=60.0))
    assert any(e.condition == "bp_high" for e in fast)
    assert {e.clock_rate for e in fast} == {60.0}
    assert AlarmEvent.model_validate_json(fast[0].to_json()).clock_rate == 60.0

