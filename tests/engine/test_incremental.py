"""The incremental engine against the reference: judging only what an input touched, and
only chairs whose deadline has come on a tick, gives exactly the outputs of judging
everything every time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.wire import ChairState
from monitor.engine import Engine, Output
from monitor.engine.chair import Chair
from monitor.engine.engine import StatesMode
from tests.engine.helpers import T0
from tests.engine.test_properties import CHAIRS, CONFIG, action, message

# Inputs close together (a stream at about 1 Hz) and far apart (silence, checks, delays).
close_step = st.tuples(st.sampled_from(CHAIRS), st.integers(0, 40), action)
far_step = st.tuples(st.sampled_from(CHAIRS), st.integers(0, 1800), action)
steps = st.lists(st.one_of(close_step, close_step, close_step, far_step), max_size=80)
SETTINGS = settings(max_examples=120, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def run(engine: Engine, script: list[tuple[str, int, tuple[Any, ...]]],
        tick_every_s: float = 7.0) -> list[Output]:
    """The script, with ticks every ``tick_every_s`` in between inputs, as a service does."""
    now = T0
    out: list[Output] = []
    last: dict[str, Any] = {}
    step = timedelta(seconds=tick_every_s)
    for n, (chair, dt, act) in enumerate(script):
        end = now + timedelta(seconds=dt)
        while now + step < end:
            now += step
            out += engine.tick(now)
        now = end
        out += engine.tick(now)
        if act[0] == "repeat":
            if chair in last:
                out += engine.handle(chair, last[chair], now)
            continue
        msg = message(act, now, n, engine, chair)
        last[chair] = msg
        out += engine.handle(chair, msg, now)
    return out


def inputs(script: list[tuple[str, int, tuple[Any, ...]]], engine: Engine,
           at: Callable[[datetime], object]) -> Iterator[tuple[int, str, datetime, Any]]:
    """The script's inputs, each step's time first given to ``at`` (a tick) before its
    message is made; a repeat is the chair's last message again (none yet: skipped)."""
    now = T0
    last_message: dict[str, Any] = {}
    for n, (chair, dt, act) in enumerate(script):
        now += timedelta(seconds=dt)
        at(now)
        msg = last_message.get(chair) if act[0] == "repeat" else message(act, now, n,
                                                                          engine, chair)
        if msg is None:
            continue
        last_message[chair] = msg
        yield n, chair, now, msg


def wire(outputs: list[Output]) -> list[bytes]:
    return [o.to_json() for o in outputs]


@SETTINGS
@given(steps)
def test_incremental_equals_judging_everything(
    script: list[tuple[str, int, tuple[Any, ...]]],
) -> None:
    reference = Engine(CONFIG, incremental=False)
    engine = Engine(CONFIG)
    assert wire(run(engine, script)) == wire(run(reference, script))
    end = T0 + timedelta(seconds=sum(dt for _, dt, _ in script))
    assert wire(list(engine.states(end))) == wire(list(reference.states(end)))


@SETTINGS
@given(steps)
def test_every_state_mode_gives_the_same_events_and_answers(
    script: list[tuple[str, int, tuple[Any, ...]]],
) -> None:
    expected = [o for o in run(Engine(CONFIG, incremental=False), script)
                if not isinstance(o, ChairState)]
    modes: list[StatesMode] = [False, "deferred", "changes"]
    for mode in modes:
        got = [o for o in run(Engine(CONFIG, publish_states=mode), script)
               if not isinstance(o, ChairState)]
        assert wire(got) == wire(expected), mode


@SETTINGS
@given(steps)
def test_deferred_states_are_the_present_at_each_tick(
    script: list[tuple[str, int, tuple[Any, ...]]],
) -> None:
    """Each tick publishes, for every chair that changed, the state the reference shows
    then; a chair it leaves out shows what its last published state said."""
    engine = Engine(CONFIG, publish_states="deferred")
    reference = Engine(CONFIG, incremental=False)
    published: dict[str, ChairState] = {}

    def tick(now: Any) -> None:
        for o in engine.tick(now):
            if isinstance(o, ChairState):
                published[o.chair] = o
        reference.tick(now)
        for shown in reference.states(now):
            last = published[shown.chair]
            if last.at == now:
                assert last.to_json() == shown.to_json()
            else:
                assert signature(last) == signature(shown)

    for _, chair, now, msg in inputs(script, engine, tick):
        engine.handle(chair, msg, now)
        reference.handle(chair, msg, now)
        tick(now)


def signature(state: ChairState) -> tuple[object, ...]:
    return Chair.signature_of(state)


@SETTINGS
@given(steps, st.lists(st.booleans(), min_size=80, max_size=80))
def test_pending_states_misses_no_chair_an_input_left_pending(
    script: list[tuple[str, int, tuple[Any, ...]]], ask: list[bool],
) -> None:
    """`pending_states` looks only at the chairs marked since it was last asked; what it
    returns is what looking at every chair would (the service asks after inputs, and
    ticks come between)."""
    engine = Engine(CONFIG, publish_states="deferred")
    chairs: dict[str, Chair] = engine._chairs

    def pending() -> list[str]:
        return [name for name in sorted(chairs)
                if chairs[name].pending and chairs[name].input_at is not None]

    for n, chair, now, msg in inputs(script, engine, engine.tick):
        engine.handle(chair, msg, now)
        if ask[n]:
            expected = pending()
            assert [s.chair for s in engine.pending_states()] == expected
            assert pending() == []
    expected = pending()
    assert [s.chair for s in engine.pending_states()] == expected  # none left behind
    assert engine.pending_states() == []
