"""The floor model on a fake clock: what a dashboard keeps of the site and the rules it
follows (offline, the bell, overdue answers, what flashes, the overview's order), without a
screen."""

from __future__ import annotations

from datetime import timedelta

from drivers.clock import FakeClock
from drivers.wire import CommandResult, EngineStatus, PauseAudio
from monitor.config import DashboardSettings
from monitor.dashboard.floor import Floor, chair_key, command_type

from . import states as S


def make_floor(url: str | None = None, speed: float = 1.0,
               **settings: float | bool) -> tuple[Floor, FakeClock]:
    clock = FakeClock(S.NOW["observation"], speed=speed)
    return Floor(DashboardSettings(**settings), clock, url), clock


def test_offline_waiting_silent_and_stopped() -> None:
    floor, clock = make_floor()
    assert floor.offline() == "WAITING FOR MONITORING DATA"
    floor.take_state(S.chair_state("chair-1", "observation", clock.now()))
    assert floor.offline() is None
    clock.advance(10)
    assert floor.offline() is None  # at the limit, not past it
    clock.advance(1)
    assert floor.offline() == "MONITORING OFFLINE: no update for 11s"
    floor.take_state(S.chair_state("chair-1", "observation", clock.now()))
    assert floor.offline() is None
    floor.take_status(EngineStatus(state="offline", at=clock.now()))
    assert floor.offline() == "MONITORING OFFLINE: the engine has stopped"


def test_offline_follows_the_link_and_the_clock_rate() -> None:
    floor, clock = make_floor("mqtt://broker:1883", speed=60)
    assert floor.offline() == "MONITORING OFFLINE: connecting to the broker mqtt://broker:1883"
    floor.link.connected = floor.link.ever_connected = True
    floor.take_state(S.chair_state("chair-1", "observation", clock.now()))
    clock.advance(10 * 60)  # ten wall seconds of a demo running 60 times faster
    assert floor.offline() is None
    clock.advance(60)
    assert floor.offline() == "MONITORING OFFLINE: no update for 660s"
    floor.link.connected = False
    assert floor.offline() == "MONITORING OFFLINE: lost the broker mqtt://broker:1883"
    floor.link.refused = "the broker refused user 'amy'"
    assert floor.offline() == "MONITORING OFFLINE: the broker refused user 'amy'"


def test_the_bell_rule() -> None:
    floor, clock = make_floor()
    floor.take_state(S.chair_state("chair-2", "observation", alarms=[S.alarm("chair-2", "medium")]))
    assert not floor.bell_due()  # medium: no bell
    floor.take_state(S.chair_state("chair-1", "observation", alarms=[S.alarm("chair-1", "high")]))
    assert floor.bell_due()
    assert not floor.bell_due()  # once per alarm ...
    clock.advance(9.9)
    assert not floor.bell_due()
    clock.advance(0.1)
    assert floor.bell_due()  # ... then every bell_repeat_s while it sounds
    paused = S.chair_state("chair-1", "observation", clock.now(),
                           alarms=[S.alarm("chair-1", "high")]).model_copy(
        update={"audio_paused_until": clock.now() + timedelta(seconds=60)})
    floor.take_state(paused)
    clock.advance(30)
    assert floor.sounding() == set() and not floor.bell_due()
    clock.advance(31)  # the pause is over: a sounding alarm again, so it rings at once
    assert floor.sounding() == {"chair-1:bp_high:1"} and floor.bell_due()
    floor.take_state(S.chair_state("chair-1", "observation", clock.now(),
                                   alarms=[S.alarm("chair-1", "high", acknowledged=True)]))
    clock.advance(20)
    assert not floor.bell_due()  # acknowledged: silent

    silent, _ = make_floor(bell=False)
    silent.take_state(S.chair_state("chair-1", "observation", alarms=[S.alarm("chair-1", "high")]))
    assert not silent.bell_due()


def test_pending_commands_their_answers_and_the_timeout() -> None:
    floor, clock = make_floor(speed=2)
    mine = PauseAudio(at=clock.now(), by="nurse", seconds=120)
    theirs = PauseAudio(at=clock.now(), by="other", seconds=120)
    floor.sending("chair-1", mine)
    floor.was_sent("chair-1", mine)
    assert floor.pending[mine.id].type == command_type(mine) == "pause_audio"
    assert floor.sent == [("chair-1", mine)]
    assert floor.take_result(S.result(theirs, "chair-1", True)) is False  # another screen's
    assert floor.take_result(S.result(mine, "chair-1", False, "no session")) is True
    assert not floor.pending
    assert [own for _, own in floor.answers("chair-1")] == [False, True]

    late = PauseAudio(at=clock.now(), by="nurse", seconds=120)
    floor.sending("chair-2", late)
    clock.advance(20)  # ten wall seconds at rate 2: the limit, not past it
    assert floor.expire_pending() == []
    clock.advance(1)
    [overdue] = floor.expire_pending()
    assert (overdue.chair, overdue.type) == ("chair-2", "pause_audio")
    assert floor.expire_pending() == [] and not floor.pending  # given up once

    gone = PauseAudio(at=clock.now(), by="nurse", seconds=120)
    floor.sending("chair-1", gone)
    floor.not_sent(gone)
    assert not floor.pending


def test_answers_are_bounded_per_chair() -> None:
    floor, clock = make_floor()
    for i in range(15):
        command = PauseAudio(at=clock.now(), by="nurse", seconds=10 + i)
        floor.take_result(CommandResult(id=command.id, chair="chair-1", type="pause_audio",
                                        accepted=True, at=clock.now()))
    assert len(floor.answers("chair-1")) == 10
    assert floor.answers("chair-9") == []


def test_what_flashes() -> None:
    floor, _ = make_floor()
    assert not floor.flashing()
    floor.take_state(S.chair_state("chair-3", "observation", alarms=[S.alarm("chair-3", "low")]))
    assert not floor.flashing()  # low is steady
    floor.take_state(S.chair_state("chair-2", "observation", alarms=[S.alarm("chair-2", "medium")]))
    assert floor.flashing()
    floor.take_state(S.chair_state("chair-2", "observation"))
    assert not floor.flashing()
    phases = []
    for step in range(8):
        floor.flash_step = step
        phases.append(floor.flash_phase())
    assert [high for high, _ in phases] == [True, False] * 4
    assert [medium for _, medium in phases] == [True] * 4 + [False] * 4


def test_the_overview_order() -> None:
    floor, _ = make_floor()
    chairs = ["chair-10", "chair-2", "chair-1", "chair-3"]
    floor.take_state(S.chair_state("chair-3", "observation", alarms=[S.alarm("chair-3", "low")]))
    floor.take_state(S.chair_state("chair-10", "observation",
                                   alarms=[S.alarm("chair-10", "high", acknowledged=True)]))
    floor.take_state(S.chair_state("chair-2", "observation", alarms=[S.alarm("chair-2", "high")]))
    assert floor.ordered(chairs) == ["chair-2", "chair-10", "chair-3", "chair-1"]
    floor.sort_by_urgency = False
    assert floor.ordered(chairs) == ["chair-1", "chair-2", "chair-3", "chair-10"]
    assert chair_key("chair-2") < chair_key("chair-10") and chair_key("bay") == "bay"


def test_states_build_histories_and_forget_clears_all() -> None:
    floor, clock = make_floor("mqtt://broker:1883")
    floor.link.connected = floor.link.ever_connected = True
    for minute in range(3):
        floor.take_state(S.chair_state("chair-1", "observation",
                                       clock.now() + timedelta(minutes=minute), hr=70 + minute))
    assert len(floor.histories["chair-1"].series["heart_rate"]) == 3
    assert floor.last_state_at == clock.now()
    floor.take_status(EngineStatus(state="online", at=clock.now()))
    floor.sending("chair-1", PauseAudio(at=clock.now(), by="nurse", seconds=120))
    floor.forget()
    assert (floor.states, floor.histories, floor.pending, floor.results) == ({}, {}, {}, {})
    assert floor.engine_status is None and floor.last_state_at is None
    assert not floor.link.connected and not floor.link.ever_connected


def test_changes_count_what_a_screen_may_show_and_an_equal_state_is_none() -> None:
    floor, clock = make_floor()
    shown = S.chair_state("chair-1", "observation")
    floor.take(shown)
    history = floor.histories["chair-1"]
    first = floor.changes
    floor.take(shown.model_copy())  # equal, another object: nothing new to draw
    assert floor.changes == first
    assert floor.states["chair-1"] is shown  # the state held stays, found by identity
    assert floor.histories["chair-1"] is history  # kept, not built again
    floor.take(S.chair_state("chair-1", "observation", hr=99))
    assert floor.changes == first + 1
    floor.take(EngineStatus(state="online", at=clock.now()))
    command = PauseAudio(at=clock.now(), by="nurse", seconds=120)
    floor.sending("chair-1", command)
    floor.take(S.result(command, "chair-1", True))
    assert floor.changes == first + 4
    floor.sending("chair-1", PauseAudio(at=clock.now(), by="nurse", seconds=60))
    clock.advance(floor.rules.answer_timeout_s + 1)
    assert len(floor.expire_pending()) == 1
    assert floor.changes == first + 6
    floor.forget()
    assert floor.changes == first + 7


def test_take_keeps_each_payload_and_returns_only_our_answers() -> None:
    floor, clock = make_floor()
    mine = PauseAudio(at=clock.now(), by="nurse", seconds=120)
    floor.sending("chair-1", mine)
    assert floor.take(S.chair_state("chair-1", "observation")) is None
    assert floor.take(EngineStatus(state="online", at=clock.now())) is None
    assert floor.take(S.result(PauseAudio(at=clock.now(), by="x", seconds=9), "chair-1",
                               True)) is None
    answer = S.result(mine, "chair-1", True)
    assert floor.take(answer) is answer
    assert set(floor.states) == {"chair-1"} and floor.engine_status is not None
    assert len(floor.answers("chair-1")) == 2


def test_alarming_chairs_are_those_with_an_unacknowledged_medium_or_high_alarm() -> None:
    floor, clock = make_floor()
    now = clock.now()
    floor.take_state(S.chair_state("chair-1", "observation", now,
                                   alarms=[S.alarm("chair-1", "high")]))
    floor.take_state(S.chair_state("chair-2", "observation", now,
                                   alarms=[S.alarm("chair-2", "medium", "technical")]))
    floor.take_state(S.chair_state("chair-3", "observation", now,
                                   alarms=[S.alarm("chair-3", "low")]))
    floor.take_state(S.chair_state("chair-4", "observation", now, alarms=[
        S.alarm("chair-4", "high", acknowledged=True), S.alarm("chair-4", "low")]))
    floor.take_state(S.chair_state("chair-5", "observation", now))
    chairs = ["chair-5", "chair-4", "chair-3", "chair-2", "chair-1", "chair-9"]
    assert floor.alarming(chairs) == ["chair-2", "chair-1"]  # in the order asked
    assert floor.alarming([]) == []
