"""Sessions from the recording, whatever order the engine's messages arrive in."""

from __future__ import annotations

from datetime import timedelta

from drivers.wire import (
    AlarmEvent,
    ChairState,
    CommandResult,
    Discharge,
    SessionInfo,
    StartSession,
)
from monitor.recording.sessions import SessionTracker
from tests.recording.scenario import START

CHAIR = "chair-1"


def s(seconds: float) -> object:
    return START + timedelta(seconds=seconds)


def start_cmd(at: object, code: str = "P-1") -> StartSession:
    return StartSession(at=at, by="nurse", patient_code=code, protocol="spravato", dose_mg=56)  # type: ignore[arg-type]


def answer(cmd: StartSession | Discharge, at: object, accepted: bool = True) -> CommandResult:
    return CommandResult(id=cmd.id, chair=CHAIR, type=cmd.type, accepted=accepted, at=at)  # type: ignore[arg-type]


def state(at: object, started: object, phase: str = "observation", **kw: object) -> ChairState:
    info = SessionInfo(patient_code="P-1", protocol="spravato", phase=phase,  # type: ignore[arg-type]
                       started_at=started, **kw)  # type: ignore[arg-type]
    return ChairState(chair=CHAIR, at=at, session=info)  # type: ignore[arg-type]


def alarm(n: int, at: object, priority: str = "high", event: str = "raised") -> AlarmEvent:
    return AlarmEvent(id=f"{CHAIR}:x:{n}:{event}", alarm_id=f"{CHAIR}:x:{n}", chair=CHAIR,
                      condition="x", kind="physiological", priority=priority, event=event,  # type: ignore[arg-type]
                      at=at, message="x")  # type: ignore[arg-type]


def feed(messages: list[tuple[float, object]]) -> SessionTracker:
    tracker = SessionTracker()
    saved = {}
    for seconds, payload in messages:
        for row in tracker.observe(CHAIR, payload, s(seconds)):  # type: ignore[arg-type]
            saved[row.id] = row
    tracker.saved = saved  # type: ignore[attr-defined]
    return tracker


def test_in_order() -> None:
    start, discharge = start_cmd(s(0)), Discharge(at=s(7200), by="nurse")
    t = feed([(0, start), (0.1, answer(start, s(0))), (60, alarm(1, s(60))),
              (61, alarm(1, s(61), "high", "escalated")), (90, alarm(2, s(90), "low")),
              (7200, discharge), (7200.1, answer(discharge, s(7200)))])
    (row,) = t.saved.values()  # type: ignore[attr-defined]
    assert (row.id, row.patient_code, row.end_kind, row.ended_at, row.discharged_by) == (
        "chair-1-20260105-090000", "P-1", "discharged", s(7200), "nurse")
    assert row.alarm_counts() == {"high": 1, "medium": 0, "low": 1}


def test_late_answers_and_events_still_make_one_session() -> None:
    start = start_cmd(s(0))
    t = feed([
        (0, start),
        (1, state(s(0.5), s(0.02))),  # the engine's state before its answer to the start
        (7200, state(s(7200), s(0.02), "discharged", discharged_at=s(7200),
                     discharged_by="nurse")),
        (7201, answer(start, s(0.02))),  # the answer and alarms, published late
        (7202, alarm(1, s(0))),
        (7203, alarm(2, s(3600), "medium")),
    ])
    (row,) = t.saved.values()  # type: ignore[attr-defined]
    assert (row.end_kind, row.ended_at, row.discharged_by) == ("discharged", s(7200), "nurse")
    assert row.alarm_counts() == {"high": 1, "medium": 1, "low": 0}
    assert not t.open


def test_refused_start_is_no_session_and_a_new_start_supersedes() -> None:
    first, refused, second = start_cmd(s(0)), start_cmd(s(5), "P-2"), start_cmd(s(600), "P-3")
    t = feed([(0, first), (0, answer(first, s(0))), (5, refused),
              (5, answer(refused, s(5), accepted=False)), (600, second),
              (600, answer(second, s(600)))])
    rows = sorted(t.saved.values(), key=lambda r: r.started_at)  # type: ignore[attr-defined]
    assert [(r.patient_code, r.end_kind) for r in rows] == [("P-1", "superseded"), ("P-3", None)]
