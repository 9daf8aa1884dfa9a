"""What the engine keeps of a reading: its display value, its numbers, and its time.

A reading is judged by its device time unless that is further from the receive time than the
configured tolerance (a device with a wrong clock); then by the receive time, and it is
flagged ``clock_skew`` so the screen can say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import NamedTuple

from drivers.wire import MMHG_PER_KPA, NUMBER_TYPES, LatestValue, Reading, ReadingValue, Unit

CLOCK_SKEW_FLAG = "clock_skew"

@lru_cache(maxsize=4096)
def show_time(when: datetime) -> str:
    """A time as people read it in an alarm message: ``09:50:00Z`` (UTC, to the second)."""
    return when.astimezone(UTC).strftime("%H:%M:%SZ")
MANUAL_DEVICE = "manual"


class Sample(NamedTuple):
    """One number of one parameter, from one reading (or manual entry). (A named tuple: one
    is made for every parameter of every reading, and a frozen dataclass costs three times
    as much to make.)"""

    value: float
    at: datetime
    reading_id: str
    valid: bool
    """Quality ``valid`` (a ``questionable`` sample needs confirmation before it alarms)."""


@dataclass(frozen=True, slots=True)
class BpSample:
    """A blood pressure usable for BP checks, the baseline and discharge (never invalid)."""

    at: datetime
    systolic: float
    diastolic: float
    reading_id: str
    valid: bool = True


def effective_time(measured_at: datetime, received_at: datetime, skew_s: float) -> tuple[
    datetime, bool
]:
    """The time a reading counts at, and whether its device clock was off."""
    if abs((measured_at - received_at).total_seconds()) > skew_s:
        return received_at, True
    return measured_at, False


def latest_value(reading: Reading, skewed: bool, now: datetime) -> LatestValue:
    """The display form of a reading, aged at ``now``."""
    flags = list(reading.flags)
    if skewed:
        flags.append(CLOCK_SKEW_FLAG)
    at = reading.received_at if skewed else reading.measured_at
    return LatestValue(
        reading_id=reading.id,
        device=reading.device,
        values=dict(reading.values),
        unit=reading.unit,
        quality=reading.quality,
        flags=flags,
        measured_at=reading.measured_at,
        received_at=reading.received_at,
        age_s=age(at, now),
    )


@dataclass(slots=True)
class Shown:
    """The latest value of one kind as the chair keeps it: the reading it came from, made
    into its wire form only when a state is built (most readings are superseded before a
    state is published)."""

    reading_id: str
    at: datetime
    """The time it counts at (receive time when its device clock was off)."""
    reading: Reading | None = None
    skewed: bool = False
    value: LatestValue | None = None
    """The wire form, once built (or as restored)."""

    @classmethod
    def of(cls, value: LatestValue) -> Shown:
        return cls(value.reading_id, value_time(value), value=value)

    def wire(self, now: datetime) -> LatestValue:
        """The wire form aged at ``now``."""
        if self.value is None:
            assert self.reading is not None
            self.value = latest_value(self.reading, self.skewed, now)
        return aged(self.value, now)


def manual_bp_value(
    reading_id: str, at: datetime, systolic: float, diastolic: float, pulse: float | None,
    now: datetime,
) -> LatestValue:
    values: dict[str, ReadingValue] = {"systolic": systolic, "diastolic": diastolic}
    if pulse is not None:
        values["pulse_rate"] = pulse
    unit: Unit = "mm[Hg]"
    return LatestValue(
        reading_id=reading_id, device=MANUAL_DEVICE, values=values, unit=unit, quality="valid",
        flags=["manual"], measured_at=at, received_at=at, age_s=age(at, now),
    )


def value_time(value: LatestValue) -> datetime:
    """The time a shown value counts at (receive time when its device clock was off)."""
    return value.received_at if CLOCK_SKEW_FLAG in value.flags else value.measured_at


def aged(value: LatestValue, now: datetime) -> LatestValue:
    """The same value with its age at ``now`` (its fields were validated when it was made)."""
    return value.model_copy(update={"age_s": age(value_time(value), now)})


def age(at: datetime, now: datetime) -> float:
    return max(0.0, (now - at).total_seconds())


def parameters(reading: Reading) -> dict[str, float]:
    """The rule parameters a reading carries: pressures in mmHg, SpO2, heart rate."""
    return parameters_of(reading.kind, reading.values, reading.unit)


def parameters_of(kind: str, values: dict[str, ReadingValue], unit: Unit) -> dict[str, float]:
    """Rule parameters from a kind's values; a cuff's or oximeter's pulse counts as heart rate."""
    out: dict[str, float] = {}
    scale = MMHG_PER_KPA if unit == "kPa" else 1.0
    names = _PARAMETERS.get(kind, ())
    for field, parameter in names:
        value = values.get(field)
        if isinstance(value, NUMBER_TYPES):
            out[parameter] = value * scale if field in _PRESSURES else float(value)
    return out


_PRESSURES = frozenset({"systolic", "diastolic"})
_PARAMETERS: dict[str, tuple[tuple[str, str], ...]] = {
    "blood_pressure": (
        ("systolic", "systolic"), ("diastolic", "diastolic"), ("pulse_rate", "heart_rate"),
    ),
    "heart_rate": (("heart_rate", "heart_rate"),),
    "spo2": (("spo2", "spo2"), ("pulse_rate", "heart_rate")),
}


def shown_number(value: float) -> str:
    """A number as a screen shows it: whole numbers plain, others to one decimal."""
    rounded = round(value, 1)
    if rounded == int(rounded):
        return str(int(rounded))
    return f"{rounded:.1f}"
