"""A recording keeps the chair states that say something new, and what it leaves out a
replay regenerates: the same alarms at the same moments with the same ids, the same report,
and an export that starts from the state the engine had before the session."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from drivers import topics
from drivers.wire import AlarmEvent, ChairState, CommandResult, Reading, SessionInfo
from monitor.engine import EngineConfig
from monitor.recording import report
from monitor.recording.export import session_records
from monitor.recording.replay import Replay, alarm_events, compare, prepare, with_engine_outputs
from monitor.recording.thinning import STATE_EVERY, StateThinning, thin
from monitor.recording.wirelog import WireLog, WireRecord
from tests.recording.offline import record_offline, spravato_recording
from tests.recording.scenario import CHAIR, SITE, START, at, spravato_inputs


def state(seconds: float, **kw: object) -> ChairState:
    return ChairState(chair=CHAIR, at=START + timedelta(seconds=seconds), **kw)  # type: ignore[arg-type]


def test_a_state_is_kept_with_the_one_before_it_when_it_says_something_new() -> None:
    thinning: StateThinning[str] = StateThinning()
    session = SessionInfo(patient_code="P-1", protocol="spravato", phase="dosing",
                          started_at=START)
    taken = [thinning.take(CHAIR, s, name, s.at) for name, s in [
        ("first", state(0)), ("same", state(1)), ("same again", state(2)),
        ("started", state(3, session=session)), ("still started", state(4, session=session)),
    ]]
    assert taken == [["first"], [], [], ["same again", "started"], []]
    assert thinning.dropped == 1  # "same"; "still started" is held for the next change
    # Another chair is followed on its own.
    assert thinning.take("chair-2", state(5).model_copy(update={"chair": "chair-2"}),
                         "other", START) == ["other"]


def test_a_quiet_chair_still_has_a_state_every_few_minutes() -> None:
    thinning: StateThinning[float] = StateThinning()
    every = STATE_EVERY.total_seconds()
    kept = [t for t in range(0, int(3 * every) + 1, 15)
            for _ in thinning.take(CHAIR, state(t), float(t), START + timedelta(seconds=t))]
    assert kept == [0, every, 2 * every, 3 * every]


def test_thinned_recording_replays_to_the_same_outputs_and_report() -> None:
    full = list(spravato_recording())
    kept = list(thin(full))
    states = [r for r in full if r.topic.endswith("/state")]
    kept_states = [r for r in kept if r.topic.endswith("/state")]
    assert len(kept_states) < len(states) / 10
    # Everything but states is kept, in order.
    assert [r for r in kept if not r.topic.endswith("/state")] == [
        r for r in full if not r.topic.endswith("/state")]
    config = EngineConfig()
    assert (Replay(WireLog(list(kept)), config, states=False).run()
            == Replay(WireLog(list(full)), config, states=False).run())
    recorded = prepare(WireLog(list(kept)))
    assert recorded.recorded_alarms and recorded.recorded_results
    replayed = Replay(recorded, config, states=False).run()
    assert compare(recorded.recorded_alarms, alarm_events(replayed)).same
    assert [o for o in replayed if isinstance(o, AlarmEvent | CommandResult)] == [
        o for o in replayed]
    # The report, which rebuilds the states it reads, says the same from either.
    assert (report.build(WireLog(list(kept)), config).data
            == report.build(WireLog(list(full)), config).data)


def test_the_recorder_keeps_few_states_and_the_export_starts_where_the_engine_stood(
        tmp_path: Path) -> None:
    # Idle readings before the session, so the state before the start is one of many alike.
    before = [r for r in spravato_inputs() if r.topic.endswith("/heart_rate")][:6]
    lead = [WireRecord(r.topic, r.received_at - timedelta(minutes=5), r.payload.replace(
        b'"chest-', b'"early-')) for r in before]
    store = record_offline(tmp_path / "rec.db", [*lead, *spravato_inputs()])
    stored = list(store.messages())
    assert 0 < sum(m.type == "state" for m in stored) < 60
    (session,) = store.sessions()
    records = session_records(store, session)
    first = ChairState.model_validate_json(records[0].payload)
    assert records[0].topic == topics.state(SITE, CHAIR)
    last = Reading.model_validate_json(lead[-1].payload)
    assert first.session is None and first.at == lead[-1].received_at
    assert first.latest["heart_rate"].reading_id == last.id
    assert session.started_at == at(9, 0)
    recorded = prepare(WireLog(records))
    replayed = Replay(recorded, EngineConfig(), states=False).run()
    assert compare(recorded.recorded_alarms, alarm_events(replayed)).same


def test_under_other_limits_time_acts_where_the_alarms_are_due() -> None:
    # SpO2 stops for ten minutes, while heart rate goes on every 10 s: under a silence limit
    # of 25 s the recording shows no moment at which the live engine raised that alarm.
    inputs = spravato_inputs(spo2_gap=(at(9, 20), at(9, 30)))
    kept = list(thin(with_engine_outputs(inputs, EngineConfig(), SITE)))
    base = EngineConfig()
    other = base.model_copy(update={"no_data_s": base.no_data_s.model_copy(
        update={"spo2": 25.0})})
    due = alarm_events(Replay(WireLog(list(inputs)), other, states=False).run())
    silent = [e for e in due if e.condition == "spo2_missing" and e.event == "raised"]
    assert silent and timedelta(0) < silent[0].at - at(9, 20, 15) < timedelta(milliseconds=1)
    assert alarm_events(Replay(WireLog(list(kept)), other, states=False, grid="both").run()) == due
    late = alarm_events(Replay(WireLog(list(kept)), other, states=False).run())
    assert next(e for e in late if e.condition == "spo2_missing").at > silent[0].at
