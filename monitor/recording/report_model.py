"""The session report's JSON form as models: their JSON Schema is the report's contract.

``chairside schema report`` prints it and ``docs/report.schema.json`` holds it. Keys are
stable: a key is never renamed or removed without a new ``report_version``; new keys may be
added. Every key is always present; a value that is not known is null. Times are ISO 8601
strings in UTC with milliseconds (``2026-01-05T09:44:00.000Z``); pressures are in mmHg,
heart rate in /min, SpO2 in %.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from drivers.wire import UtcTime

REPORT_VERSION = 1

Time = Annotated[
    UtcTime,
    WithJsonSchema({"type": "string", "format": "date-time",
                    "examples": ["2026-01-05T09:44:00.000Z"]}),
]
"""A time: ISO 8601, UTC, milliseconds, ``Z``."""


class _Part(BaseModel):
    """Every key present (the schema requires them all), nothing changed once built."""

    model_config = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)


class SessionSummary(_Part):
    """Who, what, when."""

    patient_code: str = Field(
        description="the pseudonymous patient code (`ANON` in an anonymised log)")
    protocol: str = Field(description="protocol name, e.g. `spravato`")
    protocol_title: str | None = Field(
        description="its title in the configuration; null when the configuration has no "
                    "such protocol")
    started_at: Time = Field(description="session start")
    dose_mg: float | None = Field(description="the dose")
    lot: str | None = Field(description="the lot number")
    concomitant: list[str] = Field(description="concomitant medicines recorded at the start")
    doses_given: int = Field(description="nasal devices, infusions or injections recorded")
    first_dose_at: Time | None = Field(
        description="the first dose (for Spravato, the first nasal device)")
    last_dose_at: Time | None = Field(description="the last dose")
    infusion_end_at: Time | None = Field(description="the end of an infusion")
    observation_started_at: Time | None = Field(
        description="when the observation clock started (first dose, or infusion end as the "
                    "protocol says)")
    observation_minimum_min: float | None = Field(
        description="the protocol's minimum observation, minutes")
    earliest_discharge_at: Time | None = Field(
        description="observation start plus the minimum")
    end: Literal["discharged", "ended", "open"] = Field(
        description="`open`: the log stops before a discharge or an end")
    ended_at: Time | None = Field(description="discharge or end time")
    monitoring_min: float | None = Field(
        description="total monitoring time in minutes, from the first dose to the discharge "
                    "or end (or to the last message of an open session), one decimal: the "
                    "REMS form's \"total monitoring time\"")
    ready_without_minimum_at: Time | None = Field(
        description="when the patient would have been ready to leave but for the minimum "
                    "observation (the REMS form asks for it): the first moment after the first "
                    "dose at which every unmet discharge condition was the minimum's own (its "
                    "time, and the pre-discharge BP check that opens as it nears)")


class BpValue(_Part):
    """One blood pressure."""

    systolic: float
    diastolic: float
    at: Time = Field(
        description="the device's measurement time, or the receive time when the two differ "
                    "by more than `[engine] clock_skew_s`")
    source: str = Field(description="the device name, or `manual` for a nurse's entry")
    reading_id: str


class Baseline(_Part):
    """The engine's pre-dose baseline."""

    systolic: float | None
    diastolic: float | None
    at: Time | None


class BpCheckResult(_Part):
    """One of the protocol's BP checks as the engine judged it at the end."""

    name: str
    required: bool
    status: Literal["pending", "due", "done", "missed"]
    window_start: Time | None
    window_end: Time | None = Field(description="null: open until discharge")
    done_at: Time | None
    systolic: float | None
    diastolic: float | None


class BloodPressure(_Part):
    """BP at the checkpoints and the protocol's checks."""

    pre_dose: BpValue | None = Field(description="the last BP at or before the first dose")
    at_40_min: BpValue | None = Field(
        description="the BP nearest to 40 minutes after the first dose, inside the protocol's "
                    "window for its 40-minute check (default 35 to 50 minutes)")
    pre_discharge: BpValue | None = Field(
        description="the last BP after the first dose and at or before the discharge or end")
    highest: BpValue | None = Field(
        description="the highest systolic (then diastolic) of the session")
    baseline: Baseline | None = Field(description="the engine's pre-dose baseline")
    readings: int = Field(description="number of usable BP values (cuff and manual)")
    checks: list[BpCheckResult] = Field(
        description="the protocol's BP checks as the engine judged them at the end")


class TimedValue(_Part):
    """A value and when it was measured."""

    value: float
    at: Time


class TimeBelow(_Part):
    """The time SpO2 spent below one limit."""

    limit: float = Field(description="an SpO2 limit of the configured alarm rules, %")
    minutes: float = Field(
        description="minutes with SpO2 below it (two decimals). Each reading counts until "
                    "the next one, for at most `[engine.no_data_s] spo2` seconds; beyond that "
                    "the value is unknown and not counted")


class Spo2Summary(_Part):
    """SpO2 minimum, time below limits, coverage."""

    min: TimedValue | None = Field(description="the lowest SpO2 (the first, if repeated)")
    below: list[TimeBelow] = Field(
        description="one entry per SpO2 limit of the configured alarm rules, highest first")
    readings: int = Field(description="SpO2 readings in the session")
    longest_gap_s: float = Field(
        description="the longest stretch without SpO2 during the observation, seconds")


class HeartRateSummary(_Part):
    """Heart-rate extremes."""

    source: Literal["heart_rate", "spo2_pulse_rate"] | None = Field(
        description="`heart_rate` (a heart-rate monitor), or `spo2_pulse_rate` when there was "
                    "none and the oximeter's pulse rate is used")
    min: TimedValue | None
    max: TimedValue | None
    readings: int = Field(description="readings used")


class AlarmRecord(_Part):
    """One alarm (the engine's `alarm_id`) across its events."""

    alarm_id: str = Field(description="the alarm across its events")
    condition: str = Field(description="e.g. `bp_high`, `spo2_low`, `no_data`, `bp_check_due`")
    kind: Literal["physiological", "technical"]
    priority: Literal["high", "medium", "low"] = Field(
        description="the highest priority it reached")
    message: str = Field(description="the message at that priority, e.g. `SpO2 87 < 88 %`")
    raised_at: Time
    high_at: Time | None = Field(description="when it became high priority")
    escalated_at: Time | None = Field(
        description="its first escalation (a higher tier, or unacknowledged too long)")
    acknowledged_at: Time | None = Field(description="the first acknowledgement")
    acknowledged_by: str | None
    time_to_ack_s: float | None = Field(description="seconds from raised to acknowledged")
    cleared_at: Time | None


class CommandRecord(_Part):
    """A command to the chair with the engine's answer. A command the broker delivered twice
    is listed once, with its first answer."""

    at: Time = Field(description="the command's own time")
    received_at: Time = Field(description="when it reached the engine")
    id: str
    type: str = Field(
        description="`start_session`, `dose_given`, `manual_bp`, `assessment`, `ack_alarm`, "
                    "`pause_audio`, `discharge`, `end_session`, ...")
    by: str | None = Field(
        description="who sent it: on a site with sign-in, the user the broker authenticated, "
                    "whatever the command claimed")
    role: str | None = Field(
        description="that user's role in the site's user directory, or null on a site "
                    "without sign-in")
    accepted: bool | None = Field(description="null when the engine gave no answer")
    reasons: list[str] = Field(
        description="the engine's reasons for a refusal, empty otherwise")


class AssessmentRecord(_Part):
    """An assessment the engine accepted."""

    at: Time
    by: str
    sedation: Literal["none", "present"]
    dissociation: Literal["none", "present"]
    respiration: Literal["normal", "depressed"]
    moaas: int | None = Field(description="0 to 5")
    aldrete: int | None = Field(description="the total, 0 to 10")
    note: str | None


class SymptomsRecord(_Part):
    """Symptoms of a hypertensive emergency the nurse recorded."""

    at: Time
    by: str
    symptoms: list[str] = Field(description="their names")
    note: str | None


class DischargeRecord(_Part):
    """Discharge or end, by whom, override."""

    at: Time | None
    by: str | None
    override_reason: str | None = Field(
        description="null unless discharged before readiness by someone allowed to override")
    overridden: list[str] = Field(description="the conditions that were unmet")
    ended_at: Time | None
    end_reason: str | None = Field(description="for a session ended without discharge")


class ComplianceCheck(_Part):
    """A check QA runs, passed or failed with the evidence (the values and times that
    decided it).

    - `observation_minimum`: the time from observation start to discharge (or end) is at least
      the protocol's minimum; an early discharge by override fails, its reason in the evidence.
    - `bp_check:NAME`, one per required BP check of the protocol: a usable BP lies inside the
      check's window (for the pre-discharge check, from its window start to the discharge).
    - `pulse_oximetry_throughout`: no gap longer than `[engine.no_data_s] spo2` seconds between
      observation start and discharge (null when the protocol does not require it).
    - `high_alarms_acknowledged`: every alarm that reached high priority was acknowledged
      within the allowed time of becoming high (or cleared by itself within it): `--ack-within
      SECONDS`, by default `[engine.escalation_s] high`.
    """

    check: str = Field(description="`observation_minimum`, `bp_check:NAME`, "
                                   "`pulse_oximetry_throughout`, `high_alarms_acknowledged`")
    passed: bool | None = Field(description="null: the check does not apply to the protocol")
    evidence: str = Field(description="the values and times that decided it (times in UTC)")


class SessionReport(_Part):
    """A session's monitoring record, laid out after what the Spravato REMS Patient
    Monitoring Form asks for, and the compliance checks QA runs
    (`chairside report --format json`).

    Keys are stable: a key is never renamed or removed without a new `report_version`; new
    keys may be added. Every key is always present; a value that is not known is null.
    Times are ISO 8601 strings in UTC with milliseconds. Pressures are in mmHg (readings in
    kPa are converted), heart rate in /min, SpO2 in %. Readings of quality `invalid` are
    left out of every number.
    """

    model_config = ConfigDict(title="Chairside session report")

    report_version: Literal[1] = Field(description="the version of this layout")
    source: str = Field(description="the session id or file the report was made from")
    chair: str
    session: SessionSummary
    blood_pressure: BloodPressure
    spo2: Spo2Summary
    heart_rate: HeartRateSummary
    alarms: list[AlarmRecord] = Field(
        description="every alarm of the session, one entry per alarm, in the order raised")
    commands: list[CommandRecord] = Field(
        description="every command to the chair in the session, in the order received, with "
                    "the engine's answer")
    refusals: list[CommandRecord] = Field(
        description="the commands the engine refused, discharge attempts first, then by time")
    assessments: list[AssessmentRecord] = Field(description="the assessments, in order")
    symptoms: list[SymptomsRecord]
    discharge: DischargeRecord
    compliance: list[ComplianceCheck]
    problems: list[str] = Field(
        description="lines or messages of the log that could not be used, each naming its "
                    "line (`line 17: not JSON: ...`)")


def report_schema() -> dict[str, Any]:
    """The JSON Schema of the report (``chairside schema report``)."""
    schema = SessionReport.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
