"""Simulated Bluetooth LE health devices, sending the exact characteristic values the codecs'
encoders make, for the patient's vitals on the shared clock.

* `BleCuffSim` (Blood Pressure service 0x1810): measures every ``interval_min`` simulated
  minutes and on demand (`request`); while it inflates and deflates it notifies the
  Intermediate Cuff Pressure (0x2A36), then indicates the Blood Pressure Measurement (0x2A35)
  with a time stamp, the pulse rate and the measurement status. Blood Pressure Feature
  (0x2A49) can be read.
* `BleHeartRateSim` (Heart Rate service 0x180D): a Heart Rate Measurement (0x2A37) every
  simulated second, with sensor contact and an RR interval.
* `BlePlxSim` (Pulse Oximeter service 0x1822): PLX Continuous (0x2A5F) every simulated second
  (protocol ``ble-2a5f``) or a PLX Spot-Check (0x2A5E) every ``spot_interval_s`` (protocol
  ``ble-2a5e``); PLX Features (0x2A60) can be read.

Each joins a `SimBleHub` as a `SimPeripheral`; the real BLE driver reaches it through the
hub's bleak backends. Faults: ``dropout`` (connected, silent), ``sensor_off`` (said in the
protocol: no skin contact, sensor-off status, a failed cuff measurement), ``garbage``
(truncated values besides the good ones), ``disconnect`` (stops advertising and drops the
link until the fault ends).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from datetime import datetime

from drivers.protocols import gatt
from drivers.protocols.ieee11073 import DateTime, Number, Special
from drivers.protocols.registry import (
    SERVICE_BLOOD_PRESSURE,
    SERVICE_HEART_RATE,
    SERVICE_PULSE_OXIMETER,
    ble_uuid,
)
from simulators.devices.base import SimContext
from simulators.devices.ble import SimBleHub, SimCharacteristic, SimPeripheral, SimService
from simulators.patient import Vitals
from simulators.scenario import DeviceKind, FaultKind

BPM = ble_uuid(0x2A35)
ICP = ble_uuid(0x2A36)
BP_FEATURE = ble_uuid(0x2A49)
HRM = ble_uuid(0x2A37)
PLX_SPOT = ble_uuid(0x2A5E)
PLX_CONTINUOUS = ble_uuid(0x2A5F)
PLX_FEATURES = ble_uuid(0x2A60)


class BleSim:
    """Base: a peripheral on a hub, reporting at its pace, with the scenario's faults."""

    protocol = "ble"
    kinds: tuple[DeviceKind, ...] = ()
    period_s = 1.0

    def __init__(
        self,
        ctx: SimContext,
        hub: SimBleHub,
        address: str,
        *,
        name: str,
        seed: int = 0,
        max_hz: float = 4.0,
        period_s: float | None = None,
    ) -> None:
        self.ctx = ctx
        self.hub = hub
        self.name = name
        self.max_hz = max_hz
        if period_s is not None:
            self.period_s = period_s
        self.rng = random.Random(seed)
        self.forced: set[FaultKind] = set()
        """Faults switched on by hand (tests, the command line), besides the scenario's."""
        self.peripheral = SimPeripheral(address, self.local_name(), self.services())
        self.sent = 0
        self.garbage_sent = 0

    @property
    def endpoint(self) -> str:
        return self.peripheral.address

    def local_name(self) -> str:
        return f"Chairside {self.name}"

    def services(self) -> list[SimService]:
        raise NotImplementedError

    def faults(self, t: float) -> frozenset[FaultKind]:
        return self.ctx.faults(self.kinds, t) | self.forced

    def sim_period(self) -> float:
        return self.ctx.sim_period(self.period_s, self.max_hz)

    def online(self, faults: frozenset[FaultKind]) -> bool:
        """Apply a ``disconnect`` fault (or its end); whether the device is on the air."""
        if "disconnect" in faults:
            if self.peripheral.advertising:
                self.peripheral.power(False)
            return False
        if not self.peripheral.advertising:
            self.peripheral.power(True)
        return True

    def send(self, uuid: str, value: bytes, faults: frozenset[FaultKind]) -> None:
        if "garbage" in faults:
            self.peripheral.notify(uuid, value[: max(1, len(value) // 3)])
            self.garbage_sent += 1
        if self.peripheral.notify(uuid, value):
            self.sent += 1

    async def run(self) -> None:
        self.hub.add(self.peripheral)
        try:
            async for when in self.ctx.cadence(self.sim_period):
                self.step(when)
        finally:
            self.close()

    def close(self) -> None:
        self.hub.remove(self.peripheral.address)

    def step(self, now: datetime | None = None) -> None:
        now = now or self.ctx.clock.now()
        t = self.ctx.t(now)
        faults = self.faults(t)
        if not self.online(faults) or "dropout" in faults:
            return
        self.report(now, t, self.ctx.vitals(t), faults)

    def report(self, now: datetime, t: float, vitals: Vitals,
               faults: frozenset[FaultKind]) -> None:
        raise NotImplementedError


class BleHeartRateSim(BleSim):
    protocol = "ble-2a37"
    kinds: tuple[DeviceKind, ...] = ("hr_monitor",)

    def services(self) -> list[SimService]:
        return [SimService(ble_uuid(SERVICE_HEART_RATE), [SimCharacteristic(HRM, ["notify"])])]

    def report(self, now: datetime, t: float, vitals: Vitals,
               faults: frozenset[FaultKind]) -> None:
        hr = max(1, round(vitals.heart_rate))
        contact = "sensor_off" not in faults
        value = gatt.encode_heart_rate(gatt.HeartRateMeasurement(
            heart_rate=hr,
            sensor_contact_supported=True,
            sensor_contact_detected=contact,
            rr_intervals=(round(60.0 / hr * 1024),) if contact else (),
        ))
        self.send(HRM, value, faults)


class BlePlxSim(BleSim):
    """A pulse oximeter: continuous (``ble-2a5f``) or spot-check (``ble-2a5e``)."""

    kinds: tuple[DeviceKind, ...] = ("oximeter",)

    def __init__(
        self,
        ctx: SimContext,
        hub: SimBleHub,
        address: str,
        *,
        protocol: str = "ble-2a5f",
        spot_interval_s: float = 60.0,
        name: str = "oximeter",
        seed: int = 0,
        max_hz: float = 4.0,
        period_s: float | None = None,
    ) -> None:
        if protocol not in ("ble-2a5e", "ble-2a5f"):
            raise ValueError(f"a PLX oximeter speaks ble-2a5e or ble-2a5f, not {protocol}")
        self.protocol = protocol
        if period_s is None and protocol == "ble-2a5e":
            period_s = spot_interval_s
        super().__init__(ctx, hub, address, name=name, seed=seed, max_hz=max_hz,
                         period_s=period_s)

    @property
    def spot_check(self) -> bool:
        return self.protocol == "ble-2a5e"

    def services(self) -> list[SimService]:
        features = {"measurement_status_support", "device_status_support",
                    "pulse_amplitude_index"}
        if self.spot_check:
            features.add("spot_check_timestamp")
        value = gatt.encode_plx_features(gatt.PlxFeatures(
            frozenset(features),
            frozenset({"measurement_unavailable", "questionable_measurement"}),
            frozenset({"sensor_off", "erratic_signal", "low_perfusion"}),
        ))
        measurement = (SimCharacteristic(PLX_SPOT, ["indicate"]) if self.spot_check
                       else SimCharacteristic(PLX_CONTINUOUS, ["notify"]))
        return [SimService(ble_uuid(SERVICE_PULSE_OXIMETER), [
            measurement, SimCharacteristic(PLX_FEATURES, ["read"], value),
        ])]

    def report(self, now: datetime, t: float, vitals: Vitals,
               faults: frozenset[FaultKind]) -> None:
        off = "sensor_off" in faults
        spo2: Number = Special.NAN if off else float(round(vitals.spo2))
        pulse: Number = Special.NAN if off else float(round(vitals.heart_rate))
        status = 0
        device = 0
        if off:
            status = gatt.bits_from_names(["measurement_unavailable"],
                                          gatt.PLX_MEASUREMENT_STATUS_BITS)
            device = gatt.bits_from_names(["sensor_off"], gatt.PLX_DEVICE_STATUS_BITS)
        elif vitals.questionable:
            status = gatt.bits_from_names(["questionable_measurement"],
                                          gatt.PLX_MEASUREMENT_STATUS_BITS)
            device = gatt.bits_from_names(["erratic_signal"], gatt.PLX_DEVICE_STATUS_BITS)
        pai: Number | None = None if off else round(vitals.perfusion_index, 1)
        if self.spot_check:
            value = gatt.encode_plx_spot_check(gatt.PlxSpotCheck(
                spo2, pulse, timestamp=DateTime.from_datetime(now),
                measurement_status=status, device_status=device, pulse_amplitude_index=pai,
            ))
            self.send(PLX_SPOT, value, faults)
        else:
            value = gatt.encode_plx_continuous(gatt.PlxContinuous(
                spo2, pulse, measurement_status=status, device_status=device,
                pulse_amplitude_index=pai,
            ))
            self.send(PLX_CONTINUOUS, value, faults)


class BleCuffSim(BleSim):
    """A NIBP cuff: a timed cycle and on-demand measurements, with cuff pressure on the way.

    A measurement inflates in ``inflate_steps`` to 30 mmHg above the systolic and deflates
    in ``deflate_steps`` to below the diastolic, one Intermediate Cuff Pressure per
    ``step_s`` simulated seconds (at most ``max_hz`` a wall second), then indicates the
    result.
    """

    protocol = "ble-2a35"
    kinds: tuple[DeviceKind, ...] = ("bp_cuff",)

    def __init__(
        self,
        ctx: SimContext,
        hub: SimBleHub,
        address: str,
        *,
        interval_min: float = 5.0,
        step_s: float = 4.0,
        inflate_steps: int = 4,
        deflate_steps: int = 5,
        name: str = "bp-cuff",
        seed: int = 0,
        max_hz: float = 4.0,
    ) -> None:
        super().__init__(ctx, hub, address, name=name, seed=seed, max_hz=max_hz,
                         period_s=step_s)
        self.interval_s = interval_min * 60.0
        self.inflate_steps = inflate_steps
        self.deflate_steps = deflate_steps
        self.measurements = 0
        self.measuring = False
        self._requested = asyncio.Event()
        self._last: float | None = None

    def services(self) -> list[SimService]:
        feature = gatt.encode_blood_pressure_feature(gatt.BloodPressureFeature(
            body_movement_detection=True, cuff_fit_detection=True,
            irregular_pulse_detection=True, pulse_rate_range_detection=True,
        ))
        return [SimService(ble_uuid(SERVICE_BLOOD_PRESSURE), [
            SimCharacteristic(BPM, ["indicate"]),
            SimCharacteristic(ICP, ["notify"]),
            SimCharacteristic(BP_FEATURE, ["read"], feature),
        ])]

    def request(self) -> None:
        """Measure now (the nurse pressed Start), whatever the cycle says."""
        self._requested.set()

    async def run(self) -> None:
        self.hub.add(self.peripheral)
        try:
            while True:
                t = self.ctx.t()
                faults = self.faults(t)
                # The cycle starts with the session (the pre-dose reading), then every
                # interval; a request measures at once.
                due = self._requested.is_set() or (t >= 0 and (
                    self._last is None or t - self._last >= self.interval_s
                ))
                if self.online(faults) and due:
                    self._requested.clear()
                    self._last = t
                    await self.measure()
                # Look again after a tick of simulated time (faults come and go), or at once
                # when a measurement is requested.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.ctx.wall(self.ctx.sim_period(1.0,
                                                                                self.max_hz))):
                        await self._requested.wait()
        finally:
            self.close()

    async def measure(self) -> None:
        """One measurement: inflate, deflate, result."""
        t = self.ctx.t()
        faults = self.faults(t)
        if "dropout" in faults:
            return
        self.measuring = True
        try:
            start = self.ctx.vitals(t)
            top = start.systolic + 30.0
            bottom = max(20.0, start.diastolic - 10.0)
            up = [top * (i + 1) / self.inflate_steps for i in range(self.inflate_steps)]
            down = [top - (top - bottom) * (i + 1) / self.deflate_steps
                    for i in range(self.deflate_steps)]
            for pressure in up + down:
                faults = self.faults(self.ctx.t())
                if not self.online(faults):
                    return  # the link went while measuring: the measurement is lost
                self.send(ICP, gatt.encode_intermediate_cuff_pressure(
                    gatt.IntermediateCuffPressure(float(round(pressure)))
                ), faults)
                # A cuff inflates and deflates in real seconds of the patient's time, however
                # fast the demo runs: the result must come when a real cuff's would.
                await asyncio.sleep(self.ctx.wall(self.period_s))
            now = self.ctx.clock.now()
            t = self.ctx.t(now)
            faults = self.faults(t)
            if not self.online(faults) or "dropout" in faults:
                return
            self.send(BPM, self.result(now, self.ctx.vitals(t), faults), faults)
            self.measurements += 1
        finally:
            self.measuring = False

    def result(self, now: datetime, vitals: Vitals, faults: frozenset[FaultKind]) -> bytes:
        if "sensor_off" in faults:  # the cuff is off the arm: no pulsations found
            return gatt.encode_blood_pressure(gatt.BloodPressureMeasurement(
                Special.NAN, Special.NAN, Special.NAN,
                timestamp=DateTime.from_datetime(now),
                status=gatt.bits_from_names(["cuff_loose"], gatt.BP_STATUS_BITS),
            ))
        status = (gatt.bits_from_names(["body_movement"], gatt.BP_STATUS_BITS)
                  if vitals.questionable else 0)
        return gatt.encode_blood_pressure(gatt.BloodPressureMeasurement(
            float(round(vitals.systolic)),
            float(round(vitals.diastolic)),
            float(round(vitals.mean)),
            timestamp=DateTime.from_datetime(now),
            pulse_rate=float(round(vitals.heart_rate)),
            status=status,
        ))

    def report(self, now: datetime, t: float, vitals: Vitals,
               faults: frozenset[FaultKind]) -> None:  # the cycle is in run()
        return None


__all__ = ["BleCuffSim", "BleHeartRateSim", "BlePlxSim", "BleSim"]
