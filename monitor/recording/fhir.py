"""A session's vital signs as a FHIR R4 Bundle of Observations (LOINC codes, UCUM units).

Each reading becomes one Observation following the FHIR vital-signs profiles: the blood
pressure panel with its systolic, diastolic and mean components, SpO2 coded both as pulse
oximetry and as arterial saturation, heart rate, and the oximeter's pulse rate apart from the
heart rate. Ids are derived from the readings' ids, so exporting twice gives the same bundle.
Pressures are given in mm[Hg] whatever unit the device used (the BP profile asks for it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from drivers.protocols.codes import BP_PANEL_LOINC, QUANTITIES
from drivers.wire import ManualBp, Reading, format_time

from .export import readings
from .wirelog import WireRecord

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
PROFILE = "http://hl7.org/fhir/StructureDefinition/"
PATIENT_CODE_SYSTEM = "urn:chairside:patient-code"
_NAMESPACE = uuid.UUID("5b1f7a0e-3c39-4c55-9a57-6b6f0f3c2d10")

# The LOINC codes come from the table the HL7 codec reads with (drivers.protocols.codes).
BP_PANEL = BP_PANEL_LOINC
SYSTOLIC = QUANTITIES["systolic"].loinc[0]
DIASTOLIC = QUANTITIES["diastolic"].loinc[0]
MEAN_BP = QUANTITIES["mean"].loinc[0]
SPO2_PULSE_OX, SPO2 = QUANTITIES["spo2"].loinc[:2]
HEART_RATE = QUANTITIES["heart_rate"].loinc[0]
PULSE_OX_RATE = QUANTITIES["oximeter_pulse_rate"].loinc[0]

MMHG = ("mm[Hg]", "mmHg")
PER_MIN = ("/min", "beats/minute")
PERCENT = ("%", "%")


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


def _concept(*codes: tuple[str, str], text: str) -> dict[str, Any]:
    return {
        "coding": [{"system": LOINC, "code": code, "display": display} for code, display in codes],
        "text": text,
    }


def _quantity(value: float, unit: tuple[str, str]) -> dict[str, Any]:
    return {"value": round(float(value), 1), "unit": unit[1], "system": UCUM, "code": unit[0]}


def _observation(
    ident: str, profile: str, code: dict[str, Any], subject: str, effective: datetime,
    issued: datetime, device: str | None,
) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": ident,
        "meta": {"profile": [PROFILE + profile]},
        "status": "final",
        "category": [{
            "coding": [{"system": CATEGORY, "code": "vital-signs", "display": "Vital Signs"}],
            "text": "Vital Signs",
        }],
        "code": code,
        "subject": {"reference": subject},
        "effectiveDateTime": format_time(effective),
        "issued": format_time(issued),
    }
    if device:
        obs["device"] = {"display": device}
    return obs


def observations(
    records: Iterable[WireRecord], subject: str
) -> list[dict[str, Any]]:
    """Observations for every usable reading and manual BP of a log."""
    out: list[dict[str, Any]] = []
    for record, item in readings(records):
        if isinstance(item, ManualBp):
            bp = _observation(
                _uuid(item.id, "bp"), "bp", _concept(BP_PANEL, text="Blood pressure"), subject,
                item.at, record.received_at, None,
            )
            bp["method"] = {"text": "manual, entered by " + item.by}
            bp["component"] = [
                {"code": _concept(SYSTOLIC, text="Systolic"),
                 "valueQuantity": _quantity(item.systolic, MMHG)},
                {"code": _concept(DIASTOLIC, text="Diastolic"),
                 "valueQuantity": _quantity(item.diastolic, MMHG)},
            ]
            out.append(bp)
            continue
        out.extend(_from_reading(item, subject))
    return out


def _from_reading(reading: Reading, subject: str) -> list[dict[str, Any]]:
    if reading.quality == "invalid":
        return []
    device = f"{reading.device} ({reading.source})"

    def obs(tag: str, profile: str, code: dict[str, Any]) -> dict[str, Any]:
        return _observation(_uuid(reading.id, tag), profile, code, subject,
                            reading.measured_at, reading.received_at, device)

    out: list[dict[str, Any]] = []
    if reading.kind == "blood_pressure":
        components = []
        for field, code, label in (("systolic", SYSTOLIC, "Systolic"),
                                   ("diastolic", DIASTOLIC, "Diastolic"),
                                   ("mean", MEAN_BP, "Mean")):
            value = reading.in_mmhg(field)
            if value is not None:
                components.append({"code": _concept(code, text=label),
                                   "valueQuantity": _quantity(value, MMHG)})
        if components:
            bp = obs("bp", "bp", _concept(BP_PANEL, text="Blood pressure"))
            bp["component"] = components
            out.append(bp)
        pulse = reading.number("pulse_rate")
        if pulse is not None:
            hr = obs("pulse", "heartrate", _concept(HEART_RATE, text="Pulse rate (BP cuff)"))
            hr["valueQuantity"] = _quantity(pulse, PER_MIN)
            out.append(hr)
    elif reading.kind == "heart_rate":
        value = reading.number("heart_rate")
        if value is not None:
            hr = obs("hr", "heartrate", _concept(HEART_RATE, text="Heart rate"))
            hr["valueQuantity"] = _quantity(value, PER_MIN)
            out.append(hr)
    elif reading.kind == "spo2":
        value = reading.number("spo2")
        if value is not None:
            sat = obs("spo2", "oxygensat",
                      _concept(SPO2_PULSE_OX, SPO2, text="SpO2 (pulse oximetry)"))
            sat["valueQuantity"] = _quantity(value, PERCENT)
            out.append(sat)
        pulse = reading.number("pulse_rate")
        if pulse is not None:
            pr = obs("pulse", "heartrate",
                     _concept(PULSE_OX_RATE, HEART_RATE, text="Pulse rate (oximeter)"))
            pr["valueQuantity"] = _quantity(pulse, PER_MIN)
            out.append(pr)
    return out


def bundle(records: list[WireRecord], patient_code: str | None) -> dict[str, Any]:
    """A ``collection`` Bundle: the patient (by pseudonymous code, or none when anonymised)
    and one Observation per vital sign."""
    seed = records[0].topic + format_time(records[0].received_at) if records else "empty"
    patient_id = _uuid(seed, "patient")
    patient: dict[str, Any] = {"resourceType": "Patient", "id": patient_id}
    if patient_code:
        patient["identifier"] = [{"system": PATIENT_CODE_SYSTEM, "value": patient_code}]
    subject = f"urn:uuid:{patient_id}"
    entries = [{"fullUrl": subject, "resource": patient}]
    for obs in observations(records, subject):
        entries.append({"fullUrl": f"urn:uuid:{obs['id']}", "resource": obs})
    out: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": _uuid(seed, "bundle"),
        "type": "collection",
        "entry": entries,
    }
    if records:
        out["timestamp"] = format_time(records[-1].received_at)
    return out
