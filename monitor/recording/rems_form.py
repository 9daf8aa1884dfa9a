"""The Spravato REMS Patient Monitoring Form, field for field, from a session's report.

The form is filed by the clinic within 7 days of each treatment session (it is not filed
for inpatient settings). Chairside fills what the session's record holds and names the
evidence; a field it does not hold (the patient's identity, the prescriber, serious adverse
events) is left for the clinic, and a field that is a clinician's judgement (were the
vitals acceptable) carries the evidence and waits for the clinician's tick. It never
submits the form.

Fields follow the form's published instructions (the November 2021 form and the
manufacturer's walkthrough of the current one): identity and setting; date, dose and lot;
concomitant medicines (benzodiazepines, non-benzodiazepine sedative hypnotics,
psychostimulants, MAOIs, opioids); total minutes from the first device to the end of
monitoring; when the patient would have been ready to leave without the 2-hour minimum,
in minutes from the start of administration; BP before dosing, at about 40 minutes and
before the end; sedation, dissociation and respiratory depression.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from html import escape
from typing import Any, Literal

from drivers.wire import parse_time

FILE_WITHIN_DAYS = 7

Source = Literal["session", "clinic", "clinician"]
"""Where a field's value comes from: the session's record; the clinic (Chairside does not
hold it); a clinician's judgement, with the record's evidence beside it."""

MEDICINES = (
    ("benzodiazepine", "Benzodiazepines"),
    ("non_benzodiazepine_sedative_hypnotic", "Non-benzodiazepine sedative hypnotics"),
    ("psychostimulant", "Psychostimulants"),
    ("maoi", "Monoamine oxidase inhibitors (MAOIs)"),
    ("opioid", "Opioids"),
)


@dataclass(frozen=True, slots=True)
class Field:
    section: str
    label: str
    value: str
    source: Source
    evidence: str = ""


def _time(value: str | None) -> datetime | None:
    return None if value is None else parse_time(value)


def _local(value: str | None, tz: tzinfo | None, fmt: str = "%H:%M") -> str:
    when = _time(value)
    return "" if when is None else when.astimezone(tz).strftime(fmt)


def _bp(item: dict[str, Any] | None, tz: tzinfo | None) -> str:
    if item is None:
        return ""
    return f"{item['systolic']:g}/{item['diastolic']:g} mmHg at {_local(item['at'], tz)}"


def _minutes(start: str | None, end: str | None) -> str:
    a, b = _time(start), _time(end)
    if a is None or b is None:
        return ""
    return f"{(b - a).total_seconds() / 60:.0f}"


def fields(data: dict[str, Any], tz: tzinfo | None = None) -> list[Field]:
    """Every field of the form, from a report's JSON (`monitor.recording.report.build`)."""
    s, bp, d = data["session"], data["blood_pressure"], data["discharge"]
    concomitant = set(s["concomitant"])
    assessments = data["assessments"]
    sedated = [a for a in assessments if a["sedation"] == "present"]
    dissociated = [a for a in assessments if a["dissociation"] == "present"]
    depressed = [a for a in assessments if a["respiration"] == "depressed"]
    spo2 = data["spo2"]
    low = spo2["min"]
    below = "; ".join(f"{b['minutes']:g} min below {b['limit']:g} %" for b in spo2["below"])
    oximetry = (f"SpO2 lowest {low['value']:g} % at {_local(low['at'], tz)}; {below}; "
                f"{spo2['readings']} readings" if low else "no SpO2 reading recorded")
    spo2_alarms = [a for a in data["alarms"] if a["condition"] in ("spo2_low", "spo2_missing")]

    def seen(items: list[dict[str, Any]]) -> str:
        if not assessments:
            return ""
        return "Yes" if items else "No"

    def when(items: list[dict[str, Any]]) -> str:
        times = ", ".join(_local(a["at"], tz) for a in items)
        n = len(assessments)
        return (f"{n} assessment{'' if n == 1 else 's'} recorded"
                + (f"; present at {times}" if times else ""))

    dose = s["dose_mg"]
    dose_text = "" if dose is None else ("56 mg" if dose == 56 else "84 mg" if dose == 84
                                         else f"other: {dose:g} mg")
    out = [
        Field("Patient", "Patient name, date of birth, REMS patient ID", "", "clinic",
              f"Chairside holds only the pseudonymous code {s['patient_code']}"),
        Field("Patient", "First treatment session?", "", "clinic"),
        Field("Setting", "Healthcare setting, prescriber and monitoring healthcare provider",
              "", "clinic", f"discharged by {d['by']}" if d["by"] else ""),
        Field("Treatment", "Date of treatment session", _local(s["started_at"], tz, "%Y-%m-%d"),
              "session"),
        Field("Treatment", "Dose", dose_text, "session",
              f"{s['doses_given']} nasal devices given"),
        Field("Treatment", "Lot number", s["lot"] or "", "session" if s["lot"] else "clinic"),
    ]
    out += [Field("Concomitant medicines", label, "Yes" if key in concomitant else "No",
                  "session", "recorded at session start") for key, label in MEDICINES]
    out += [
        Field("Monitoring", "Total minutes from the 1st device administration to completion "
              "of monitoring", "" if s["monitoring_min"] is None else f"{s['monitoring_min']:g}",
              "session", f"first device {_local(s['first_dose_at'], tz)}, end "
              f"{_local(s['ended_at'], tz) or 'not yet'}"),
        Field("Monitoring", "If there were no 2-hour minimum, when would this patient have "
              "been ready to leave (minutes from the start of administration)",
              _minutes(s["first_dose_at"], s["ready_without_minimum_at"]), "session",
              "the first moment every discharge condition but the minimum time held"
              + (f" ({_local(s['ready_without_minimum_at'], tz)})"
                 if s["ready_without_minimum_at"] else ": never")),
        Field("Vital signs", "Blood pressure before dosing", _bp(bp["pre_dose"], tz),
              "session"),
        Field("Vital signs", "Blood pressure about 40 minutes after dosing",
              _bp(bp["at_40_min"], tz), "session"),
        Field("Vital signs", "Blood pressure before completion of monitoring",
              _bp(bp["pre_discharge"], tz), "session"),
        Field("Vital signs", "Vital signs acceptable before dosing?", "", "clinician",
              f"pre-dose BP {_bp(bp['pre_dose'], tz) or 'not recorded'}"),
        Field("Vital signs", "Vital signs acceptable before completion of monitoring?", "",
              "clinician", f"last BP {_bp(bp['pre_discharge'], tz) or 'not recorded'}; "
              f"{oximetry}"),
        Field("Adverse effects", "Sedation during the session", seen(sedated), "session",
              when(sedated)),
        Field("Adverse effects", "Dissociation during the session", seen(dissociated),
              "session", when(dissociated)),
        Field("Adverse effects", "Respiratory depression during the session", seen(depressed),
              "session", when(depressed) + f"; pulse oximetry: {oximetry}; "
              f"{len(spo2_alarms)} SpO2 alarms"),
        Field("Adverse effects", "Serious adverse events", "", "clinic"),
    ]
    return out


def due(ended_at: datetime, now: datetime) -> tuple[datetime, int]:
    """When the form for a session that ended at ``ended_at`` is due, and the whole days
    left at ``now`` (negative: overdue)."""
    deadline = ended_at + timedelta(days=FILE_WITHIN_DAYS)
    return deadline, (deadline - now) // timedelta(days=1)


SOURCE_NOTE: dict[Source, str] = {
    "session": "from the session's record",
    "clinic": "for the clinic to fill",
    "clinician": "for the clinician to confirm",
}

CSS = """
@page { size: A4; margin: 14mm; }
@media print { @page { size: auto; } body { margin: 0; } tr { break-inside: avoid; } }
body { font-family: sans-serif; font-size: 11px; margin: 16px; max-width: 190mm; }
h1 { font-size: 16px; margin: 0 0 4px; } h2 { font-size: 12px; margin: 10px 0 2px; }
table { border-collapse: collapse; width: 100%; }
td { border: 1px solid #999; padding: 2px 5px; vertical-align: top; }
td.label { width: 42%; } td.value { width: 24%; font-weight: bold; }
tr.clinic td.value, tr.clinician td.value { background: #fff8d6; }
.note { color: #555; font-size: 10px; }
"""


def render(data: dict[str, Any], *, tz: tzinfo | None = None,
           now: datetime | None = None) -> str:
    """One printable page (A4 and Letter both fit): the form's fields, each with where its
    value comes from; yellow where the clinic or a clinician must complete it."""
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             "<title>Spravato REMS Patient Monitoring Form</title>",
             f"<style>{CSS}</style></head><body>",
             "<h1>Spravato REMS Patient Monitoring Form: the session's answers</h1>",
             f"<p class='note'>Chair {escape(data['chair'])}, session of "
             f"{escape(_local(data['session']['started_at'], tz, '%Y-%m-%d %H:%M'))}. "
             "Copy into the REMS form; Chairside does not submit it."]
    ended = _time(data["session"]["ended_at"])
    if ended is not None and now is not None:
        deadline, left = due(ended, now)
        state = f"{left} days left" if left >= 0 else f"OVERDUE by {-left} days"
        parts.append(f" Due by {deadline.astimezone(tz):%Y-%m-%d} ({state}).")
    parts.append("</p>")
    section = ""
    for f in fields(data, tz):
        if f.section != section:
            if section:
                parts.append("</table>")
            section = f.section
            parts.append(f"<h2>{escape(section)}</h2><table>")
        parts.append(
            f"<tr class='{f.source}' data-source='{f.source}'><td class='label'>"
            f"{escape(f.label)}</td><td class='value'>{escape(f.value) or '&nbsp;'}</td>"
            f"<td>{escape(SOURCE_NOTE[f.source])}"
            + (f"<br><span class='note'>{escape(f.evidence)}</span>" if f.evidence else "")
            + "</td></tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts) + "\n"
