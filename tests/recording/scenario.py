"""A short session for the recording tests: a protocol whose observation lasts minutes, so
a whole session runs second by second through a real broker in a few seconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from drivers.wire import Reading
from monitor.engine import BpCheckSpec, EngineConfig, ProtocolConfig
from monitor.recording.wirelog import WireRecord

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def short_config() -> EngineConfig:
    """The shipped rules, plus ``short``: dose at once, 4 minutes' observation, a BP check at
    2 minutes (1 minute either side) and one in the 2 minutes before discharge."""
    base = EngineConfig()
    short = ProtocolConfig(
        title="Short test protocol",
        dosing="single",
        observation_min=4.0,
        requires_spo2=True,
        bp_checks=[
            BpCheckSpec(name="pre_dose", kind="pre_dose"),
            BpCheckSpec(name="2_min", kind="at", offset_min=2.0, window_before_min=1.0,
                        window_after_min=1.0),
            BpCheckSpec(name="pre_discharge", kind="pre_discharge", window_before_min=2.0),
        ],
    )
    return base.model_copy(update={"protocols": {**base.protocols, "short": short}})


def bp(chair: str, at: datetime, systolic: float, diastolic: float, **kw: object) -> Reading:
    kw.setdefault("id", f"cuff-{at:%H%M%S}")
    return Reading(chair=chair, device="cuff", source="ble-2a35", kind="blood_pressure",
                   measured_at=at, received_at=at, unit="mm[Hg]",
                   values={"systolic": systolic, "diastolic": diastolic}, **kw)  # type: ignore[arg-type]


def hr(chair: str, at: datetime, value: float) -> Reading:
    return Reading(id=f"chest-{at:%H%M%S}-{uuid4().hex[:6]}", chair=chair, device="chest",
                   source="ble-2a37", kind="heart_rate",
                   measured_at=at, received_at=at, unit="/min", values={"heart_rate": value})


def spo2(chair: str, at: datetime, value: float, pulse: float | None = None) -> Reading:
    values = {"spo2": value} if pulse is None else {"spo2": value, "pulse_rate": pulse}
    return Reading(id=f"ox-{at:%H%M%S}-{uuid4().hex[:6]}", chair=chair, device="oximeter",
                   source="nonin-8", kind="spo2",
                   measured_at=at, received_at=at, unit="%", values=values)


# -- a Spravato session, as a wire log of inputs only, whose numbers are worked out by hand --

SITE = "east"
CHAIR = "chair-1"


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return START.replace(hour=hh, minute=mm, second=ss)


def spravato_inputs(*, ack_alarm_id: str | None = None,
                    spo2_gap: tuple[datetime, datetime] | None = None,
                    early_discharge: bool = False,
                    symptoms_at: datetime | None = None) -> list[WireRecord]:
    """09:00 start (P-0042, 56 mg, lot L1); BP 128/82 at 09:02; nasal devices at 09:05 and
    09:10; SpO2 90 from 09:30:00 to 09:30:50 and 87 from 09:50:00 to 09:50:20 (every 10 s,
    97 otherwise); HR 70 with a single 130 at 09:45 and a single 55 at 10:30; BP around the
    40-minute mark at 09:35 (150/90), 09:44 (165/95), 09:52 (145/88); BP 128/80 at 10:50 and
    126/78 at 11:00; assessment 11:02; discharge 11:06 by nurse."""
    from drivers import topics
    from drivers.wire import AckAlarm, Assessment, Discharge, DoseGiven, StartSession

    out: list[tuple[datetime, str, bytes]] = []

    def command(when: datetime, cmd: object) -> None:
        out.append((when, topics.commands(SITE, CHAIR), cmd.to_json()))  # type: ignore[attr-defined]

    def reading(r: Reading) -> None:
        out.append((r.received_at, topics.reading(SITE, CHAIR, r.kind), r.to_json()))

    command(at(9, 0), StartSession(at=at(9, 0), by="nurse", patient_code="P-0042",
                                   protocol="spravato", dose_mg=56, lot="L1"))
    command(at(9, 5), DoseGiven(at=at(9, 5), by="nurse", detail="device 1"))
    command(at(9, 10), DoseGiven(at=at(9, 10), by="nurse", detail="device 2"))
    for when, s, d in [(at(9, 2), 128, 82), (at(9, 35), 150, 90), (at(9, 44), 165, 95),
                       (at(9, 52), 145, 88), (at(10, 0), 135, 84), (at(10, 30), 132, 82),
                       (at(10, 50), 128, 80), (at(11, 0), 126, 78)]:
        reading(bp(CHAIR, when, s, d))
    t = at(9, 0)
    while t <= at(11, 6):
        if spo2_gap is None or not spo2_gap[0] <= t < spo2_gap[1]:
            value = 97.0
            if at(9, 30) <= t <= at(9, 30, 50):
                value = 90.0
            if at(9, 50) <= t <= at(9, 50, 20):
                value = 87.0
            reading(spo2(CHAIR, t, value, pulse=71))
        heart = 130.0 if t == at(9, 45) else 55.0 if t == at(10, 30) else 70.0
        reading(hr(CHAIR, t, heart))
        t += timedelta(seconds=10)
    if ack_alarm_id is not None:
        command(at(9, 50, 40), AckAlarm(at=at(9, 50, 40), by="nurse", alarm_id=ack_alarm_id))
    command(at(11, 2), Assessment(at=at(11, 2), by="nurse", sedation="none",
                                  dissociation="none", respiration="normal"))
    if symptoms_at is not None:
        from drivers.wire import Symptoms

        command(symptoms_at, Symptoms(id="sym-1", at=symptoms_at, by="nurse",
                                      symptoms=["severe_headache", "visual_disturbance"]))
    if early_discharge:  # refused: the two hours are not over
        command(at(10, 20), Discharge(id="early-1", at=at(10, 20), by="nurse"))
    command(at(11, 6), Discharge(at=at(11, 6), by="nurse"))
    out.sort(key=lambda item: item[0])
    return [WireRecord(topic, when, payload) for when, topic, payload in out]
