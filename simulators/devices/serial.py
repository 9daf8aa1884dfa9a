"""Simulated serial devices on a pseudo-terminal, sending the exact bytes of their protocol
(made by the codecs' encoders) for the patient's vitals on the shared clock.

* `NoninSim`: a Nonin OEM III oximeter in format #2, #7 or #8; it answers the format-select
  command (ACK, or NAK for a format it does not support) and switches format. Formats #2 and
  #7 stream 75 frames a second in packets of 25 (a packet every third of a second); the
  simulator writes a whole packet at once, at the device's own rate at speed 1 and at most
  ``max_hz`` packets a wall second at demo speeds (the demo uses #8 or ASCII instead: one
  4-byte frame or one line per simulated second is what a gateway sees from most
  bedside oximeters).
* `NoninAsciiSim`: the ASCII real-time output of the handheld and tabletop models.
* `MasimoSim`: a Masimo Rad-8 / Radical-7 serial line, one line a simulated second.
* `Hl7MonitorSim`: a multi-parameter monitor sending HL7 ORU^R01 over MLLP: SpO2 and heart
  rate every ``period_s``, a blood pressure every ``cuff_interval_min``; it reads the
  gateway's ACKs (counted in ``acks``).
"""

from __future__ import annotations

import math
import random
from datetime import datetime
from pathlib import Path

from drivers.protocols import hl7, masimo, nonin
from drivers.protocols.base import Measurement
from simulators.devices.base import SimContext, garbage
from simulators.devices.pty import PtyLine
from simulators.patient import Vitals
from simulators.scenario import DeviceKind, FaultKind


class SerialSim:
    """Base: a device writing its frames to a `PtyLine` at its pace, with the faults."""

    protocol = "serial"
    kinds: tuple[DeviceKind, ...] = ("oximeter",)
    period_s = 1.0
    printable_garbage = False

    def __init__(
        self,
        ctx: SimContext,
        path: str | Path,
        *,
        name: str = "oximeter",
        seed: int = 0,
        max_hz: float = 4.0,
        period_s: float | None = None,
    ) -> None:
        self.ctx = ctx
        self.name = name
        self.max_hz = max_hz
        if period_s is not None:
            self.period_s = period_s
        self.rng = random.Random(seed)
        self.line = PtyLine(path, on_receive=self.on_host)
        self.forced: set[FaultKind] = set()
        """Faults switched on by hand (tests, the command line), besides the scenario's."""
        self.sent = 0
        self.garbage_sent = 0

    @property
    def endpoint(self) -> str:
        return str(self.line.path)

    def faults(self, t: float) -> frozenset[FaultKind]:
        return self.ctx.faults(self.kinds, t) | self.forced

    def sim_period(self) -> float:
        return self.ctx.sim_period(self.period_s, self.max_hz)

    async def run(self) -> None:
        self.line.plug()
        try:
            async for when in self.ctx.cadence(self.sim_period):
                self.step(when)
        finally:
            self.line.close()

    def close(self) -> None:
        self.line.close()

    def step(self, now: datetime | None = None) -> None:
        """Send what the device sends at ``now`` (default: the clock's now)."""
        now = now or self.ctx.clock.now()
        t = self.ctx.t(now)
        faults = self.faults(t)
        if "disconnect" in faults:
            if self.line.plugged:
                self.line.unplug()
            return
        if not self.line.plugged:
            self.line.plug()
        if "dropout" in faults:
            return
        data = self.encode(now, t, self.ctx.vitals(t), faults)
        if "garbage" in faults:
            data = self.corrupt(data) + data
            self.garbage_sent += 1
        if data:
            self.line.write(data)
            self.sent += 1

    def encode(self, now: datetime, t: float, vitals: Vitals,
               faults: frozenset[FaultKind]) -> bytes:
        raise NotImplementedError

    def corrupt(self, good: bytes) -> bytes:
        """Noise sent before a good frame: random bytes, or for a line protocol a copy of
        the line with its first value garbled (so it is a bad line, not a banner)."""
        if not self.printable_garbage:
            return garbage(self.rng, self.rng.randint(6, 24))
        cut = good.find(b"=")
        if cut < 0:
            return garbage(self.rng, 12, printable=True) + b"\r\n"
        junk = garbage(self.rng, 3, printable=True).replace(b" ", b"#")
        return good[: cut + 1] + b"#" + junk + good[cut + 5:]

    def on_host(self, data: bytes) -> None:
        """Bytes the host (the gateway) wrote to the device."""


def _pleth(t: float, heart_rate: float, samples: int, period_s: float, top: int) -> list[int]:
    """A plethysmogram-like wave at the heart rate: ``samples`` points over ``period_s``."""
    out = []
    for i in range(samples):
        phase = 2 * math.pi * heart_rate / 60.0 * (t + i * period_s / samples)
        wave = 0.5 + 0.35 * math.sin(phase) + 0.15 * math.sin(2 * phase + 0.6)
        out.append(max(1, min(top, round(wave * top))))
    return out


class NoninSim(SerialSim):
    """A Nonin OEM III oximeter: format #2, #7 or #8, selectable by the host."""

    def __init__(
        self,
        ctx: SimContext,
        path: str | Path,
        *,
        fmt: int = 8,
        supported: tuple[int, ...] = (2, 7, 8),
        name: str = "oximeter",
        seed: int = 0,
        max_hz: float = 4.0,
        period_s: float | None = None,
    ) -> None:
        if fmt not in (2, 7, 8):
            raise ValueError(f"Nonin format {fmt} is not simulated (2, 7 or 8)")
        super().__init__(ctx, path, name=name, seed=seed, max_hz=max_hz, period_s=period_s)
        self.format = fmt
        self.selector = nonin.FormatSelectFramer(supported)
        self.selects: list[nonin.FormatSelect] = []
        self._explicit_period = period_s is not None

    @property
    def protocol(self) -> str:  # type: ignore[override]
        return f"nonin-{self.format}"

    def sim_period(self) -> float:
        if not self._explicit_period:
            self.period_s = 1.0 if self.format == 8 else 1.0 / 3.0
        return super().sim_period()

    def on_host(self, data: bytes) -> None:
        result = self.selector.feed(data)
        for frame in result.frames:
            if isinstance(frame, nonin.FormatSelect):
                self.selects.append(frame)
                if frame.accepted and frame.format in (2, 7, 8):
                    self.format = frame.format
        for reply in result.replies:
            self.line.write(reply)

    def encode(self, now: datetime, t: float, vitals: Vitals,
               faults: frozenset[FaultKind]) -> bytes:
        off = "sensor_off" in faults
        spo2 = None if off else round(vitals.spo2)
        pulse = None if off else round(vitals.heart_rate)
        if self.format == 8:
            return nonin.encode_format8(nonin.NoninFormat8(
                spo2=spo2,
                pulse_rate=pulse,
                sensor_disconnected=off,
                artifact=vitals.questionable and not off,
                low_perfusion=vitals.perfusion_index < 0.3 and not off,
            ))
        fmt: nonin.PacketFormat = 2 if self.format == 2 else 7
        status = nonin.STATUS_GREEN_PERFUSION
        if vitals.questionable:
            status |= nonin.STATUS_ARTIFACT
        if off:
            status = nonin.STATUS_SENSOR_DISCONNECTED | nonin.STATUS_SENSOR_ALARM
        top = 255 if fmt == 2 else 65535
        pleth = _pleth(t, vitals.heart_rate, nonin.FRAMES_PER_PACKET, 1.0 / 3.0, top)
        packet = nonin.build_packet(fmt, spo2=spo2, pulse_rate=pulse, status=status,
                                    pleth=pleth)
        return nonin.encode_packet(packet)


class NoninAsciiSim(SerialSim):
    """The ASCII real-time output: ``HH:MM:SS SPO2=097 HR=072`` once a second."""

    protocol = "nonin-ascii"
    printable_garbage = True

    def encode(self, now: datetime, t: float, vitals: Vitals,
               faults: frozenset[FaultKind]) -> bytes:
        off = "sensor_off" in faults
        return nonin.encode_ascii(nonin.NoninAsciiLine(
            spo2=None if off else round(vitals.spo2),
            pulse_rate=None if off else round(vitals.heart_rate),
            time=now.time().replace(microsecond=0, tzinfo=None),
        ))


class MasimoSim(SerialSim):
    """A Masimo serial line: ``MM/DD/YY HH:MM:SS SPO2=098% BPM=072 PI=03.45% ... EXC=...``."""

    protocol = "masimo"
    printable_garbage = True

    def __init__(self, ctx: SimContext, path: str | Path, *,
                 style: masimo.Style = "radical7", name: str = "oximeter", seed: int = 0,
                 max_hz: float = 4.0, period_s: float | None = None) -> None:
        super().__init__(ctx, path, name=name, seed=seed, max_hz=max_hz, period_s=period_s)
        self.style: masimo.Style = style

    def encode(self, now: datetime, t: float, vitals: Vitals,
               faults: frozenset[FaultKind]) -> bytes:
        off = "sensor_off" in faults
        exc = masimo.EXC_SET_MODE
        if off:
            exc |= 0x020  # sensor off
        elif vitals.questionable:
            exc |= 0x010  # interference
        line = masimo.MasimoLine(
            at=now.replace(tzinfo=None, microsecond=0),
            spo2=None if off else float(round(vitals.spo2)),
            pulse_rate=None if off else float(round(vitals.heart_rate)),
            perfusion_index=None if off else round(vitals.perfusion_index, 2),
            exceptions=exc,
            alarm=0,
            missing=("spo2", "pulse_rate", "perfusion_index") if off else (),
        )
        return masimo.encode_line(line, self.style)


class Hl7MonitorSim(SerialSim):
    """A multi-parameter monitor sending HL7 ORU^R01 messages over MLLP.

    Faults: ``disconnect`` and ``garbage`` of any of its parameters hit the whole line; a
    ``dropout`` or ``sensor_off`` leaves that parameter out of the messages (the whole
    monitor is silent only when every parameter has dropped out).
    """

    protocol = "hl7"
    kinds: tuple[DeviceKind, ...] = ("bp_cuff", "oximeter", "hr_monitor")
    period_s = 5.0

    def __init__(self, ctx: SimContext, path: str | Path, *,
                 cuff_interval_min: float = 5.0, name: str = "monitor", seed: int = 0,
                 max_hz: float = 4.0, period_s: float | None = None) -> None:
        super().__init__(ctx, path, name=name, seed=seed, max_hz=max_hz, period_s=period_s)
        self.cuff_interval_s = cuff_interval_min * 60.0
        self.control = 0
        self.acks: list[hl7.Ack] = []
        self._last_cuff: float | None = None
        self._inbox = bytearray()

    def faults(self, t: float) -> frozenset[FaultKind]:
        per_kind = self.ctx.patient.faults_at(t)
        line: set[FaultKind] = set(self.forced)
        for kind in self.kinds:
            line |= per_kind[kind] & {"disconnect", "garbage"}
        if all("dropout" in per_kind[kind] for kind in self.kinds):
            line.add("dropout")
        return frozenset(line)

    def encode(self, now: datetime, t: float, vitals: Vitals,
               faults: frozenset[FaultKind]) -> bytes:
        per_kind = self.ctx.patient.faults_at(t)

        def quiet(kind: DeviceKind) -> bool:
            return bool(per_kind[kind] & {"dropout", "sensor_off"})

        measurements: list[Measurement] = []
        if not quiet("oximeter"):
            measurements.append(Measurement(
                kind="spo2", unit="%", measured_at=now,
                values={"spo2": float(round(vitals.spo2)),
                        "pulse_rate": float(round(vitals.heart_rate))},
            ))
        if not quiet("hr_monitor"):
            measurements.append(Measurement(
                kind="heart_rate", unit="/min", measured_at=now,
                values={"heart_rate": float(round(vitals.heart_rate))},
            ))
        # The NIBP cycle starts with the session (the pre-dose reading), then every interval.
        due = t >= 0 and (self._last_cuff is None or t - self._last_cuff >= self.cuff_interval_s)
        if due and not quiet("bp_cuff"):
            self._last_cuff = t
            measurements.append(Measurement(
                kind="blood_pressure", unit="mm[Hg]", measured_at=now,
                values={"systolic": float(round(vitals.systolic)),
                        "diastolic": float(round(vitals.diastolic)),
                        "mean": float(round(vitals.mean)),
                        "pulse_rate": float(round(vitals.heart_rate))},
            ))
        if not measurements:
            return b""
        self.control += 1
        message = hl7.encode_oru(measurements, control_id=f"SIM{self.control:06d}", at=now,
                                 sending_application="CHAIRSIDE-SIM")
        return hl7.wrap_mllp(message)

    def on_host(self, data: bytes) -> None:
        self._inbox += data
        while True:
            start = self._inbox.find(hl7.START_BLOCK)
            if start < 0:
                self._inbox.clear()
                return
            end = self._inbox.find(hl7.END_BLOCK_CR, start)
            if end < 0:
                del self._inbox[:start]
                return
            block = bytes(self._inbox[start:end + 2])
            del self._inbox[:end + 2]
            try:
                self.acks.append(hl7.decode_ack(block))
            except ValueError:
                continue


__all__ = ["Hl7MonitorSim", "MasimoSim", "NoninAsciiSim", "NoninSim", "SerialSim"]
