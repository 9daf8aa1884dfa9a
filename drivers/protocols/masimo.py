"""Masimo pulse oximeters on a serial line (9600 baud, 8N1): one ASCII line a second, a date
and a time followed by ``KEY=VALUE`` tokens. Source: Masimo Rad-8 and Radical-7 operator's
manuals (serial interface, ASCII 1 and ASCII 2 modes).

Models and modes differ in which keys they send, in their order and spelling (``SpO2`` or
``SPO2``, ``PR`` or ``BPM``, ``%`` after a value or not), so the decoder reads tokens, not a
fixed pattern. Dashes (``---``, ``--.-``) mean the device has no value: the field is left out
and a flag says so. ``EXC`` (exceptions) and ``ALARM`` are hexadecimal bit fields, decoded to
flags; sensor problems make the measurement ``invalid``, signal problems ``questionable``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from drivers.protocols.base import FrameError, LineFramer, Measurement, check_value, worst_quality
from drivers.wire import Quality, ReadingValue, Unit

PROTOCOL = "masimo"

EXCEPTION_BITS: dict[int, str] = {
    0x001: "no_sensor",
    0x002: "defective_sensor",
    0x004: "low_perfusion",
    0x008: "pulse_search",
    0x010: "interference",
    0x020: "sensor_off",
    0x040: "ambient_light",
    0x080: "unrecognized_sensor",
    0x400: "low_signal_iq",
}
"""``EXC`` bits -> flags. 0x800 (SET mode, Masimo's normal signal processing) is no flag."""
EXC_SET_MODE = 0x800
_EXC_INVALID = frozenset({"no_sensor", "defective_sensor", "sensor_off", "unrecognized_sensor"})
_EXC_QUESTIONABLE = frozenset(
    {"low_perfusion", "pulse_search", "interference", "ambient_light", "low_signal_iq"}
)

ALARM_BITS: dict[int, str] = {
    0x0001: "alarm_spo2_high",
    0x0002: "alarm_spo2_low",
    0x0004: "alarm_pulse_rate_high",
}
"""``ALARM`` bits seen in practice; other set bits become ``alarm_bit_N``."""

# Value keys, upper-cased, -> the Reading field they fill.
_VALUE_KEYS: dict[str, str] = {
    "SPO2": "spo2",
    "PR": "pulse_rate",
    "BPM": "pulse_rate",
    "PI": "perfusion_index",
}
_DATE = re.compile(r"^(\d{2})/(\d{2})/(\d{2})$")
_TIME = re.compile(r"^(\d{2}):(\d{2}):(\d{2})$")
_TOKEN = re.compile(r"\S+")


def _is_dashes(value: str) -> bool:
    return bool(value) and set(value) <= set("-+.")


@dataclass(frozen=True, slots=True)
class MasimoLine:
    """One decoded line. ``at`` is the device's local clock (naive). ``missing`` lists the
    value fields the device sent as dashes. ``extra`` keeps the tokens this codec does not
    interpret (SpCO, SpMet, PVI, ...) in their order, as sent."""

    at: datetime
    spo2: float | None = None
    pulse_rate: float | None = None
    perfusion_index: float | None = None
    exceptions: int | None = None
    alarm: int | None = None
    serial_number: str | None = None
    missing: tuple[str, ...] = ()
    extra: tuple[tuple[str, str | None], ...] = field(default=())

    @property
    def set_mode(self) -> bool:
        return self.exceptions is not None and bool(self.exceptions & EXC_SET_MODE)

    @property
    def flags(self) -> tuple[str, ...]:
        names = [f"{name}_missing" for name in self.missing]
        known = EXC_SET_MODE
        if self.exceptions is not None:
            for bit, name in EXCEPTION_BITS.items():
                known |= bit
                if self.exceptions & bit:
                    names.append(name)
            names.extend(
                f"exception_bit_{b}" for b in range(32) if (self.exceptions & ~known) >> b & 1
            )
        if self.alarm is not None:
            known_alarm = 0
            for bit, name in ALARM_BITS.items():
                known_alarm |= bit
                if self.alarm & bit:
                    names.append(name)
            names.extend(
                f"alarm_bit_{b}" for b in range(32) if (self.alarm & ~known_alarm) >> b & 1
            )
        return tuple(names)

    def to_measurement(self) -> Measurement:
        values: dict[str, ReadingValue] = {}
        for name in ("spo2", "pulse_rate", "perfusion_index"):
            value = getattr(self, name)
            if value is not None:
                values[name] = value
        flags = self.flags
        qualities: list[Quality] = []
        for f in flags:
            if f in _EXC_INVALID or f in ("spo2_missing", "pulse_rate_missing"):
                qualities.append("invalid")
            elif f in _EXC_QUESTIONABLE:
                qualities.append("questionable")
        quality = worst_quality(*qualities) if values else "invalid"
        return Measurement(
            kind="spo2", values=values, unit="%", flags=flags, quality=quality, measured_at=self.at
        )


def is_data_line(line: bytes) -> bool:
    """Whether a line carries oximetry (the device may also print banners and headers)."""
    upper = line.upper()
    return b"SPO2=" in upper or b"BPM=" in upper or b"PR=" in upper


def decode_line(line: bytes) -> MasimoLine:
    """One line (its line end may be included)."""
    text = line.decode("latin-1")
    tokens = [(m.group(), m.start()) for m in _TOKEN.finditer(text)]
    if len(tokens) < 2:
        raise FrameError(PROTOCOL, 0, "a line starts with a date and a time")
    (date_s, date_at), (time_s, time_at) = tokens[0], tokens[1]
    dm, tm = _DATE.match(date_s), _TIME.match(time_s)
    if not dm:
        raise FrameError(PROTOCOL, date_at, f"{date_s!r} is not a date MM/DD/YY")
    if not tm:
        raise FrameError(PROTOCOL, time_at, f"{time_s!r} is not a time HH:MM:SS")
    month, day, year = (int(x) for x in dm.groups())
    hours, minutes, seconds = (int(x) for x in tm.groups())
    try:
        at = datetime(2000 + year, month, day, hours, minutes, seconds)
    except ValueError as e:
        raise FrameError(PROTOCOL, date_at, f"{date_s} {time_s}: {e}") from None

    values: dict[str, float] = {}
    missing: list[str] = []
    exceptions: int | None = None
    alarm: int | None = None
    serial: str | None = None
    extra: list[tuple[str, str | None]] = []
    for token, start in tokens[2:]:
        key, sep, value = token.partition("=")
        if not sep:
            extra.append((token, None))
            continue
        upper = key.upper()
        value_at = start + len(key) + 1
        if upper in _VALUE_KEYS:
            name = _VALUE_KEYS[upper]
            if name in values or name in missing:
                raise FrameError(PROTOCOL, start, f"{name} appears twice")
            number = value.removesuffix("%")
            if _is_dashes(number):
                missing.append(name)
                continue
            try:
                parsed = float(number)
            except ValueError:
                raise FrameError(PROTOCOL, value_at, f"{key}={value!r} is not a number") from None
            unit: Unit = "/min" if name == "pulse_rate" else "%"
            values[name] = check_value(PROTOCOL, value_at, name, parsed, unit)
        elif upper in ("EXC", "ALARM"):
            digits = value.split(":", 1)[0]
            if _is_dashes(digits):
                continue
            try:
                bits = int(digits, 16)
            except ValueError:
                reason = f"{key}={value!r} is not hexadecimal"
                raise FrameError(PROTOCOL, value_at, reason) from None
            if upper == "EXC":
                exceptions = bits
            else:
                alarm = bits
        elif upper == "SN":
            serial = value
        else:
            extra.append((key, value))
    if not values and not missing:
        raise FrameError(PROTOCOL, 0, "no SpO2, pulse rate or PI token")
    return MasimoLine(
        at=at,
        spo2=values.get("spo2"),
        pulse_rate=values.get("pulse_rate"),
        perfusion_index=values.get("perfusion_index"),
        exceptions=exceptions,
        alarm=alarm,
        serial_number=serial,
        missing=tuple(missing),
        extra=tuple(extra),
    )


Style = Literal["rad8", "radical7"]


def encode_line(line: MasimoLine, style: Style = "radical7") -> bytes:
    """The line as the device prints it, ending in CR LF.

    ``rad8``: ``SpO2=097 PR=069 PI=04.69 EXC=000800``; ``radical7``: ``SN=... SPO2=098%
    BPM=072 PI=03.45% ... ALARM=0000 EXC=000800`` (``%`` after percentages).
    """
    pct = "%" if style == "radical7" else ""
    keys = ("SPO2", "BPM", "PI") if style == "radical7" else ("SpO2", "PR", "PI")
    parts = [line.at.strftime("%m/%d/%y %H:%M:%S")]
    if line.serial_number is not None:
        parts.append(f"SN={line.serial_number}")

    def number(name: str, value: float | None, dashes: str, fmt: str, suffix: str) -> None:
        key = keys[("spo2", "pulse_rate", "perfusion_index").index(name)]
        if value is None:
            if name in line.missing:
                parts.append(f"{key}={dashes}{suffix}")
            return
        parts.append(f"{key}={value:{fmt}}{suffix}")

    number("spo2", line.spo2, "---", "03.0f", pct)
    number("pulse_rate", line.pulse_rate, "---", "03.0f", "")
    number("perfusion_index", line.perfusion_index, "--.--", "05.2f", pct)
    parts.extend(k if v is None else f"{k}={v}" for k, v in line.extra)
    if line.alarm is not None:
        parts.append(f"ALARM={line.alarm:04X}")
    if line.exceptions is not None:
        parts.append(f"EXC={line.exceptions:06X}")
    return " ".join(parts).encode("latin-1") + b"\r\n"


def framer() -> LineFramer:
    """Framer (``base.Framer``) for the line stream; banner lines are ``stats.ignored``."""
    return LineFramer(PROTOCOL, decode_line, lambda line: [line.to_measurement()], is_data_line)


__all__ = [
    "ALARM_BITS",
    "EXCEPTION_BITS",
    "MasimoLine",
    "decode_line",
    "encode_line",
    "framer",
    "is_data_line",
]
