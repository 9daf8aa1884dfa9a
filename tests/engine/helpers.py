"""Builders and a fake clock for engine tests: no sleeps, time moves only when told."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from drivers.wire import (
    AckAlarm,
    AlarmEvent,
    Assessment,
    ChairState,
    CommandResult,
    DeviceStatus,
    Discharge,
    DoseGiven,
    EndSession,
    GatewayStatus,
    InfusionEnd,
    ManualBp,
    PauseAudio,
    Reading,
    StartSession,
)
from monitor.engine import Engine, EngineConfig, Message, Output

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CHAIR = "chair-1"


class Clinic:
    """An engine, a fake clock and one chair, with short ways to say what happens."""

    def __init__(self, config: EngineConfig | None = None, chair: str = CHAIR) -> None:
        self.engine = Engine(config or EngineConfig())
        self.now = T0
        self.chair = chair
        self.outputs: list[Output] = []
        self._ids = itertools.count(1)
        self.feed: dict[str, float] = {}
        """Streams sent on every clock step while advancing, e.g. {"spo2": 97}."""

    # --- time ----------------------------------------------------------------------------
    def at(self, minutes: float = 0.0, seconds: float = 0.0) -> datetime:
        return T0 + timedelta(minutes=minutes, seconds=seconds)

    def advance(
        self, minutes: float = 0.0, seconds: float = 0.0, step_s: float = 1.0
    ) -> list[Output]:
        """Move the clock, ticking every ``step_s`` seconds on the way."""
        end = self.now + timedelta(minutes=minutes, seconds=seconds)
        out: list[Output] = []
        step = timedelta(seconds=step_s)
        while self.now + step <= end:
            self.now += step
            out += self._fed() + self.tick()
        if self.now < end:
            self.now = end
            out += self._fed() + self.tick()
        return out

    def _fed(self) -> list[Output]:
        out: list[Output] = []
        for kind, value in self.feed.items():
            field = {"spo2": "spo2", "heart_rate": "heart_rate"}[kind]
            out += self.send(self.reading(kind, {field: value}))
        return out

    def goto(
        self, minutes: float = 0.0, seconds: float = 0.0, step_s: float = 1.0
    ) -> list[Output]:
        target = self.at(minutes, seconds)
        delta = (target - self.now).total_seconds()
        assert delta >= 0, "time only moves forward"
        return self.advance(seconds=delta, step_s=step_s)

    def tick(self) -> list[Output]:
        out = self.engine.tick(self.now)
        self.outputs += out
        return out

    # --- messages ------------------------------------------------------------------------
    def send(self, message: Message) -> list[Output]:
        out = self.engine.handle(self.chair, message, self.now)
        self.outputs += out
        return out

    def next_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    def reading(self, kind: str, values: dict[str, Any], *, unit: str | None = None,
                quality: str = "valid", device: str | None = None,
                measured_at: datetime | None = None, flags: Iterable[str] = (),
                rid: str | None = None) -> Reading:
        units = {"blood_pressure": "mm[Hg]", "heart_rate": "/min", "spo2": "%",
                 "cuff_pressure": "mm[Hg]"}
        devices = {"blood_pressure": "cuff", "heart_rate": "ecg", "spo2": "oxi",
                   "cuff_pressure": "cuff"}
        return Reading.model_validate({
            "id": rid or self.next_id("r"), "chair": self.chair,
            "device": device or devices[kind], "source": "test", "kind": kind,
            "measured_at": measured_at or self.now, "received_at": self.now,
            "values": values, "unit": unit or units[kind], "flags": list(flags),
            "quality": quality,
        })

    def bp(self, sys: float, dia: float, **kw: Any) -> list[Output]:
        return self.send(self.reading("blood_pressure", {"systolic": sys, "diastolic": dia,
                                                          "mean": (sys + 2 * dia) / 3}, **kw))

    def spo2(self, value: float, **kw: Any) -> list[Output]:
        return self.send(self.reading("spo2", {"spo2": value}, **kw))

    def hr(self, value: float, **kw: Any) -> list[Output]:
        return self.send(self.reading("heart_rate", {"heart_rate": value}, **kw))

    def cmd(self, cls: type, **kw: Any) -> list[Output]:
        kw.setdefault("id", self.next_id("c"))
        kw.setdefault("at", self.now)
        kw.setdefault("by", "nurse")
        return self.send(cls(**kw))

    def start(self, protocol: str = "spravato", patient: str = "P001", **kw: Any) -> list[Output]:
        return self.cmd(StartSession, patient_code=patient, protocol=protocol, **kw)

    def dose(self, **kw: Any) -> list[Output]:
        return self.cmd(DoseGiven, **kw)

    def infusion_end(self, **kw: Any) -> list[Output]:
        return self.cmd(InfusionEnd, **kw)

    def manual_bp(self, sys: int, dia: int, **kw: Any) -> list[Output]:
        return self.cmd(ManualBp, systolic=sys, diastolic=dia, **kw)

    def assess(self, sedation: str = "none", dissociation: str = "none",
               respiration: str = "normal", **kw: Any) -> list[Output]:
        return self.cmd(Assessment, sedation=sedation, dissociation=dissociation,
                        respiration=respiration, **kw)

    def ack(self, alarm_id: str, **kw: Any) -> list[Output]:
        return self.cmd(AckAlarm, alarm_id=alarm_id, **kw)

    def pause(self, seconds: int, **kw: Any) -> list[Output]:
        return self.cmd(PauseAudio, seconds=seconds, **kw)

    def discharge(self, **kw: Any) -> list[Output]:
        return self.cmd(Discharge, **kw)

    def end(self, **kw: Any) -> list[Output]:
        return self.cmd(EndSession, **kw)

    def device(self, state: str, device: str = "oxi", reason: str | None = None) -> list[Output]:
        return self.send(DeviceStatus(chair=self.chair, device=device, source="test",
                                      state=state, at=self.now, reason=reason))

    def gateway(self, state: str, *, connection: str | None = None,
                at: datetime | None = None) -> list[Output]:
        return self.send(GatewayStatus(chair=self.chair, state=state, at=at or self.now,
                                       connection=connection))

    # --- looking -------------------------------------------------------------------------
    def state(self) -> ChairState:
        (state,) = [s for s in self.engine.states(self.now) if s.chair == self.chair]
        return state

    def alarm(self, condition: str) -> Any:
        found = [a for a in self.state().alarms if a.condition == condition]
        return found[0] if found else None

    def conditions(self) -> set[str]:
        return {a.condition for a in self.state().alarms}

    def unmet(self) -> set[str]:
        return {u.condition for u in self.state().discharge.unmet}


def ready_spravato(c: Clinic, *, devices: int = 2, until_min: float = 119.0) -> None:
    """A Spravato session that will meet every discharge condition at 120:00.

    Session, SpO2 stream, pre-dose BP and the first device at 0 (the clock starts there),
    further devices 5 min apart, BP at 40 min, BP and assessment at 110 min; the clock is
    left at ``until_min``.
    """
    c.feed = {"spo2": 97.0}
    c.start(dose_mg=28.0 * devices)
    c.spo2(97)
    c.bp(128, 80)
    c.dose()
    for n in range(1, devices):
        c.goto(minutes=5 * n, step_s=15)
        c.dose()
    c.goto(minutes=40, step_s=15)
    c.bp(140, 85)
    c.goto(minutes=110, step_s=15)
    c.bp(130, 82)
    c.assess()
    c.goto(minutes=until_min, step_s=15)


def events(outputs: Iterable[Output], condition: str | None = None,
           event: str | None = None) -> list[AlarmEvent]:
    return [o for o in outputs if isinstance(o, AlarmEvent)
            and (condition is None or o.condition == condition)
            and (event is None or o.event == event)]


def results(outputs: Iterable[Output]) -> list[CommandResult]:
    return [o for o in outputs if isinstance(o, CommandResult)]


def result(outputs: Iterable[Output]) -> CommandResult:
    (r,) = results(outputs)
    return r


def states(outputs: Iterable[Output]) -> list[ChairState]:
    return [o for o in outputs if isinstance(o, ChairState)]
