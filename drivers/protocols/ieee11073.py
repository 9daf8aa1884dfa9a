"""IEEE 11073-20601 numbers and dates, as carried inside the Bluetooth SIG health
characteristics (GATT Specification Supplement, "SFLOAT", "FLOAT", "Date Time").

SFLOAT (16 bits): exponent = bits 15-12, 4-bit two's complement; mantissa = bits 11-0, 12-bit
two's complement; value = mantissa * 10**exponent. So bytes ``78 00`` are 120 and ``BD F0``
are 18.9. (A popular Python package reads the exponent with a bias of 8; that is wrong.)

The special values (NaN, NRes, +INF, -INF, reserved) are defined with exponent 0. They are
never turned into numbers: decoders return a ``Special`` marker, and the measurement leaves
the field out and carries a flag such as ``systolic_nan``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from drivers.protocols.base import FrameError

PROTOCOL = "ieee11073"


class Special(enum.Enum):
    """An IEEE 11073 special value. ``value`` is the flag suffix a measurement carries."""

    NAN = "nan"
    NRES = "nres"
    POSITIVE_INFINITY = "pos_inf"
    NEGATIVE_INFINITY = "neg_inf"
    RESERVED = "reserved"

    def flag(self, field_name: str) -> str:
        """The measurement flag for ``field_name`` holding this special, e.g. ``spo2_nan``."""
        return f"{field_name}_{self.value}"


Number = float | Special
"""A decoded SFLOAT or FLOAT: a number, or a special that must not be read as one."""

_SFLOAT_SPECIALS: dict[int, Special] = {
    0x07FF: Special.NAN,
    0x0800: Special.NRES,
    0x07FE: Special.POSITIVE_INFINITY,
    0x0802: Special.NEGATIVE_INFINITY,
    0x0801: Special.RESERVED,
}
_SFLOAT_RAW: dict[Special, int] = {v: k for k, v in _SFLOAT_SPECIALS.items()}

_FLOAT_SPECIALS: dict[int, Special] = {
    0x007FFFFF: Special.NAN,
    0x00800000: Special.NRES,
    0x007FFFFE: Special.POSITIVE_INFINITY,
    0x00800002: Special.NEGATIVE_INFINITY,
    0x00800001: Special.RESERVED,
}
_FLOAT_RAW: dict[Special, int] = {v: k for k, v in _FLOAT_SPECIALS.items()}

_SFLOAT_EXPONENTS = range(-8, 8)
_FLOAT_EXPONENTS = range(-128, 128)


def _scale(mantissa: int, exponent: int) -> float:
    # Dividing by an exact power of ten rounds once: 189 / 10 == 18.9, 189 * 0.1 does not.
    if exponent >= 0:
        return float(mantissa * int(10**exponent))
    return mantissa / int(10**-exponent)


def sfloat_from_raw(raw: int) -> Number:
    """The value of a 16-bit SFLOAT (as an unsigned int)."""
    special = _SFLOAT_SPECIALS.get(raw)
    if special is not None:
        return special
    exponent = raw >> 12
    if exponent >= 8:
        exponent -= 16
    mantissa = raw & 0x0FFF
    if mantissa >= 0x0800:
        mantissa -= 0x1000
    return _scale(mantissa, exponent)


def float_from_raw(raw: int) -> Number:
    """The value of a 32-bit FLOAT (as an unsigned int)."""
    special = _FLOAT_SPECIALS.get(raw)
    if special is not None:
        return special
    exponent = raw >> 24
    if exponent >= 0x80:
        exponent -= 0x100
    mantissa = raw & 0xFFFFFF
    if mantissa >= 0x800000:
        mantissa -= 0x1000000
    return _scale(mantissa, exponent)


def _mantissa_exponent(
    value: float, exponent: int | None, bits: int, exponents: range
) -> tuple[int, int]:
    """Mantissa and exponent for ``value``.

    The mantissas next to the specials (+-2046, 2047, -2048 for SFLOAT) are numbers when the
    exponent is not 0, but some decoders read them as specials whatever the exponent; they
    are used only when no other form is exact.
    """
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{value} must be encoded as a Special")
    exact = Decimal(repr(float(value)))
    safe = (1 << (bits - 1)) - 3  # 2045 for SFLOAT
    full = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)

    def limits(e: int, extended: bool) -> tuple[int, int]:
        return full if extended and e != 0 else (-safe, safe)

    def rounded(e: int, extended: bool) -> int | None:
        m = int(exact.scaleb(-e).to_integral_value(rounding=ROUND_HALF_EVEN))
        low, high = limits(e, extended)
        return m if low <= m <= high else None

    if exponent is not None:
        if exponent not in exponents:
            low, high = exponents.start, exponents.stop - 1
            raise ValueError(f"exponent {exponent} is outside {low}..{high}")
        m = rounded(exponent, extended=True)
        if m is None:
            raise ValueError(f"{value} does not fit a mantissa with exponent {exponent}")
        return m, exponent
    # Prefer an exact form with the exponent nearest 0 (120 -> 120e0, 18.9 -> 189e-1) ...
    for extended in (False, True):
        for e in sorted(exponents, key=lambda e: (abs(e), e)):
            scaled = exact.scaleb(-e)
            low, high = limits(e, extended)
            if scaled == scaled.to_integral_value() and low <= scaled <= high:
                return int(scaled), e
    # ... else the finest exponent that holds the value, rounded.
    for e in exponents:
        m = rounded(e, extended=False)
        if m is not None:
            return m, e
    raise ValueError(f"{value} is too large for this number format")


def sfloat_to_raw(value: Number, exponent: int | None = None) -> int:
    """The 16-bit SFLOAT of ``value``: a given ``exponent``, or the shortest exact form
    (rounded to the finest exponent when no form is exact). Raises ``ValueError``."""
    if isinstance(value, Special):
        return _SFLOAT_RAW[value]
    m, e = _mantissa_exponent(value, exponent, 12, _SFLOAT_EXPONENTS)
    return ((e & 0x0F) << 12) | (m & 0x0FFF)


def float_to_raw(value: Number, exponent: int | None = None) -> int:
    """The 32-bit FLOAT of ``value`` (see ``sfloat_to_raw``)."""
    if isinstance(value, Special):
        return _FLOAT_RAW[value]
    m, e = _mantissa_exponent(value, exponent, 24, _FLOAT_EXPONENTS)
    return ((e & 0xFF) << 24) | (m & 0xFFFFFF)


def _need(data: bytes, offset: int, size: int, what: str, protocol: str) -> None:
    if offset < 0 or offset + size > len(data):
        raise FrameError(
            protocol, min(max(offset, 0), len(data)),
            f"truncated {what}: needs {size} bytes, {max(len(data) - offset, 0)} left",
        )


def decode_sfloat(data: bytes, offset: int = 0, *, protocol: str = PROTOCOL) -> Number:
    """The little-endian SFLOAT at ``offset``."""
    _need(data, offset, 2, "SFLOAT", protocol)
    return sfloat_from_raw(data[offset] | data[offset + 1] << 8)


def decode_float(data: bytes, offset: int = 0, *, protocol: str = PROTOCOL) -> Number:
    """The little-endian FLOAT at ``offset``."""
    _need(data, offset, 4, "FLOAT", protocol)
    return float_from_raw(int.from_bytes(data[offset : offset + 4], "little"))


def encode_sfloat(value: Number, exponent: int | None = None) -> bytes:
    return sfloat_to_raw(value, exponent).to_bytes(2, "little")


@dataclass(frozen=True, slots=True)
class DateTime:
    """A Bluetooth SIG Date Time (7 bytes). ``None`` year, month or day: "not known".

    It has no time zone: the device's local clock.
    """

    year: int | None
    month: int | None
    day: int | None
    hours: int
    minutes: int
    seconds: int

    @property
    def complete(self) -> bool:
        return self.year is not None and self.month is not None and self.day is not None

    def to_datetime(self) -> datetime | None:
        """A naive datetime, or ``None`` when a part is unknown or the date does not exist."""
        if self.year is None or self.month is None or self.day is None:
            return None
        try:
            return datetime(
                self.year, self.month, self.day, self.hours, self.minutes, self.seconds
            )
        except ValueError:
            return None

    @classmethod
    def from_datetime(cls, value: datetime) -> DateTime:
        return cls(value.year, value.month, value.day, value.hour, value.minute, value.second)


DATE_TIME_SIZE = 7


def decode_date_time(data: bytes, offset: int = 0, *, protocol: str = PROTOCOL) -> DateTime:
    """The Date Time at ``offset``; a field out of its range is a ``FrameError``."""
    _need(data, offset, DATE_TIME_SIZE, "Date Time", protocol)
    year = data[offset] | data[offset + 1] << 8
    month, day, hours, minutes, seconds = data[offset + 2 : offset + 7]
    if year != 0 and not 1582 <= year <= 9999:
        raise FrameError(protocol, offset, f"year {year} is outside 1582..9999 (0 = unknown)")
    for rel, name, value, high in (
        (2, "month", month, 12),
        (3, "day", day, 31),
        (4, "hours", hours, 23),
        (5, "minutes", minutes, 59),
        (6, "seconds", seconds, 59),
    ):
        if value > high:
            raise FrameError(protocol, offset + rel, f"{name} {value} is above {high}")
    return DateTime(year or None, month or None, day or None, hours, minutes, seconds)


def encode_date_time(value: DateTime | datetime) -> bytes:
    if isinstance(value, datetime):
        value = DateTime.from_datetime(value)
    year = value.year or 0
    return year.to_bytes(2, "little") + bytes(
        (value.month or 0, value.day or 0, value.hours, value.minutes, value.seconds)
    )


__all__ = [
    "DATE_TIME_SIZE",
    "DateTime",
    "Number",
    "Special",
    "decode_date_time",
    "decode_float",
    "decode_sfloat",
    "encode_date_time",
    "encode_sfloat",
    "float_from_raw",
    "float_to_raw",
    "sfloat_from_raw",
    "sfloat_to_raw",
]
