"""Same inputs, same outputs: replay reproduces every alarm, id and state."""

from __future__ import annotations

from datetime import datetime, timedelta

from drivers.wire import ChairState
from monitor.engine import Engine, EngineConfig, Message, Output
from tests.engine.helpers import Clinic, states


def script(c: Clinic) -> None:
    c.feed = {"spo2": 96.0}
    c.start(dose_mg=84, lot="L1")
    c.bp(150, 92)
    c.hr(80)
    c.dose()
    for n in (1, 2):
        c.goto(minutes=5 * n, step_s=20)
        c.dose()
    c.goto(minutes=30, step_s=20)
    c.bp(186, 112)
    c.feed = {"spo2": 89.0}
    c.advance(seconds=30)
    c.ack(c.alarm("bp_high").alarm_id)
    c.pause(60)
    c.feed = {"spo2": 97.0}
    c.goto(minutes=60, step_s=20)
    c.bp(140, 85)
    c.device("disconnected", device="cuff")
    c.goto(minutes=125, step_s=20)
    c.assess()
    c.discharge(by="physician", override_reason="checked by physician")


def wire(outputs: list[Output]) -> list[bytes]:
    return [o.to_json() for o in outputs]


def recorded_run() -> tuple[Clinic, list[tuple[datetime, Message | None]]]:
    """The script run once, with every input and tick it gave the engine, and when."""
    recorded: list[tuple[datetime, Message | None]] = []

    class Recording(Clinic):
        def send(self, message: Message) -> list[Output]:
            recorded.append((self.now, message))
            return super().send(message)

        def tick(self) -> list[Output]:
            recorded.append((self.now, None))
            return super().tick()

    c = Recording()
    script(c)
    return c, recorded


def test_same_inputs_give_identical_outputs() -> None:
    first, second = Clinic(), Clinic()
    script(first)
    script(second)
    assert len(first.outputs) > 100
    assert wire(first.outputs) == wire(second.outputs)


def test_replay_of_recorded_inputs_reproduces_outputs() -> None:
    """Record every input with its time, feed it to a new engine: the same outputs."""
    c, recorded = recorded_run()
    engine = Engine(EngineConfig())
    replayed: list[Output] = []
    for now, message in recorded:
        if message is None:
            replayed += engine.tick(now)
        else:
            replayed += engine.handle(c.chair, message, now)
    assert wire(replayed) == wire(c.outputs)


def test_without_states_the_same_events_and_answers() -> None:
    """A replay that skips building states gets every other output, identical, and the same
    states on request."""
    c, recorded = recorded_run()
    lean = Engine(EngineConfig(), publish_states=False)
    out: list[Output] = []
    for now, message in recorded:
        out += lean.tick(now) if message is None else lean.handle(c.chair, message, now)
    assert not [o for o in out if isinstance(o, ChairState)]
    expected = [o for o in c.outputs if not isinstance(o, ChairState)]
    assert len(expected) > 20
    assert wire(out) == wire(expected)
    last = recorded[-1][0]
    assert wire(list(lean.states(last))) == wire(list(c.engine.states(last)))


def test_a_different_config_can_be_replayed() -> None:
    """What would these thresholds have done? (stricter SpO2 limits raise earlier)"""
    base = EngineConfig()
    rules = [r.model_copy(update={"delay_s": 0.0}) if r.condition == "spo2_low" else r
             for r in base.rules]
    c = Clinic(base.model_copy(update={"rules": rules}))
    script(c)
    d = Clinic()
    script(d)
    assert wire(c.outputs) != wire(d.outputs)


def test_heartbeat_state_every_interval_and_on_change_only() -> None:
    c = Clinic()
    c.engine.ensure_chair(c.chair)
    c.engine.ensure_chair("chair-2")
    first = c.engine.tick(c.now)
    assert [s.chair for s in states(first)] == ["chair-1", "chair-2"]
    quiet = []
    for s in range(1, 5):
        quiet += c.engine.tick(c.now + timedelta(seconds=s))
    assert quiet == []
    beat = c.engine.tick(c.now + timedelta(seconds=5))
    assert [s.chair for s in states(beat)] == ["chair-1", "chair-2"]


def test_time_driven_change_is_published_at_once() -> None:
    c = Clinic()
    c.start()
    c.bp(120, 80)
    c.dose()
    c.goto(minutes=34, seconds=59, step_s=5)
    out = c.engine.tick(c.at(35))
    (state,) = states(out)
    assert isinstance(state, ChairState)
    assert any(b.name == "40_min" and b.status == "due" for b in state.bp_checks)
