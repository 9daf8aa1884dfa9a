"""A log of inputs alone: time acts where the engine's deadlines fall, not on a grid, so an
alarm that time alone raises comes back at exactly the moment it was due."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from drivers import topics
from drivers.payloads import PayloadDecoder
from drivers.wire import AlarmEvent, DoseGiven, ManualBp, Reading, StartSession
from monitor.engine import Engine, EngineConfig
from monitor.recording.replay import Replay, prepare
from monitor.recording.wirelog import WireLog, WireRecord

SITE, CHAIR = "site", "c1"
T0 = datetime(2026, 1, 5, 9, 0, 0, 123000, tzinfo=UTC)  # off any half-second grid


def session(hr_until_s: int) -> list[WireRecord]:
    """Start, a pre-dose BP and a dose at once; SpO2 and heart rate every second, the
    heart rate stopping at ``hr_until_s``; nothing else for 50 minutes."""
    out: list[WireRecord] = []

    def command(at: datetime, cmd: Any) -> None:
        out.append(WireRecord(topics.commands(SITE, CHAIR), at, cmd.to_json()))

    def reading(at: datetime, kind: str, unit: str, values: dict[str, float]) -> None:
        r = Reading.model_validate({"chair": CHAIR, "device": kind, "source": "test",
                                    "kind": kind, "measured_at": at, "received_at": at,
                                    "unit": unit, "values": values})
        out.append(WireRecord(topics.reading(SITE, CHAIR, kind), at, r.to_json()))

    command(T0, StartSession(at=T0, by="nurse", patient_code="P1", protocol="spravato",
                             dose_mg=56))
    command(T0, ManualBp(at=T0, by="nurse", systolic=125, diastolic=80))
    command(T0, DoseGiven(at=T0, by="nurse"))
    for s in range(1, 50 * 60):
        at = T0 + timedelta(seconds=s)
        reading(at, "spo2", "%", {"spo2": 97})
        if s <= hr_until_s:
            reading(at, "heart_rate", "/min", {"heart_rate": 72})
    return out


def raised(events: list[Any], condition: str) -> list[AlarmEvent]:
    return [e for e in events if isinstance(e, AlarmEvent) and e.condition == condition
            and e.event in ("raised", "escalated")]


def test_time_alone_raises_each_alarm_at_the_moment_it_was_due() -> None:
    config = EngineConfig()
    replay = Replay(WireLog(session(hr_until_s=600)), config, states=False)
    assert replay.grid  # no recorded engine outputs: time acts at the deadlines
    events = replay.run()

    # The heart rate's last value at 600 s: silent once more than the limit has passed.
    limit = config.no_data_s.heart_rate
    last = T0 + timedelta(seconds=600)
    (no_data,) = raised(events, "no_data")[:1]
    assert no_data.at == last + timedelta(seconds=limit, microseconds=1)
    # Not acknowledged: escalated exactly when its priority's wait is over.
    wait = config.escalation_s.after(no_data.priority)
    assert wait is not None
    (escalated,) = [e for e in raised(events, "no_data") if e.event == "escalated"]
    assert escalated.at == no_data.at + timedelta(seconds=wait)

    # The 40-minute BP check comes due when its window opens, to the microsecond.
    engine = Engine(config)
    engine.handle(CHAIR, StartSession(at=T0, by="nurse", patient_code="P1",
                                      protocol="spravato", dose_mg=56), T0)
    engine.handle(CHAIR, DoseGiven(at=T0, by="nurse"), T0)
    (check,) = [c for c in engine.states(T0)[0].bp_checks if c.name == "40_min"]
    assert check.window_start is not None
    due = [e for e in raised(events, "bp_check_due") if "40_min" in e.message]
    assert due[0].at == check.window_start


def test_a_quiet_stretch_costs_no_ticks() -> None:
    """Ticks happen only where something can change: far fewer than on a half-second grid
    (a value that stays fresh moves its deadline at the next complete judgement)."""
    replay = Replay(WireLog(session(hr_until_s=600)), EngineConfig(), states=False)
    ticks: list[datetime] = []
    tick = replay.engine.tick

    def counted(now: datetime) -> list[Any]:
        ticks.append(now)
        return tick(now)

    replay.engine.tick = counted  # type: ignore[method-assign]
    replay.advance(replay.end)
    grid = (replay.end - replay.start).total_seconds() * 2
    assert 0 < len(ticks) < grid / 40  # a stream refreshed every second: one in 20 s
    assert ticks == sorted(ticks)


def test_decoding_pauses_the_collector_and_leaves_it_as_it_was(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The cyclic collector is off while a recording is decoded, and afterwards as it was:
    on again after decoding (also after a failure), still off where the caller had
    turned it off."""
    records = session(hr_until_s=5)[:20]
    seen: list[bool] = []
    decode = PayloadDecoder.decode

    def watched(self: PayloadDecoder, *args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return decode(self, *args, **kwargs)

    monkeypatch.setattr(PayloadDecoder, "decode", watched)
    assert gc.isenabled()
    prepared = prepare(WireLog(list(records)))
    assert seen and not any(seen)
    assert len(prepared.steps) == len(records)
    assert gc.isenabled()

    def failing(self: PayloadDecoder, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("decoder failed")

    monkeypatch.setattr(PayloadDecoder, "decode", failing)
    with pytest.raises(RuntimeError):
        prepare(WireLog(list(records)))
    assert gc.isenabled()

    monkeypatch.setattr(PayloadDecoder, "decode", watched)
    gc.disable()
    try:
        prepare(WireLog(list(records)))
        assert not gc.isenabled()
    finally:
        gc.enable()
