"""A session recorded from a real broker, exported and replayed headless, gives the alarm
events that were published live, at the same times and with the same ids."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from drivers.wire import AlarmEvent
from monitor.recording import export, wirelog
from monitor.recording.replay import Replay, alarm_events, compare
from tests.brokers import Broker
from tests.integration.helpers import unique_site
from tests.recording.live import run_session
from tests.recording.scenario import short_config

pytestmark = pytest.mark.broker


async def test_recorded_session_replays_the_live_alarms(broker: Broker, tmp_path: Path) -> None:
    config = short_config()
    outputs, store = await run_session(broker.settings, unique_site(), tmp_path / "rec.db", config)
    live = [o for o in outputs if isinstance(o, AlarmEvent)]
    conditions = {(e.condition, e.event) for e in live}
    # The scenario raises alarms from readings, from time alone, and from the nurse.
    assert ("bp_high", "raised") in conditions
    assert ("bp_high", "escalated") in conditions
    assert ("bp_high", "acknowledged") in conditions
    assert ("spo2_low", "raised") in conditions
    assert ("no_data", "raised") in conditions

    sessions = store.sessions()
    assert len(sessions) == 1
    session = sessions[0]
    assert session.patient_code == "P-0042" and session.protocol == "short"
    assert session.end_kind == "discharged", session
    highest: dict[str, str] = {}
    for e in live:
        if e.event in ("raised", "escalated") and (
                e.alarm_id not in highest or e.priority == "high"):
            highest[e.alarm_id] = e.priority
    assert session.alarm_counts() == {p: list(highest.values()).count(p)
                                      for p in ("high", "medium", "low")}

    # What went over the wire is what the engine said.
    recorded = [AlarmEvent.model_validate_json(m.payload)
                for m in store.messages(types=["alarm"])]
    assert compare(live, recorded).same

    out = io.StringIO()
    wirelog.write(export.session_records(store, session), out)
    log = wirelog.read_lines(out.getvalue().splitlines(), "session.jsonl")
    assert not log.bad
    replayed = alarm_events(Replay(log, config).run())
    difference = compare(live, replayed)
    assert difference.same, difference
    assert [(e.alarm_id, e.id, e.at) for e in live] == [(e.alarm_id, e.id, e.at) for e in replayed]
    store.close()


async def test_inputs_only_log_replays_where_time_acts(broker: Broker, tmp_path: Path) -> None:
    """A wire log of readings and commands alone is enough: time acts where the engine's
    deadlines fall, so each alarm comes back at the moment it was due, never after the live
    one and at most one live tick (here a second) before it."""
    config = short_config()
    outputs, store = await run_session(broker.settings, unique_site(), tmp_path / "rec.db", config)
    live = [o for o in outputs if isinstance(o, AlarmEvent)]
    inputs = [r for r in export.session_records(store, store.sessions()[0])
              if "/readings/" in r.topic or r.topic.endswith(("/commands", "/status"))]
    replay = Replay(wirelog.WireLog(inputs), config)
    assert replay.grid
    replayed = alarm_events(replay.run())
    assert [(e.id, e.event) for e in replayed] == [(e.id, e.event) for e in live]
    for a, b in zip(live, replayed, strict=True):
        assert 0 <= (a.at - b.at).total_seconds() <= 1.0, (a, b)
    store.close()
