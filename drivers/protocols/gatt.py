"""Bluetooth SIG health characteristics: blood pressure, heart rate, pulse oximetry.

Layouts follow the Bluetooth SIG GATT Specification Supplement and the service specs (Blood
Pressure Service 1.1, Heart Rate Service 1.0, Pulse Oximeter Service 1.0). All multi-byte
fields are little-endian; numbers are IEEE 11073-20601 SFLOATs (``ieee11073``).

Each characteristic has a ``decode_*`` (bytes -> typed dataclass), a ``to_measurement`` method
on that dataclass, and an ``encode_*`` (dataclass -> bytes) for the simulators. The flags
byte is never stored: encoders derive it from which optional fields are set, so a decoded
frame re-encodes to the same bytes (SFLOAT exponents aside). Bits a spec reserves for future
use are ignored on decode, as the specs require, and encoded as 0.

None of these characteristics may carry bytes after its last field; such bytes, and frames
cut short, are a ``FrameError`` at the offending offset. A value outside what the wire
contract accepts (SpO2 140 %) is a ``FrameError`` too, never a Reading.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Literal

from drivers.protocols.base import FrameError, Measurement, check_value, worst_quality
from drivers.protocols.ieee11073 import (
    DATE_TIME_SIZE,
    DateTime,
    Number,
    Special,
    decode_date_time,
    decode_sfloat,
    encode_date_time,
    encode_sfloat,
)
from drivers.wire import Quality, ReadingValue, Unit

PressureUnit = Literal["mm[Hg]", "kPa"]


# --- bit tables -----------------------------------------------------------------------------

BP_STATUS_BITS: dict[int, str] = {
    0: "body_movement",
    1: "cuff_loose",
    2: "irregular_pulse",
    5: "improper_position",
}
"""Blood pressure Measurement Status bits -> flag names (bits 3-4: pulse rate range)."""
_BP_PULSE_RANGE = {
    1: "pulse_rate_above_range",
    2: "pulse_rate_below_range",
    3: "pulse_rate_range_reserved",
}
_BP_QUESTIONABLE = frozenset({"body_movement", "cuff_loose", "improper_position"})

PLX_MEASUREMENT_STATUS_BITS: dict[int, str] = {
    5: "measurement_ongoing",
    6: "early_estimated_data",
    7: "validated_data",
    8: "fully_qualified_data",
    9: "data_from_storage",
    10: "demonstration_data",
    11: "testing_data",
    12: "calibration_ongoing",
    13: "measurement_unavailable",
    14: "questionable_measurement",
    15: "invalid_measurement",
}
PLX_DEVICE_STATUS_BITS: dict[int, str] = {
    0: "extended_display_update_ongoing",
    1: "equipment_malfunction",
    2: "signal_processing_irregularity",
    3: "inadequate_signal",
    4: "poor_signal",
    5: "low_perfusion",
    6: "erratic_signal",
    7: "non_pulsatile_signal",
    8: "questionable_pulse",
    9: "signal_analysis_ongoing",
    10: "sensor_interference",
    11: "sensor_off",
    12: "unknown_sensor",
    13: "sensor_displaced",
    14: "sensor_malfunction",
    15: "sensor_disconnected",
}
"""Device and Sensor Status bits. Bit 11, "sensor unconnected to user", is ``sensor_off``."""

# The device itself says the number is not to be used ...
_PLX_INVALID = frozenset(
    {
        "invalid_measurement",
        "measurement_unavailable",
        "equipment_malfunction",
        "sensor_off",
        "sensor_malfunction",
        "sensor_disconnected",
    }
)
# ... or that it may be off (including demonstration and test data, which are not a patient's).
_PLX_QUESTIONABLE = frozenset(
    {
        "questionable_measurement",
        "early_estimated_data",
        "calibration_ongoing",
        "demonstration_data",
        "testing_data",
        "signal_processing_irregularity",
        "inadequate_signal",
        "poor_signal",
        "low_perfusion",
        "erratic_signal",
        "non_pulsatile_signal",
        "questionable_pulse",
        "sensor_interference",
        "unknown_sensor",
        "sensor_displaced",
    }
)


def bit_names(value: int, table: dict[int, str]) -> tuple[str, ...]:
    """The names of the bits set in ``value`` that ``table`` knows, in bit order."""
    return tuple(name for bit, name in sorted(table.items()) if value >> bit & 1)


def bits_from_names(names: Iterable[str], table: dict[int, str]) -> int:
    """The inverse of ``bit_names``; an unknown name is a ``ValueError``."""
    index = {name: bit for bit, name in table.items()}
    value = 0
    for name in names:
        if name not in index:
            raise ValueError(f"unknown status name {name!r}; known: {sorted(index)}")
        value |= 1 << index[name]
    return value


# --- reading helpers ------------------------------------------------------------------------


class _Reader:
    """Walks a frame, turning every short read into a ``FrameError`` at the right offset."""

    __slots__ = ("data", "offset", "protocol")

    def __init__(self, protocol: str, data: bytes) -> None:
        self.protocol = protocol
        self.data = data
        self.offset = 0

    def error(self, reason: str, offset: int | None = None) -> FrameError:
        return FrameError(self.protocol, self.offset if offset is None else offset, reason)

    def need(self, size: int, what: str) -> int:
        start = self.offset
        if start + size > len(self.data):
            raise self.error(
                f"truncated: {what} needs {size} bytes, {len(self.data) - start} left"
            )
        self.offset += size
        return start

    def uint(self, size: int, what: str) -> int:
        start = self.need(size, what)
        return int.from_bytes(self.data[start : start + size], "little")

    def sfloat(self, what: str) -> tuple[Number, int]:
        start = self.need(2, what)
        return decode_sfloat(self.data, start, protocol=self.protocol), start

    def date_time(self) -> DateTime:
        start = self.need(DATE_TIME_SIZE, "time stamp")
        return decode_date_time(self.data, start, protocol=self.protocol)

    def end(self) -> None:
        if self.offset != len(self.data):
            extra = len(self.data) - self.offset
            raise self.error(f"{extra} byte(s) after the last field")


def _checked(
    r: _Reader, value: Number, offset: int, name: str, unit: Unit
) -> Number:
    if isinstance(value, Special):
        return value
    return check_value(r.protocol, offset, name, value, unit)


def _put(
    values: dict[str, ReadingValue], flags: list[str], name: str, value: Number | None
) -> None:
    if value is None:
        return
    if isinstance(value, Special):
        flags.append(value.flag(name))
    else:
        values[name] = value


def _quality(
    flags: Iterable[str], invalid: frozenset[str], questionable: frozenset[str]
) -> Quality:
    qualities: list[Quality] = []
    for f in flags:
        if f in invalid:
            qualities.append("invalid")
        elif f in questionable:
            qualities.append("questionable")
    return worst_quality(*qualities)


def _finish(quality: Quality, values: dict[str, ReadingValue]) -> Quality:
    # The wire contract: a reading without numbers is not usable.
    return quality if values else "invalid"


def _time_fields(
    timestamp: DateTime | None, clock_not_set: bool = False
) -> tuple[list[str], datetime | None]:
    """Flags and device time. A clock the device says is not set gives no time at all."""
    flags: list[str] = []
    if clock_not_set:
        flags.append("device_clock_not_set")
        return flags, None
    if timestamp is None:
        return flags, None
    at = timestamp.to_datetime()
    if at is None:
        flags.append("timestamp_incomplete" if not timestamp.complete else "timestamp_invalid")
    return flags, at


# --- 0x2A35 Blood Pressure Measurement, 0x2A36 Intermediate Cuff Pressure --------------------


@dataclass(frozen=True, slots=True)
class BloodPressureMeasurement:
    """0x2A35. ``status``: the raw Measurement Status (see ``BP_STATUS_BITS``)."""

    systolic: Number
    diastolic: Number
    mean: Number
    unit: PressureUnit = "mm[Hg]"
    timestamp: DateTime | None = None
    pulse_rate: Number | None = None
    user_id: int | None = None
    status: int | None = None

    @property
    def status_flags(self) -> tuple[str, ...]:
        return _bp_status_flags(self.status)

    def to_measurement(self) -> Measurement:
        values: dict[str, ReadingValue] = {}
        flags, at = _time_fields(self.timestamp)
        for name in ("systolic", "diastolic", "mean", "pulse_rate"):
            _put(values, flags, name, getattr(self, name))
        status = self.status_flags
        flags.extend(status)
        quality = _quality(status, frozenset(), _BP_QUESTIONABLE)
        return Measurement(
            kind="blood_pressure",
            values=values,
            unit=self.unit,
            flags=tuple(flags),
            quality=_finish(quality, values),
            measured_at=at,
        )


@dataclass(frozen=True, slots=True)
class IntermediateCuffPressure:
    """0x2A36: the same layout as 0x2A35. The first SFLOAT is the cuff pressure (the other
    two are unused); the pulse rate, when the cuff sends it, goes into the Reading too."""

    cuff_pressure: Number
    unit: PressureUnit = "mm[Hg]"
    timestamp: DateTime | None = None
    pulse_rate: Number | None = None
    user_id: int | None = None
    status: int | None = None

    @property
    def status_flags(self) -> tuple[str, ...]:
        return _bp_status_flags(self.status)

    def to_measurement(self) -> Measurement:
        values: dict[str, ReadingValue] = {}
        flags, at = _time_fields(self.timestamp)
        _put(values, flags, "cuff_pressure", self.cuff_pressure)
        _put(values, flags, "pulse_rate", self.pulse_rate)
        status = self.status_flags
        flags.extend(status)
        quality = _quality(status, frozenset(), _BP_QUESTIONABLE)
        return Measurement(
            kind="cuff_pressure",
            values=values,
            unit=self.unit,
            flags=tuple(flags),
            quality=_finish(quality, values),
            measured_at=at,
        )


def _bp_status_flags(status: int | None) -> tuple[str, ...]:
    if status is None:
        return ()
    names = list(bit_names(status, BP_STATUS_BITS))
    pulse_range = status >> 3 & 3
    if pulse_range:
        names.append(_BP_PULSE_RANGE[pulse_range])
    return tuple(names)


class BpFlag(enum.IntFlag):
    """The flags byte of 0x2A35 and 0x2A36: the unit, and which optional fields follow."""

    KPA = 0x01
    TIME_STAMP = 0x02
    PULSE_RATE = 0x04
    USER_ID = 0x08
    MEASUREMENT_STATUS = 0x10


def _decode_bp_common(protocol: str, data: bytes, intermediate: bool) -> tuple[
    PressureUnit, list[Number], DateTime | None, Number | None, int | None, int | None
]:
    r = _Reader(protocol, data)
    flags = r.uint(1, "flags")
    unit: PressureUnit = "kPa" if flags & BpFlag.KPA else "mm[Hg]"
    pressures: list[Number] = []
    names = ("cuff_pressure", "unused", "unused") if intermediate else (
        "systolic", "diastolic", "mean"
    )
    for name in names:
        value, at = r.sfloat(name)
        if name != "unused":
            value = _checked(r, value, at, name, unit)
        pressures.append(value)
    timestamp = r.date_time() if flags & BpFlag.TIME_STAMP else None
    pulse: Number | None = None
    if flags & BpFlag.PULSE_RATE:
        value, at = r.sfloat("pulse rate")
        pulse = _checked(r, value, at, "pulse_rate", "/min")
    user = r.uint(1, "user ID") if flags & BpFlag.USER_ID else None
    status = r.uint(2, "measurement status") if flags & BpFlag.MEASUREMENT_STATUS else None
    r.end()
    return unit, pressures, timestamp, pulse, user, status


def decode_blood_pressure(data: bytes) -> BloodPressureMeasurement:
    """0x2A35 Blood Pressure Measurement."""
    unit, (sys_, dia, mean), ts, pulse, user, status = _decode_bp_common("ble-2a35", data, False)
    return BloodPressureMeasurement(sys_, dia, mean, unit, ts, pulse, user, status)


def decode_intermediate_cuff_pressure(data: bytes) -> IntermediateCuffPressure:
    """0x2A36 Intermediate Cuff Pressure (kind ``cuff_pressure``)."""
    unit, (cuff, _, _), ts, pulse, user, status = _decode_bp_common("ble-2a36", data, True)
    return IntermediateCuffPressure(cuff, unit, ts, pulse, user, status)


def _encode_bp_common(
    unit: PressureUnit,
    pressures: tuple[Number, Number, Number],
    timestamp: DateTime | None,
    pulse_rate: Number | None,
    user_id: int | None,
    status: int | None,
) -> bytes:
    flags = (
        (BpFlag.KPA if unit == "kPa" else 0)
        | (BpFlag.TIME_STAMP if timestamp is not None else 0)
        | (BpFlag.PULSE_RATE if pulse_rate is not None else 0)
        | (BpFlag.USER_ID if user_id is not None else 0)
        | (BpFlag.MEASUREMENT_STATUS if status is not None else 0)
    )
    out = bytearray([flags])
    for p in pressures:
        out += encode_sfloat(p)
    if timestamp is not None:
        out += encode_date_time(timestamp)
    if pulse_rate is not None:
        out += encode_sfloat(pulse_rate)
    if user_id is not None:
        out.append(user_id)
    if status is not None:
        out += status.to_bytes(2, "little")
    return bytes(out)


def encode_blood_pressure(m: BloodPressureMeasurement) -> bytes:
    return _encode_bp_common(
        m.unit, (m.systolic, m.diastolic, m.mean), m.timestamp, m.pulse_rate, m.user_id, m.status
    )


def encode_intermediate_cuff_pressure(m: IntermediateCuffPressure) -> bytes:
    """The unused diastolic and mean fields are sent as NaN, as the spec asks."""
    return _encode_bp_common(
        m.unit,
        (m.cuff_pressure, Special.NAN, Special.NAN),
        m.timestamp,
        m.pulse_rate,
        m.user_id,
        m.status,
    )


# --- 0x2A49 Blood Pressure Feature ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BloodPressureFeature:
    """0x2A49: what the cuff can detect and support (read once at connection)."""

    body_movement_detection: bool = False
    cuff_fit_detection: bool = False
    irregular_pulse_detection: bool = False
    pulse_rate_range_detection: bool = False
    measurement_position_detection: bool = False
    multiple_bonds: bool = False
    e2e_crc: bool = False
    user_data_service: bool = False
    user_facing_time: bool = False

    def as_dict(self) -> dict[str, bool]:
        return {f.name: bool(getattr(self, f.name)) for f in fields(self)}


def decode_blood_pressure_feature(data: bytes) -> BloodPressureFeature:
    r = _Reader("ble-2a49", data)
    bits = r.uint(2, "features")
    r.end()
    names = [f.name for f in fields(BloodPressureFeature)]
    return BloodPressureFeature(**{name: bool(bits >> i & 1) for i, name in enumerate(names)})


def encode_blood_pressure_feature(f: BloodPressureFeature) -> bytes:
    bits = sum(1 << i for i, field_ in enumerate(fields(f)) if getattr(f, field_.name))
    return bits.to_bytes(2, "little")


# --- 0x2A37 Heart Rate Measurement -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeartRateMeasurement:
    """0x2A37. ``rr_intervals`` are raw, in 1/1024 s; ``rr_seconds`` converts them.

    ``uint16`` records the value format the device used, so a frame re-encodes unchanged.
    """

    heart_rate: int
    sensor_contact_supported: bool = False
    sensor_contact_detected: bool = False
    energy_expended: int | None = None
    rr_intervals: tuple[int, ...] = ()
    uint16: bool = False

    @property
    def rr_seconds(self) -> tuple[float, ...]:
        return tuple(rr / 1024 for rr in self.rr_intervals)

    def to_measurement(self) -> Measurement:
        values: dict[str, ReadingValue] = {"heart_rate": float(self.heart_rate)}
        flags: list[str] = []
        quality: Quality = "valid"
        if self.sensor_contact_supported and not self.sensor_contact_detected:
            # The strap is not on the skin: whatever number it sends is not a heart beat.
            flags.append("no_sensor_contact")
            quality = "questionable"
        if self.energy_expended is not None:
            values["energy_expended"] = float(self.energy_expended)
        if self.rr_intervals:
            values["rr_intervals"] = list(self.rr_seconds)
        return Measurement(
            kind="heart_rate", values=values, unit="/min", flags=tuple(flags), quality=quality
        )


class HeartRateFlag(enum.IntFlag):
    """The flags byte of 0x2A37: the value's width, sensor contact, and which optional fields
    follow."""

    UINT16 = 0x01
    CONTACT_DETECTED = 0x02
    CONTACT_SUPPORTED = 0x04
    ENERGY_EXPENDED = 0x08
    RR_INTERVALS = 0x10


def decode_heart_rate(data: bytes) -> HeartRateMeasurement:
    """0x2A37 Heart Rate Measurement."""
    r = _Reader("ble-2a37", data)
    flags = r.uint(1, "flags")
    wide = bool(flags & HeartRateFlag.UINT16)
    at = r.offset
    hr = r.uint(2 if wide else 1, "heart rate")
    check_value(r.protocol, at, "heart_rate", hr, "/min")
    energy = r.uint(2, "energy expended") if flags & HeartRateFlag.ENERGY_EXPENDED else None
    rr: list[int] = []
    if flags & HeartRateFlag.RR_INTERVALS:
        if r.offset == len(data):
            raise r.error("RR-interval flag set but no RR-interval follows")
        while r.offset < len(data):
            rr.append(r.uint(2, "RR-interval"))
    r.end()
    return HeartRateMeasurement(
        heart_rate=hr,
        sensor_contact_supported=bool(flags & HeartRateFlag.CONTACT_SUPPORTED),
        sensor_contact_detected=bool(flags & HeartRateFlag.CONTACT_DETECTED),
        energy_expended=energy,
        rr_intervals=tuple(rr),
        uint16=wide,
    )


def encode_heart_rate(m: HeartRateMeasurement) -> bytes:
    wide = m.uint16 or m.heart_rate > 0xFF
    flags = (
        (HeartRateFlag.UINT16 if wide else 0)
        | (HeartRateFlag.CONTACT_DETECTED if m.sensor_contact_detected else 0)
        | (HeartRateFlag.CONTACT_SUPPORTED if m.sensor_contact_supported else 0)
        | (HeartRateFlag.ENERGY_EXPENDED if m.energy_expended is not None else 0)
        | (HeartRateFlag.RR_INTERVALS if m.rr_intervals else 0)
    )
    out = bytearray([flags])
    out += m.heart_rate.to_bytes(2 if wide else 1, "little")
    if m.energy_expended is not None:
        out += m.energy_expended.to_bytes(2, "little")
    for rr in m.rr_intervals:
        out += rr.to_bytes(2, "little")
    return bytes(out)


# --- 0x2A5E PLX Spot-Check, 0x2A5F PLX Continuous ----------------------------------------------


def _plx_measurement(
    spo2: Number,
    pulse_rate: Number,
    pai: Number | None,
    measurement_status: int | None,
    device_status: int | None,
    timestamp: DateTime | None = None,
    clock_not_set: bool = False,
) -> Measurement:
    values: dict[str, ReadingValue] = {}
    flags, at = _time_fields(timestamp, clock_not_set)
    _put(values, flags, "spo2", spo2)
    _put(values, flags, "pulse_rate", pulse_rate)
    _put(values, flags, "perfusion_index", pai)
    status: list[str] = []
    if measurement_status is not None:
        status.extend(bit_names(measurement_status, PLX_MEASUREMENT_STATUS_BITS))
    if device_status is not None:
        status.extend(bit_names(device_status, PLX_DEVICE_STATUS_BITS))
    flags.extend(status)
    quality = _quality(status, _PLX_INVALID, _PLX_QUESTIONABLE)
    return Measurement(
        kind="spo2",
        values=values,
        unit="%",
        flags=tuple(flags),
        quality=_finish(quality, values),
        measured_at=at,
    )


@dataclass(frozen=True, slots=True)
class PlxSpotCheck:
    """0x2A5E. ``pulse_amplitude_index`` (PAI, %) becomes the Reading's ``perfusion_index``."""

    spo2: Number
    pulse_rate: Number
    timestamp: DateTime | None = None
    measurement_status: int | None = None
    device_status: int | None = None
    pulse_amplitude_index: Number | None = None
    device_clock_not_set: bool = False

    def to_measurement(self) -> Measurement:
        return _plx_measurement(
            self.spo2,
            self.pulse_rate,
            self.pulse_amplitude_index,
            self.measurement_status,
            self.device_status,
            self.timestamp,
            self.device_clock_not_set,
        )


@dataclass(frozen=True, slots=True)
class PlxContinuous:
    """0x2A5F. The Reading carries the normal SpO2PR; fast and slow stay in this result."""

    spo2: Number
    pulse_rate: Number
    spo2_fast: Number | None = None
    pulse_rate_fast: Number | None = None
    spo2_slow: Number | None = None
    pulse_rate_slow: Number | None = None
    measurement_status: int | None = None
    device_status: int | None = None
    pulse_amplitude_index: Number | None = None

    def to_measurement(self) -> Measurement:
        return _plx_measurement(
            self.spo2,
            self.pulse_rate,
            self.pulse_amplitude_index,
            self.measurement_status,
            self.device_status,
        )


def _spo2_pr(r: _Reader, suffix: str = "") -> tuple[Number, Number]:
    spo2, at = r.sfloat("SpO2" + suffix)
    spo2 = _checked(r, spo2, at, "spo2", "%")
    pr, at = r.sfloat("PR" + suffix)
    pr = _checked(r, pr, at, "pulse_rate", "/min")
    return spo2, pr


def _plx_tail(r: _Reader, has_status: bool, has_device: bool, has_pai: bool) -> tuple[
    int | None, int | None, Number | None
]:
    status = r.uint(2, "measurement status") if has_status else None
    device = r.uint(3, "device and sensor status") if has_device else None
    pai: Number | None = None
    if has_pai:
        value, at = r.sfloat("pulse amplitude index")
        pai = _checked(r, value, at, "perfusion_index", "%")
    r.end()
    return status, device, pai


class SpotCheckFlag(enum.IntFlag):
    """The flags byte of 0x2A5E: which optional fields follow, and the clock's state."""

    TIME_STAMP = 0x01
    MEASUREMENT_STATUS = 0x02
    DEVICE_STATUS = 0x04
    PULSE_AMPLITUDE_INDEX = 0x08
    CLOCK_NOT_SET = 0x10


class ContinuousFlag(enum.IntFlag):
    """The flags byte of 0x2A5F: which optional fields follow."""

    SPO2PR_FAST = 0x01
    SPO2PR_SLOW = 0x02
    MEASUREMENT_STATUS = 0x04
    DEVICE_STATUS = 0x08
    PULSE_AMPLITUDE_INDEX = 0x10


def decode_plx_spot_check(data: bytes) -> PlxSpotCheck:
    """0x2A5E PLX Spot-Check Measurement."""
    r = _Reader("ble-2a5e", data)
    flags = r.uint(1, "flags")
    spo2, pr = _spo2_pr(r)
    ts = r.date_time() if flags & SpotCheckFlag.TIME_STAMP else None
    status, device, pai = _plx_tail(r, bool(flags & SpotCheckFlag.MEASUREMENT_STATUS),
                                    bool(flags & SpotCheckFlag.DEVICE_STATUS),
                                    bool(flags & SpotCheckFlag.PULSE_AMPLITUDE_INDEX))
    return PlxSpotCheck(spo2, pr, ts, status, device, pai,
                        bool(flags & SpotCheckFlag.CLOCK_NOT_SET))


def decode_plx_continuous(data: bytes) -> PlxContinuous:
    """0x2A5F PLX Continuous Measurement."""
    r = _Reader("ble-2a5f", data)
    flags = r.uint(1, "flags")
    spo2, pr = _spo2_pr(r)
    none: tuple[Number | None, Number | None] = (None, None)
    fast = _spo2_pr(r, " fast") if flags & ContinuousFlag.SPO2PR_FAST else none
    slow = _spo2_pr(r, " slow") if flags & ContinuousFlag.SPO2PR_SLOW else none
    status, device, pai = _plx_tail(r, bool(flags & ContinuousFlag.MEASUREMENT_STATUS),
                                    bool(flags & ContinuousFlag.DEVICE_STATUS),
                                    bool(flags & ContinuousFlag.PULSE_AMPLITUDE_INDEX))
    return PlxContinuous(
        spo2=spo2,
        pulse_rate=pr,
        spo2_fast=fast[0],
        pulse_rate_fast=fast[1],
        spo2_slow=slow[0],
        pulse_rate_slow=slow[1],
        measurement_status=status,
        device_status=device,
        pulse_amplitude_index=pai,
    )


def _encode_plx_tail(status: int | None, device: int | None, pai: Number | None) -> bytes:
    out = bytearray()
    if status is not None:
        out += status.to_bytes(2, "little")
    if device is not None:
        out += device.to_bytes(3, "little")
    if pai is not None:
        out += encode_sfloat(pai)
    return bytes(out)


def encode_plx_spot_check(m: PlxSpotCheck) -> bytes:
    flags = (
        (SpotCheckFlag.TIME_STAMP if m.timestamp is not None else 0)
        | (SpotCheckFlag.MEASUREMENT_STATUS if m.measurement_status is not None else 0)
        | (SpotCheckFlag.DEVICE_STATUS if m.device_status is not None else 0)
        | (SpotCheckFlag.PULSE_AMPLITUDE_INDEX if m.pulse_amplitude_index is not None else 0)
        | (SpotCheckFlag.CLOCK_NOT_SET if m.device_clock_not_set else 0)
    )
    out = bytearray([flags]) + encode_sfloat(m.spo2) + encode_sfloat(m.pulse_rate)
    if m.timestamp is not None:
        out += encode_date_time(m.timestamp)
    out += _encode_plx_tail(m.measurement_status, m.device_status, m.pulse_amplitude_index)
    return bytes(out)


def encode_plx_continuous(m: PlxContinuous) -> bytes:
    """Fast and slow values go in pairs: set both of a pair or neither."""
    fast = (m.spo2_fast, m.pulse_rate_fast)
    slow = (m.spo2_slow, m.pulse_rate_slow)
    for name, pair in (("fast", fast), ("slow", slow)):
        if (pair[0] is None) != (pair[1] is None):
            raise ValueError(f"SpO2PR-{name} needs both SpO2 and PR")
    flags = (
        (ContinuousFlag.SPO2PR_FAST if fast[0] is not None else 0)
        | (ContinuousFlag.SPO2PR_SLOW if slow[0] is not None else 0)
        | (ContinuousFlag.MEASUREMENT_STATUS if m.measurement_status is not None else 0)
        | (ContinuousFlag.DEVICE_STATUS if m.device_status is not None else 0)
        | (ContinuousFlag.PULSE_AMPLITUDE_INDEX if m.pulse_amplitude_index is not None else 0)
    )
    out = bytearray([flags]) + encode_sfloat(m.spo2) + encode_sfloat(m.pulse_rate)
    for pair in (fast, slow):
        if pair[0] is not None and pair[1] is not None:
            out += encode_sfloat(pair[0]) + encode_sfloat(pair[1])
    out += _encode_plx_tail(m.measurement_status, m.device_status, m.pulse_amplitude_index)
    return bytes(out)


# --- 0x2A60 PLX Features -----------------------------------------------------------------------

PLX_FEATURE_BITS: dict[int, str] = {
    0: "measurement_status_support",
    1: "device_status_support",
    2: "spot_check_storage",
    3: "spot_check_timestamp",
    4: "spo2pr_fast",
    5: "spo2pr_slow",
    6: "pulse_amplitude_index",
    7: "multiple_bonds",
}


class PlxFeatureFlag(enum.IntFlag):
    """The bits of 0x2A60 that say which status-support fields follow (all its bits are
    named in ``PLX_FEATURE_BITS``)."""

    MEASUREMENT_STATUS_SUPPORT = 0x01
    DEVICE_STATUS_SUPPORT = 0x02


@dataclass(frozen=True, slots=True)
class PlxFeatures:
    """0x2A60. ``supported_*_status``: the status names the oximeter can report (empty when
    it does not say, i.e. when the matching ``*_support`` feature is off)."""

    features: frozenset[str]
    supported_measurement_status: frozenset[str] = frozenset()
    supported_device_status: frozenset[str] = frozenset()

    def as_dict(self) -> dict[str, bool | dict[str, bool]]:
        out: dict[str, bool | dict[str, bool]] = {
            name: name in self.features for name in PLX_FEATURE_BITS.values()
        }
        if "measurement_status_support" in self.features:
            out["supported_measurement_status"] = {
                name: name in self.supported_measurement_status
                for name in PLX_MEASUREMENT_STATUS_BITS.values()
            }
        if "device_status_support" in self.features:
            out["supported_device_status"] = {
                name: name in self.supported_device_status
                for name in PLX_DEVICE_STATUS_BITS.values()
            }
        return out


def decode_plx_features(data: bytes) -> PlxFeatures:
    r = _Reader("ble-2a60", data)
    bits = r.uint(2, "features")
    features = frozenset(bit_names(bits, PLX_FEATURE_BITS))
    status = (r.uint(2, "measurement status support")
              if bits & PlxFeatureFlag.MEASUREMENT_STATUS_SUPPORT else 0)
    device = (r.uint(3, "device and sensor status support")
              if bits & PlxFeatureFlag.DEVICE_STATUS_SUPPORT else 0)
    r.end()
    return PlxFeatures(
        features,
        frozenset(bit_names(status, PLX_MEASUREMENT_STATUS_BITS)),
        frozenset(bit_names(device, PLX_DEVICE_STATUS_BITS)),
    )


def encode_plx_features(f: PlxFeatures) -> bytes:
    bits = bits_from_names(f.features, PLX_FEATURE_BITS)
    out = bytearray(bits.to_bytes(2, "little"))
    if bits & PlxFeatureFlag.MEASUREMENT_STATUS_SUPPORT:
        status = bits_from_names(f.supported_measurement_status, PLX_MEASUREMENT_STATUS_BITS)
        out += status.to_bytes(2, "little")
    if bits & PlxFeatureFlag.DEVICE_STATUS_SUPPORT:
        device = bits_from_names(f.supported_device_status, PLX_DEVICE_STATUS_BITS)
        out += device.to_bytes(3, "little")
    return bytes(out)


GattMeasurement = (
    BloodPressureMeasurement
    | IntermediateCuffPressure
    | HeartRateMeasurement
    | PlxSpotCheck
    | PlxContinuous
)


def to_measurements(result: GattMeasurement) -> list[Measurement]:
    """The Measurement of a decoded measurement characteristic (always exactly one)."""
    return [result.to_measurement()]


__all__ = [
    "BP_STATUS_BITS",
    "PLX_DEVICE_STATUS_BITS",
    "PLX_FEATURE_BITS",
    "PLX_MEASUREMENT_STATUS_BITS",
    "BloodPressureFeature",
    "BloodPressureMeasurement",
    "BpFlag",
    "ContinuousFlag",
    "GattMeasurement",
    "HeartRateFlag",
    "HeartRateMeasurement",
    "IntermediateCuffPressure",
    "PlxContinuous",
    "PlxFeatureFlag",
    "PlxFeatures",
    "PlxSpotCheck",
    "SpotCheckFlag",
    "bit_names",
    "bits_from_names",
    "decode_blood_pressure",
    "decode_blood_pressure_feature",
    "decode_heart_rate",
    "decode_intermediate_cuff_pressure",
    "decode_plx_continuous",
    "decode_plx_features",
    "decode_plx_spot_check",
    "encode_blood_pressure",
    "encode_blood_pressure_feature",
    "encode_heart_rate",
    "encode_intermediate_cuff_pressure",
    "encode_plx_continuous",
    "encode_plx_features",
    "encode_plx_spot_check",
    "to_measurements",
]
