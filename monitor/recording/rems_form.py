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

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any, Literal

from . import pages
from .report_model import AssessmentRecord, BpValue, SessionReport

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


def _local(when: datetime | None, tz: tzinfo | None, fmt: str = "%H:%M") -> str:
    return "" if when is None else when.astimezone(tz).strftime(fmt)


def _bp_text(item: BpValue | None, tz: tzinfo | None) -> str:
    if item is None:
        return ""
    return f"{item.systolic:g}/{item.diastolic:g} mmHg at {_local(item.at, tz)}"


def _minutes(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    return f"{(end - start).total_seconds() / 60:.0f}"


def _typed(report: SessionReport | Mapping[str, Any]) -> SessionReport:
    """A report, from its model or from its JSON form."""
    return report if isinstance(report, SessionReport) else SessionReport.model_validate(report)


def fields(report: SessionReport | Mapping[str, Any], tz: tzinfo | None = None
           ) -> list[Field]:
    """Every field of the form, from a report (`monitor.recording.report.build`), or its JSON
    form."""
    r = _typed(report)
    s, bp, d = r.session, r.blood_pressure, r.discharge
    concomitant = set(s.concomitant)
    assessments = r.assessments
    sedated = [a for a in assessments if a.sedation == "present"]
    dissociated = [a for a in assessments if a.dissociation == "present"]
    depressed = [a for a in assessments if a.respiration == "depressed"]
    low = r.spo2.min
    below = "; ".join(f"{b.minutes:g} min below {b.limit:g} %" for b in r.spo2.below)
    oximetry = (f"SpO2 lowest {low.value:g} % at {_local(low.at, tz)}; {below}; "
                f"{r.spo2.readings} readings" if low else "no SpO2 reading recorded")
    spo2_alarms = [a for a in r.alarms if a.condition in ("spo2_low", "spo2_missing")]

    def seen(items: list[AssessmentRecord]) -> str:
        if not assessments:
            return ""
        return "Yes" if items else "No"

    def when(items: list[AssessmentRecord]) -> str:
        times = ", ".join(_local(a.at, tz) for a in items)
        n = len(assessments)
        return (f"{n} assessment{'' if n == 1 else 's'} recorded"
                + (f"; present at {times}" if times else ""))

    dose = s.dose_mg
    dose_text = "" if dose is None else ("56 mg" if dose == 56 else "84 mg" if dose == 84
                                         else f"other: {dose:g} mg")
    out = [
        Field("Patient", "Patient name, date of birth, REMS patient ID", "", "clinic",
              f"Chairside holds only the pseudonymous code {s.patient_code}"),
        Field("Patient", "First treatment session?", "", "clinic"),
        Field("Setting", "Healthcare setting, prescriber and monitoring healthcare provider",
              "", "clinic", f"discharged by {d.by}" if d.by else ""),
        Field("Treatment", "Date of treatment session", _local(s.started_at, tz, "%Y-%m-%d"),
              "session"),
        Field("Treatment", "Dose", dose_text, "session",
              f"{s.doses_given} nasal devices given"),
        Field("Treatment", "Lot number", s.lot or "", "session" if s.lot else "clinic"),
    ]
    out += [Field("Concomitant medicines", label, "Yes" if key in concomitant else "No",
                  "session", "recorded at session start") for key, label in MEDICINES]
    out += [
        Field("Monitoring", "Total minutes from the 1st device administration to completion "
              "of monitoring", "" if s.monitoring_min is None else f"{s.monitoring_min:g}",
              "session", f"first device {_local(s.first_dose_at, tz)}, end "
              f"{_local(s.ended_at, tz) or 'not yet'}"),
        Field("Monitoring", "If there were no 2-hour minimum, when would this patient have "
              "been ready to leave (minutes from the start of administration)",
              _minutes(s.first_dose_at, s.ready_without_minimum_at), "session",
              "the first moment every discharge condition but the minimum time held"
              + (f" ({_local(s.ready_without_minimum_at, tz)})"
                 if s.ready_without_minimum_at else ": never")),
        Field("Vital signs", "Blood pressure before dosing", _bp_text(bp.pre_dose, tz),
              "session"),
        Field("Vital signs", "Blood pressure about 40 minutes after dosing",
              _bp_text(bp.at_40_min, tz), "session"),
        Field("Vital signs", "Blood pressure before completion of monitoring",
              _bp_text(bp.pre_discharge, tz), "session"),
        Field("Vital signs", "Vital signs acceptable before dosing?", "", "clinician",
              f"pre-dose BP {_bp_text(bp.pre_dose, tz) or 'not recorded'}"),
        Field("Vital signs", "Vital signs acceptable before completion of monitoring?", "",
              "clinician", f"last BP {_bp_text(bp.pre_discharge, tz) or 'not recorded'}; "
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

def render(report: SessionReport | Mapping[str, Any], *, tz: tzinfo | None = None,
           now: datetime | None = None) -> str:
    """One printable page (A4 and Letter both fit): the form's fields, each with where its
    value comes from; yellow where the clinic or a clinician must complete it. The page is
    ``templates/rems_form.html.j2``."""
    r = _typed(report)
    due_text = ""
    if r.session.ended_at is not None and now is not None:
        deadline, left = due(r.session.ended_at, now)
        state = f"{left} days left" if left >= 0 else f"OVERDUE by {-left} days"
        due_text = f"Due by {deadline.astimezone(tz):%Y-%m-%d} ({state})."
    sections: dict[str, list[Field]] = {}
    for f in fields(r, tz):
        sections.setdefault(f.section, []).append(f)
    return pages.render(
        "rems_form.html.j2", chair=r.chair,
        started=_local(r.session.started_at, tz, "%Y-%m-%d %H:%M"), due=due_text,
        sections=sections, notes=SOURCE_NOTE) + "\n"
