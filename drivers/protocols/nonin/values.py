"""What every Nonin format shares: the values that stand for "missing", how a frame's flags
make a reading's quality, and the bytes of a heart rate and an SpO2."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from drivers.protocols.base import worst_quality
from drivers.wire import Quality, ReadingValue

HR_MISSING = 511
SPO2_MISSING = 127

_INVALID = frozenset(
    {"sensor_disconnected", "sensor_alarm", "spo2_missing", "pulse_rate_missing"}
)
# Red perfusion (a weak pulse signal) is reported as ``low_perfusion`` too.
_QUESTIONABLE = frozenset({"artifact", "out_of_track", "low_perfusion"})


def quality(flags: Sequence[str], values: Mapping[str, ReadingValue]) -> Quality:
    """The worst quality the flags call for; ``invalid`` when no value is left."""
    qualities: list[Quality] = []
    for f in flags:
        if f in _INVALID:
            qualities.append("invalid")
        elif f in _QUESTIONABLE:
            qualities.append("questionable")
    return worst_quality(*qualities) if values else "invalid"


def protocol_name(fmt: int) -> str:
    """The protocol name of a data format (``nonin-2``)."""
    return f"nonin-{fmt}"


def spo2_value(byte: int) -> int | None:
    """An SpO2 byte as a value (None: missing)."""
    return None if byte == SPO2_MISSING else byte


def hr_bytes(value: int | None) -> tuple[int, int]:
    """A heart rate (None: missing) as its two 7-bit halves, most significant first."""
    v = HR_MISSING if value is None else value
    if not 0 <= v <= HR_MISSING:
        raise ValueError(f"heart rate {v} is outside 0..511")
    return v >> 7 & 0x03, v & 0x7F


def spo2_byte(value: int | None) -> int:
    """An SpO2 (None: missing) as its byte."""
    v = SPO2_MISSING if value is None else value
    if not (0 <= v <= 100 or v == SPO2_MISSING):
        raise ValueError(f"SpO2 {v} is outside 0..100")
    return v
