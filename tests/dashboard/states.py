"""Chair states for the dashboard's tests: one per session phase, alarms of each priority, and
a session's worth of states for the trends. Built by hand (not by the engine) so the screens
under test change only when the dashboard does."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from drivers import topics
from drivers.clock import FakeClock
from drivers.mqtt_settings import BrokerRefused
from drivers.payloads import Inbound
from drivers.wire import (
    ActiveAlarm,
    AlarmKind,
    BpCheck,
    ChairState,
    CommandBase,
    CommandResult,
    DischargeReadiness,
    EngineStatus,
    LatestValue,
    ObservationClock,
    Phase,
    Priority,
    Quality,
    SessionInfo,
    UnmetCondition,
    format_time,
)
from monitor.access.directory import Directory, User
from monitor.config import DashboardSettings
from monitor.dashboard.app import DashboardApp, command_type

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
"""The session starts; the first nasal device goes in 10 minutes later."""
DOSE = T0 + timedelta(minutes=10)
PHASES: tuple[Phase, ...] = (
    "idle", "pre_dose", "dosing", "observation", "ready", "discharged", "ended",
)
NOW: dict[Phase, datetime] = {
    "idle": T0 + timedelta(minutes=2),
    "pre_dose": T0 + timedelta(minutes=6),
    "dosing": T0 + timedelta(minutes=13),
    "observation": T0 + timedelta(minutes=55),
    "ready": T0 + timedelta(minutes=133),
    "discharged": T0 + timedelta(minutes=136),
    "ended": T0 + timedelta(minutes=21),
}


def m(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def z(when: datetime) -> str:
    return format_time(when)


def value(kind: str, values: dict[str, float], at: datetime, now: datetime,
          quality: Quality = "valid", device: str | None = None) -> LatestValue:
    unit = {"blood_pressure": "mm[Hg]", "heart_rate": "/min", "spo2": "%"}[kind]
    return LatestValue(
        reading_id=f"{kind}-{at.timestamp():.0f}", device=device or {
            "blood_pressure": "cuff", "heart_rate": "strap", "spo2": "oximeter"}[kind],
        values=values, unit=unit, quality=quality,
        measured_at=at, received_at=at, age_s=(now - at).total_seconds(),
    )


def vitals(now: datetime, *, systolic: float = 132, diastolic: float = 84,
           bp_at: datetime | None = None, hr: float = 78, spo2: float = 97,
           stream_age_s: float = 2.0) -> dict[str, LatestValue]:
    stream_at = now - timedelta(seconds=stream_age_s)
    return {
        "blood_pressure": value("blood_pressure", {"systolic": systolic, "diastolic": diastolic,
                                                   "mean": round((systolic + 2 * diastolic) / 3)},
                                bp_at or now - timedelta(minutes=3), now),
        "heart_rate": value("heart_rate", {"heart_rate": hr}, stream_at, now),
        "spo2": value("spo2", {"spo2": spo2, "pulse_rate": hr}, stream_at, now),
    }


def checks(phase: Phase, now: datetime) -> list[BpCheck]:
    pre = BpCheck(name="pre_dose", window_start=T0, window_end=DOSE, status="done",
                  done_at=m(4), systolic=128, diastolic=82)
    forty = BpCheck(name="40_min", window_start=m(45), window_end=m(60), status="pending")
    final = BpCheck(name="pre_discharge", window_start=m(110), status="pending")
    if phase == "pre_dose":
        pre = BpCheck(name="pre_dose", window_start=T0, status="due")
        forty = BpCheck(name="40_min", status="pending")
        final = BpCheck(name="pre_discharge", status="pending")
    elif phase == "observation":
        forty = forty.model_copy(update={"status": "due"})
    elif phase in ("ready", "discharged"):
        forty = forty.model_copy(update={"status": "done", "done_at": m(52), "systolic": 148,
                                         "diastolic": 92})
        final = final.model_copy(update={"status": "done", "done_at": m(128),
                                         "systolic": 134, "diastolic": 84})
    return [pre, forty, final]


def unmet(phase: Phase, now: datetime) -> list[UnmetCondition]:
    if phase == "idle":
        return [UnmetCondition(condition="session", reason="no session")]
    if phase in ("discharged", "ended"):
        return [UnmetCondition(condition="session", reason=f"the session is {phase}")]
    if phase == "ready":
        return []
    out = []
    if phase == "pre_dose":
        out.append(UnmetCondition(condition="dose", reason="no dose given yet"))
    if phase == "dosing":
        out.append(UnmetCondition(condition="dose", reason="1 of 3 nasal devices given"))
    if phase in ("dosing", "observation"):
        end = DOSE + timedelta(minutes=120)
        out.append(UnmetCondition(
            condition="observation_time",
            reason=f"minimum observation of 120 min from {z(DOSE)} ends at {z(end)}",
            met_in_s=(end - now).total_seconds()))
    out.append(UnmetCondition(condition="bp_check", reason="BP check pre_discharge pending"))
    out.append(UnmetCondition(condition="bp_recent",
                              reason=f"latest BP at {z(now - timedelta(minutes=40))} is older "
                                     "than 30 min"))
    out.append(UnmetCondition(condition="assessment",
                              reason="no sedation and dissociation assessment recorded"))
    return out


def session(phase: Phase) -> SessionInfo | None:
    if phase == "idle":
        return None
    base = SessionInfo(patient_code="P-0042", protocol="spravato", phase=phase, started_at=T0,
                       dose_mg=84, lot="LOT-7731", doses_expected=3, baseline_systolic=128,
                       baseline_diastolic=82, baseline_at=m(4))
    if phase == "pre_dose":
        return base
    if phase == "ended":
        return base.model_copy(update={"ended_at": m(20), "end_reason": "patient declined"})
    dosed = base.model_copy(update={"first_dose_at": DOSE, "last_dose_at": DOSE,
                                    "doses_given": 1, "next_dose_at": DOSE + timedelta(minutes=5)})
    if phase == "dosing":
        return dosed
    dosed = dosed.model_copy(update={"last_dose_at": m(20), "doses_given": 3,
                                     "next_dose_at": None})
    if phase == "discharged":
        return dosed.model_copy(update={"discharged_at": m(135), "discharged_by": "nurse"})
    return dosed


def alarm(chair: str, priority: Priority, kind: AlarmKind = "physiological", *,
          at: datetime | None = None, acknowledged: bool = False) -> ActiveAlarm:
    at = at or T0
    if kind == "technical":
        return ActiveAlarm(
            alarm_id=f"{chair}:no_data:1", condition="no_data", kind="technical",
            priority=priority, subject="oximeter/spo2", raised_at=at, active=True,
            message=f"SpO2 from oximeter: no data since {z(at - timedelta(seconds=31))} > 30 s",
            acknowledged=acknowledged)
    text = {"high": ("bp_high", "SYS 186 >= 180 mmHg"),
            "medium": ("spo2_low", "SpO2 90 < 92 %"),
            "low": ("bp_baseline_elevated", "SYS 146 > 140 mmHg pre-dose")}[priority]
    return ActiveAlarm(alarm_id=f"{chair}:{text[0]}:1", condition=text[0], kind=kind,
                       priority=priority, message=text[1], raised_at=at, active=True,
                       latching=priority == "high", acknowledged=acknowledged,
                       acknowledged_by="nurse" if acknowledged else None,
                       acknowledged_at=at if acknowledged else None)


def chair_state(chair: str, phase: Phase, now: datetime | None = None, *,
                alarms: Sequence[ActiveAlarm] = (), **vital_args: Any) -> ChairState:
    now = now or NOW[phase]
    info = session(phase)
    observation = None
    if info is not None and info.first_dose_at is not None:
        closed = info.discharged_at or info.ended_at
        until = min(now, closed) if closed else now
        observation = ObservationClock(
            started_at=DOSE, elapsed_s=(until - DOSE).total_seconds(), minimum_s=7200,
            earliest_discharge_at=DOSE + timedelta(minutes=120))
    not_met = unmet(phase, now)
    return ChairState(
        chair=chair, at=now, session=info, latest=vitals(now, **vital_args),
        observation=observation, bp_checks=checks(phase, now) if info else [],
        alarms=list(alarms),
        discharge=DischargeReadiness(ready=not not_met, unmet=not_met),
        devices={"cuff": "connected", "oximeter": "connected", "strap": "connected"},
    )


def feed(app: DashboardApp, payload: ChairState | EngineStatus | CommandResult) -> None:
    if isinstance(payload, ChairState):
        topic = topics.Topic("state", "clinic", payload.chair)
    elif isinstance(payload, CommandResult):
        topic = topics.Topic("command_result", "clinic", payload.chair)
    else:
        topic = topics.Topic("engine_status", "clinic")
    app.ingest(Inbound(topic, payload))


def feed_session(app: DashboardApp, chair: str, phase: Phase, *,
                 alarms: Sequence[ActiveAlarm] = (), step_min: float = 1.0) -> ChairState:
    """States every ``step_min`` from the session's start to the phase's time, vitals moving
    as after a dose (BP peaks about 40 minutes in), so the trends have a shape."""
    end = NOW[phase]
    t = T0 + timedelta(minutes=1)
    last = chair_state(chair, phase, end, alarms=alarms)
    while t <= end:
        minutes = (t - DOSE).total_seconds() / 60
        rise = 30 * math.exp(-((minutes - 40) / 25) ** 2) if minutes > 0 else 0.0
        bp_at = T0 + timedelta(minutes=5 * int((t - T0).total_seconds() // 300))
        bp_minutes = (bp_at - DOSE).total_seconds() / 60
        bp_rise = 30 * math.exp(-((bp_minutes - 40) / 25) ** 2) if bp_minutes > 0 else 0.0
        state = chair_state(
            chair, phase, t, alarms=alarms if t == end else (),
            systolic=round(128 + bp_rise), diastolic=round(82 + bp_rise / 2), bp_at=bp_at,
            hr=round(76 + rise / 3 + 2 * math.sin(minutes / 3)),
            spo2=round(97 - (2 if 30 < minutes < 36 else 0) + math.sin(minutes / 5)),
        )
        feed(app, state)
        last = state
        t += timedelta(minutes=step_min)
    return last


def result(command: CommandBase, chair: str, accepted: bool, *reasons: str,
           at: datetime | None = None) -> CommandResult:
    return CommandResult(id=command.id, chair=chair, type=command_type(command),
                         accepted=accepted, at=at or command.at, reasons=list(reasons))


class Recorder:
    """A sender that keeps the commands instead of publishing them, and may answer."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, CommandBase]] = []
        self.answer: Callable[[str, CommandBase], CommandResult | None] | None = None
        self.app: DashboardApp | None = None

    async def __call__(self, chair: str, command: CommandBase) -> None:
        self.sent.append((chair, command))
        if self.answer is not None and self.app is not None:
            reply = self.answer(chair, command)
            if reply is not None:
                feed(self.app, reply)

    def last(self) -> CommandBase:
        assert self.sent, "nothing was sent"
        return self.sent[-1][1]


def make_app(chairs: Sequence[str] = ("chair-1",), *, now: datetime | None = None,
             settings: DashboardSettings | None = None, chair: str | None = None,
             recorder: Recorder | None = None, blink: bool = False,
             banner: str | None = None) -> tuple[DashboardApp, FakeClock, Recorder]:
    clock = FakeClock(now or NOW["observation"])
    recorder = recorder or Recorder()
    app = DashboardApp(None, "clinic", settings or DashboardSettings(), clock,
                       chairs=list(chairs), chair=chair, tz=UTC, blink=blink,
                       sender=recorder, user="nurse", banner=banner)
    recorder.app = app
    return app, clock, recorder


DIRECTORY = Directory("clinic", {
    "amy": User(role="nurse", name="Amy Ng"),
    "lee": User(role="physician", name="Dr Lee"),
    "quinn": User(role="qa"),
    "wall": User(role="display"),
    "gw-chair-1": User(role="gateway", chair="chair-1"),
    "old": User(role="nurse", disabled=True),
})
PASSWORDS = {"amy": "amy-secret-1", "lee": "lee-secret-1", "quinn": "quinn-secret",
             "wall": "wall-secret-1", "gw-chair-1": "gateway-secret", "old": "old-secret-1"}


class FakeBroker:
    """The broker's password check, without a broker: refuses what it does not know."""

    def __init__(self) -> None:
        self.checked: list[str] = []

    async def __call__(self, user: str, password: str) -> None:
        self.checked.append(user)
        if PASSWORDS.get(user) != password:
            raise BrokerRefused(f"the broker refused user {user!r}")


def make_signin_app(chairs: Sequence[str] = ("chair-1",), *, kiosk: bool = False,
                    idle_lock_s: float = 300.0, banner: str | None = None,
                    ) -> tuple[DashboardApp, FakeClock, Recorder, FakeBroker]:
    """A dashboard of a site that signs its users in (the broker's check faked)."""
    clock = FakeClock(NOW["observation"])
    recorder, broker = Recorder(), FakeBroker()
    app = DashboardApp(None, "clinic", DashboardSettings(), clock, chairs=list(chairs),
                       tz=UTC, blink=False, sender=recorder, banner=banner,
                       directory=DIRECTORY, sign_in=broker, kiosk=kiosk,
                       idle_lock_s=idle_lock_s)
    recorder.app = app
    return app, clock, recorder, broker


Step = Callable[[], Awaitable[None]]
