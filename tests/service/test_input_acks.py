"""Which inputs the engine service may acknowledge: each once the outputs it caused are
acknowledged by the broker, in the order the inputs arrived."""

from __future__ import annotations

from monitor.input_acks import InputAcks


def test_an_input_is_ready_only_once_its_event_and_its_chairs_state_are_acknowledged() -> None:
    acks = InputAcks()
    reading = acks.received(7)
    acks.wait_event(reading, "alarm-1")
    acks.wait_state(reading, "c1", 1)
    assert acks.ready() == []
    acks.event_done("alarm-1")
    assert acks.ready() == []
    acks.state_done("c1", 1)
    assert acks.ready() == [(7, 1)]
    assert len(acks) == 0


def test_pubacks_leave_in_arrival_order() -> None:
    acks = InputAcks()
    first = acks.received(1)
    acks.wait_event(first, "result-a")
    acks.received(2)  # caused nothing (a duplicate)
    assert acks.ready() == []
    acks.event_done("result-a")
    assert acks.ready() == [(1, 1), (2, 1)]


def test_a_newer_state_of_the_chair_stands_for_an_older_one_never_sent() -> None:
    acks = InputAcks()
    one, two = acks.received(1), acks.received(2)
    acks.wait_state(one, "c1", 1)
    acks.wait_state(two, "c1", 2)
    acks.state_done("c1", 2)
    assert acks.ready() == [(1, 1), (2, 1)]


def test_an_older_state_does_not_release_an_input_that_a_newer_one_includes() -> None:
    acks = InputAcks()
    late = acks.received(3)
    acks.wait_state(late, "c1", 5)
    acks.state_done("c1", 4)  # in flight before the input arrived
    assert acks.ready() == []
    assert acks.waited_for("c1")
    acks.state_done("c1", 5)
    assert acks.ready() == [(3, 1)]
    assert not acks.waited_for("c1")


def test_a_state_already_acknowledged_is_not_waited_for() -> None:
    acks = InputAcks()
    acks.state_done("c1", 3)
    pending = acks.received(1)
    acks.wait_state(pending, "c1", 3)
    assert acks.ready() == [(1, 1)]


def test_other_chairs_and_other_events_release_nothing() -> None:
    acks = InputAcks()
    pending = acks.received(1)
    acks.wait_event(pending, "alarm-1")
    acks.wait_state(pending, "c1", 1)
    acks.event_done("alarm-2")
    acks.state_done("c2", 9)
    acks.event_done("alarm-1")
    assert acks.ready() == []


def test_a_barrier_holds_later_inputs_and_sends_no_puback_itself() -> None:
    acks = InputAcks()
    barrier = acks.received(None)
    acks.wait_event(barrier, "left-over")
    acks.received(4)
    assert acks.ready() == []
    acks.event_done("left-over")
    assert acks.ready() == [(4, 1)]


def test_the_input_being_handled_is_never_ready() -> None:
    acks = InputAcks()
    acks.current = acks.received(9)
    assert acks.ready() == []
    acks.current = None
    assert acks.ready() == [(9, 1)]
