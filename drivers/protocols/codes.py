"""The observation codes Chairside reads, in one table for every part that speaks them: the
HL7 codec reads messages with it and the FHIR export writes Observations with it.

A *quantity* is one thing a Reading can carry (NIBP systolic, SpO2, the oximeter's pulse
rate, ...): its Reading kind and field, its LOINC codes and the units it may come in. An MDC
code (IEEE 11073-10101) names one quantity; several codes may name the same one (NIBP
systolic is 150021 MDC_PRESS_BLD_NONINV_SYS, and some monitors send 150301
MDC_PRESS_CUFF_SYS). The numeric code identifies the observation; the reference id beside it
is a cross-check, and a reference id this table does not list for the code is noted, not
refused. ``docs/device-codes.md`` lists every code, alias and unit with its source.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.wire import Kind, Unit

PRESSURE_UNITS: frozenset[Unit] = frozenset({"mm[Hg]", "kPa"})
RATE_UNITS: frozenset[Unit] = frozenset({"/min"})
PERCENT_UNITS: frozenset[Unit] = frozenset({"%"})


@dataclass(frozen=True, slots=True)
class Quantity:
    """One thing a Reading carries. ``loinc``: (code, display) pairs, the preferred first;
    ``label``: how a screen names it when it cannot be read."""

    name: str
    kind: Kind
    field: str
    label: str
    units: frozenset[Unit]
    loinc: tuple[tuple[str, str], ...] = ()
    primary: bool = False
    """A reading of ``kind`` without any primary value is not usable (quality invalid)."""


@dataclass(frozen=True, slots=True)
class MdcCode:
    """An MDC code, its reference id, the other reference ids real devices send beside it,
    and the quantity it names."""

    code: str
    refid: str
    quantity: str
    aliases: tuple[str, ...] = ()

    def names(self) -> tuple[str, ...]:
        return (self.refid, *self.aliases)


_HR = ("8867-4", "Heart rate")
QUANTITIES: dict[str, Quantity] = {
    q.name: q
    for q in (
        Quantity("systolic", "blood_pressure", "systolic", "blood pressure (systolic)",
                 PRESSURE_UNITS, (("8480-6", "Systolic blood pressure"),), primary=True),
        Quantity("diastolic", "blood_pressure", "diastolic", "blood pressure (diastolic)",
                 PRESSURE_UNITS, (("8462-4", "Diastolic blood pressure"),), primary=True),
        Quantity("mean", "blood_pressure", "mean", "blood pressure (mean)",
                 PRESSURE_UNITS, (("8478-0", "Mean blood pressure"),)),
        Quantity("nibp_pulse_rate", "blood_pressure", "pulse_rate", "pulse rate (BP cuff)",
                 RATE_UNITS, (_HR,)),
        Quantity("spo2", "spo2", "spo2", "SpO2", PERCENT_UNITS,
                 (("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
                  ("2708-6", "Oxygen saturation in Arterial blood")), primary=True),
        Quantity("oximeter_pulse_rate", "spo2", "pulse_rate", "pulse rate (oximeter)",
                 RATE_UNITS, (("8889-8", "Heart rate by Pulse oximetry"), _HR)),
        Quantity("perfusion_index", "spo2", "perfusion_index", "perfusion index",
                 PERCENT_UNITS),
        Quantity("heart_rate", "heart_rate", "heart_rate", "heart rate", RATE_UNITS, (_HR,),
                 primary=True),
        Quantity("pulse_rate", "heart_rate", "heart_rate", "pulse rate", RATE_UNITS),
    )
}
"""Every quantity by name. ``pulse_rate`` is the generic MDC_PULS_RATE, placed by the codec
(with the cuff, with an oximeter, or standing as a heart rate)."""

BP_PANEL_MDC = MdcCode("150020", "MDC_PRESS_BLD_NONINV", "")
BP_PANEL_LOINC = ("85354-9", "Blood pressure panel with all children optional")

MDC_CODES: tuple[MdcCode, ...] = (
    MdcCode("150021", "MDC_PRESS_BLD_NONINV_SYS", "systolic"),
    MdcCode("150022", "MDC_PRESS_BLD_NONINV_DIA", "diastolic"),
    MdcCode("150023", "MDC_PRESS_BLD_NONINV_MEAN", "mean"),
    MdcCode("150301", "MDC_PRESS_CUFF_SYS", "systolic"),
    MdcCode("150302", "MDC_PRESS_CUFF_DIA", "diastolic"),
    MdcCode("150303", "MDC_PRESS_CUFF_MEAN", "mean"),
    MdcCode("149546", "MDC_PULS_RATE_NON_INV", "nibp_pulse_rate"),
    MdcCode("150456", "MDC_PULS_OXIM_SAT_O2", "spo2"),
    MdcCode("149530", "MDC_PULS_OXIM_PULS_RATE", "oximeter_pulse_rate"),
    MdcCode("150448", "MDC_PULS_OXIM_PERF_REL", "perfusion_index"),
    MdcCode("147842", "MDC_ECG_HEART_RATE", "heart_rate", ("MDC_ECG_CARD_BEAT_RATE",)),
    MdcCode("149514", "MDC_PULS_RATE", "pulse_rate"),
)
BY_MDC: dict[str, MdcCode] = {c.code: c for c in MDC_CODES}
BY_REFID: dict[str, MdcCode] = {name: c for c in MDC_CODES for name in c.names()}
BY_LOINC: dict[str, Quantity] = {}
for _q in QUANTITIES.values():
    if _q.name in ("nibp_pulse_rate", "pulse_rate"):
        continue  # their LOINC code is heart rate's: read as a heart rate
    for _code, _ in _q.loinc:
        if _code != _HR[0] or _q.name == "heart_rate":
            BY_LOINC[_code] = _q
"""LOINC codes as the alternate PCD-01 allows; 8867-4 (heart rate) reads as a heart rate."""

CONTAINER_CODES: dict[str, str] = {
    BP_PANEL_MDC.code: BP_PANEL_MDC.refid,
}
"""Codes of hierarchy levels (panels) that carry no value of their own."""

# --- units ------------------------------------------------------------------------------------

UNITS_MDC: dict[str, tuple[str, Unit]] = {
    "266016": ("MDC_DIM_MMHG", "mm[Hg]"),
    "265987": ("MDC_DIM_KILO_PASCAL", "kPa"),
    "262688": ("MDC_DIM_PERCENT", "%"),
    "264864": ("MDC_DIM_BEAT_PER_MIN", "/min"),
}
"""MDC unit code -> (reference id, the Reading's unit)."""
UNITS_MDC_BY_REFID: dict[str, tuple[str, Unit]] = {
    refid: (code, unit) for code, (refid, unit) in UNITS_MDC.items()
}
UNIT_MDC_CODE: dict[Unit, tuple[str, str]] = {u: (c, n) for c, (n, u) in UNITS_MDC.items()}

UNITS_UCUM: dict[str, Unit] = {
    "mm[Hg]": "mm[Hg]",
    "kPa": "kPa",
    "%": "%",
    "/min": "/min",
    "1/min": "/min",
    "{beat}/min": "/min",
    "{beats}/min": "/min",
    "{Beats}/min": "/min",
    "{pulse}/min": "/min",
}
"""UCUM codes (case-sensitive, as UCUM is), annotations included."""
UNITS_TEXT: dict[str, Unit] = {
    "mmhg": "mm[Hg]",
    "kpa": "kPa",
    "bpm": "/min",
    "beats/min": "/min",
    "beat/min": "/min",
}
"""Unit text that is not UCUM but names one unit only, as some monitors print it (read
case-insensitively)."""


def quantity_of(code: MdcCode) -> Quantity:
    return QUANTITIES[code.quantity]


__all__ = [
    "BP_PANEL_LOINC",
    "BP_PANEL_MDC",
    "BY_LOINC",
    "BY_MDC",
    "BY_REFID",
    "CONTAINER_CODES",
    "MDC_CODES",
    "PERCENT_UNITS",
    "PRESSURE_UNITS",
    "QUANTITIES",
    "RATE_UNITS",
    "UNITS_MDC",
    "UNITS_MDC_BY_REFID",
    "UNITS_TEXT",
    "UNITS_UCUM",
    "UNIT_MDC_CODE",
    "MdcCode",
    "Quantity",
    "quantity_of",
]
