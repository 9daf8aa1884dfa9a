"""The physically reportable range of every Reading value, in the reading's own unit: the
one source the wire model validates against and the codecs check decoded values with.

A value outside its range is a decoding or device fault, never a patient's state, so the
reading is refused (and a codec reports a ``FrameError`` at the value's offset instead).
"""

from __future__ import annotations

from typing import Literal

Unit = Literal["mm[Hg]", "kPa", "/min", "%"]

MMHG_PER_KPA = 7.50062
"""1 kPa in mmHg (BIPM); BLE blood-pressure devices may report in either unit."""

PRESSURE_FIELDS = frozenset({"systolic", "diastolic", "mean", "cuff_pressure"})
"""Value fields that are pressures, in mm[Hg] or kPa as the reading's unit says."""

PRESSURE_MMHG = (0.0, 400.0)

RANGES: dict[str, tuple[float, float]] = {
    "heart_rate": (0.0, 511.0),
    "pulse_rate": (0.0, 511.0),
    "spo2": (0.0, 100.0),
    "perfusion_index": (0.0, 100.0),
    "energy_expended": (0.0, 65535.0),
}
"""The ranges of the value fields that are not pressures (``rr_intervals`` is a list of
seconds, checked on its own)."""


def value_range(name: str, unit: Unit) -> tuple[float, float]:
    """The range the wire contract accepts for one value field in one unit."""
    if name in PRESSURE_FIELDS:
        low, high = PRESSURE_MMHG
        if unit == "kPa":
            return low / MMHG_PER_KPA, high / MMHG_PER_KPA
        return low, high
    return RANGES[name]


__all__ = ["MMHG_PER_KPA", "PRESSURE_FIELDS", "PRESSURE_MMHG", "RANGES", "Unit", "value_range"]
