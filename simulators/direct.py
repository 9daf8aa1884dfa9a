"""Simulated devices that hand Readings straight to a gateway, without a wire protocol.

Used where the point is the patient and the data path, not the device: the demo of the
walking skeleton and the engine/broker tests. The protocol-level devices (real bytes over a
pseudo-terminal or a simulated BLE backend) feed the real drivers instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from drivers.clock import Clock, paced
from drivers.wire import DeviceState, DeviceStatus, Reading
from simulators.patient import Patient, Vitals
from simulators.scenario import DeviceKind, Scenario


class Sink(Protocol):
    def accept(self, reading: Reading) -> object: ...
    def device_status(self, status: DeviceStatus) -> None: ...
    def next_seq(self, device: str) -> int: ...


@dataclass(frozen=True, slots=True)
class DirectDevice:
    name: str
    kind: DeviceKind
    source: str


DEVICES = (
    DirectDevice("bp-cuff", "bp_cuff", "sim-nibp"),
    DirectDevice("oximeter", "oximeter", "sim-spo2"),
    DirectDevice("hr-monitor", "hr_monitor", "sim-hr"),
)


def readings_at(
    device: DirectDevice,
    chair: str,
    vitals: Vitals,
    faults: frozenset[str],
    when: datetime,
    seq: int,
) -> list[Reading]:
    """What one device reports at one instant (nothing while it has dropped out)."""
    if "dropout" in faults or "disconnect" in faults or "garbage" in faults:
        return []
    common = {
        "chair": chair,
        "device": device.name,
        "source": device.source,
        "measured_at": when,
        "received_at": when,
        "seq": seq,
    }
    quality = "questionable" if vitals.questionable else "valid"
    flags = ["artifact"] if vitals.questionable else []
    if device.kind == "oximeter":
        if "sensor_off" in faults:
            return [
                Reading(kind="spo2", values={}, unit="%", flags=["sensor_off"],
                        quality="invalid", **common)
            ]
        return [
            Reading(
                kind="spo2",
                values={
                    "spo2": round(vitals.spo2),
                    "pulse_rate": round(vitals.heart_rate),
                    "perfusion_index": round(vitals.perfusion_index, 2),
                },
                unit="%",
                flags=flags,
                quality=quality,
                **common,
            )
        ]
    if device.kind == "hr_monitor":
        return [
            Reading(kind="heart_rate", values={"heart_rate": round(vitals.heart_rate)},
                    unit="/min", flags=flags, quality=quality, **common)
        ]
    return [
        Reading(
            kind="blood_pressure",
            values={
                "systolic": round(vitals.systolic),
                "diastolic": round(vitals.diastolic),
                "mean": round(vitals.mean),
                "pulse_rate": round(vitals.heart_rate),
            },
            unit="mm[Hg]",
            flags=flags,
            quality=quality,
            **common,
        )
    ]


class DirectChair:
    """The devices of one chair, sampling one simulated patient on the shared clock.

    The oximeter and HR monitor report every simulated second, thinned to at most
    ``max_rate_hz`` per wall second when time runs fast; the cuff takes its first (pre-dose)
    measurement ``first_cuff_s`` after the session starts, then every ``cuff_interval_min``
    minutes, as a NIBP monitor on a timed cycle does.
    """

    def __init__(
        self,
        chair: str,
        scenario: Scenario,
        clock: Clock,
        sink: Sink,
        session_start: datetime,
        *,
        cuff_interval_min: float = 5.0,
        max_rate_hz: float = 6.0,
        seed: int | None = None,
        first_cuff_s: float = 30.0,
    ) -> None:
        self.chair = chair
        self.scenario = scenario
        self.patient = Patient(scenario, seed)
        self.clock = clock
        self.sink = sink
        self.session_start = session_start
        self.cuff_interval_s = cuff_interval_min * 60.0
        # One sample per simulated second, or fewer when time runs fast: at most
        # ``max_rate_hz`` samples per wall second at the clock's nominal speed.
        self.sample_period_s = max(1.0, clock.speed / max_rate_hz)
        self._next_cuff_s = first_cuff_s
        self._states: dict[str, DeviceState] = {}

    def _elapsed_s(self, when: datetime) -> float:
        return (when - self.session_start).total_seconds()

    def _status(
        self, device: DirectDevice, state: DeviceState, when: datetime, reason: str | None
    ) -> None:
        if self._states.get(device.name) == state:
            return
        self._states[device.name] = state
        self.sink.device_status(
            DeviceStatus(chair=self.chair, device=device.name, source=device.source,
                         state=state, at=when, reason=reason, endpoint="simulated")
        )

    def step(self, when: datetime, *, cuff: bool) -> None:
        """Report what every device measures at ``when`` (the cuff only when it cycles)."""
        t = self._elapsed_s(when)
        vitals = self.patient.vitals(t, self.scenario.dose_at_s)
        faults = self.patient.faults_at(t)
        for device in DEVICES:
            active = faults[device.kind]
            if "disconnect" in active:
                self._status(device, "disconnected", when, "simulated disconnect")
            elif "garbage" in active:
                self._status(device, "degraded", when, "sending unreadable data")
            else:
                self._status(device, "connected", when, None)
            if device.kind == "bp_cuff" and not cuff:
                continue
            for reading in readings_at(
                device, self.chair, vitals, active, when, self.sink.next_seq(device.name)
            ):
                self.sink.accept(reading)

    async def run(self) -> None:
        """Sample on a fixed simulated cadence, catching up on every due sample after a
        pause, so what the devices report never depends on how busy the machine is."""
        async for when in paced(self.clock, self.session_start, self.sample_period_s):
            t = self._elapsed_s(when)
            cuff = self._next_cuff_s <= t
            if cuff:
                self._next_cuff_s += self.cuff_interval_s
            self.step(when, cuff=cuff)
