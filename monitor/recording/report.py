"""The session's monitoring record: what the Spravato REMS Patient Monitoring Form asks
for, and what QA checks.

The report runs the engine over the session's wire log (readings and commands are enough)
and reads the answers from three places: the engine's view of the session (phases, doses,
BP check windows, discharge), the alarm events it raised, and the raw readings, from which
every number a person would check by hand is computed directly. It is made in steps: run
the replay, collect the session's part of it (`report_collect`), work out the numbers
(`report_statistics`) and the compliance checks (`report_compliance`), each passed or
failed with its evidence.

The result is a `SessionReport` (`report_model`), whose JSON Schema is the contract of the
JSON form (``chairside schema report``, ``docs/report.schema.json``); the HTML form shows
its times in the site's time zone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from drivers.wire import ChairState, UnmetCondition
from monitor.engine import EngineConfig, Output

from .replay import Prepared, Replay, prepare
from .report_collect import BpPoint, Collected, Point, ReportError, collect
from .report_compliance import compliance
from .report_model import REPORT_VERSION, DischargeRecord, SessionReport, SessionSummary
from .report_statistics import Statistics, round_to, statistics
from .wirelog import WireLog

__all__ = ["REPORT_VERSION", "Report", "ReportError", "Series", "build",
           "ready_without_minimum"]


@dataclass(slots=True)
class Series:
    """What the charts draw."""

    bp: list[BpPoint] = field(default_factory=list)
    heart_rate: list[Point] = field(default_factory=list)
    spo2: list[Point] = field(default_factory=list)
    doses: list[datetime] = field(default_factory=list)
    alarms: list[tuple[datetime, str, str]] = field(default_factory=list)
    """(raised at, priority, condition)"""
    discharge: datetime | None = None
    refusals: list[tuple[datetime, str]] = field(default_factory=list)
    """(sent at, command type) of every command the engine refused"""
    spo2_limits: list[float] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class Report:
    """The report (`model`, what the JSON form holds) and what its charts draw."""

    model: SessionReport
    series: Series

    @cached_property
    def data(self) -> dict[str, Any]:
        """The JSON form as plain data (times as strings)."""
        return self.model.model_dump(mode="json")

    def to_json(self) -> str:
        return json.dumps(self.data, indent=2, ensure_ascii=False) + "\n"


def build(
    wire: WireLog | Prepared,
    config: EngineConfig,
    *,
    chair: str | None = None,
    ack_within_s: float | None = None,
    source: str = "",
) -> Report:
    """The report on the first session that starts in the log (of ``chair``, if given);
    ReportError when there is none. ``ack_within_s``: the time allowed to acknowledge a
    high alarm (default: the configuration's ``[engine.escalation_s] high``)."""
    prepared = wire if isinstance(wire, Prepared) else prepare(wire)
    if not prepared.steps:
        raise ReportError("the log holds no readings or commands")
    found = collect(prepared, _run(prepared, config), config, chair)
    stats = statistics(found, config)
    if ack_within_s is None:
        ack_within_s = config.escalation_s.high or 60.0
    model = SessionReport(
        report_version=REPORT_VERSION,
        source=source,
        chair=found.chair,
        session=_summary(found, stats),
        blood_pressure=stats.blood_pressure,
        spo2=stats.spo2,
        heart_rate=stats.heart_rate,
        alarms=[a.record() for a in found.alarms],
        commands=found.commands,
        # What the safeguards stopped, discharge attempts first: evidence that they worked,
        # and a pattern of early attempts is a finding of its own.
        refusals=sorted((c for c in found.commands if c.accepted is False),
                        key=lambda c: (c.type != "discharge", c.at)),
        assessments=found.assessments,
        symptoms=found.symptoms,
        discharge=DischargeRecord(
            at=found.info.discharged_at, by=found.info.discharged_by,
            override_reason=found.info.override_reason,
            overridden=list(found.info.overridden), ended_at=found.info.ended_at,
            end_reason=found.info.end_reason),
        compliance=compliance(found, stats, ack_within_s),
        problems=[str(p) for p in prepared.problems],
    )
    return Report(model, _series(found, stats))


def _run(prepared: Prepared, config: EngineConfig) -> list[Output]:
    """The engine's outputs over the log: states, alarm events, answers."""
    return Replay(prepared, config, states="changes").run()


def _summary(found: Collected, stats: Statistics) -> SessionSummary:
    info, protocol, final = found.info, found.protocol, found.final
    first_dose = info.first_dose_at
    return SessionSummary(
        patient_code=info.patient_code,
        protocol=info.protocol,
        protocol_title=protocol.title if protocol else None,
        started_at=found.start,
        dose_mg=info.dose_mg,
        lot=info.lot,
        concomitant=list(info.concomitant),
        doses_given=info.doses_given,
        first_dose_at=first_dose,
        last_dose_at=info.last_dose_at,
        infusion_end_at=info.infusion_end_at,
        observation_started_at=stats.observation_start,
        observation_minimum_min=protocol.observation_min if protocol else None,
        earliest_discharge_at=(final.observation.earliest_discharge_at
                               if final.observation else None),
        end="discharged" if info.discharged_at else "ended" if info.ended_at else "open",
        ended_at=found.end,
        monitoring_min=(round_to((found.span_end - first_dose).total_seconds() / 60)
                        if first_dose else None),
        ready_without_minimum_at=ready_without_minimum(found.states),
    )


def _series(found: Collected, stats: Statistics) -> Series:
    return Series(
        bp=found.bps, heart_rate=stats.heart_rate_points, spo2=found.spo2s,
        doses=found.doses,
        alarms=[(e.at, e.priority, e.condition) for e in found.alarm_events
                if e.event == "raised"],
        discharge=found.info.discharged_at, spo2_limits=stats.spo2_limits,
        start=found.start, end=found.span_end,
        refusals=[(c.at, c.type) for c in found.commands if c.accepted is False],
    )


def _minimum_rule(unmet: UnmetCondition) -> bool:
    """Whether an unmet discharge condition belongs to the minimum observation itself: the
    time, and the pre-discharge BP check that only opens as the minimum nears."""
    return unmet.condition == "observation_time" or (
        unmet.condition == "bp_check" and "pre_discharge" in unmet.reason
    )


def ready_without_minimum(states: list[ChairState]) -> datetime | None:
    """When the patient would have been ready to leave but for the minimum observation (the
    REMS form asks for it): the first state after the first dose whose every unmet discharge
    condition is the minimum's own."""
    for state in states:
        session = state.session
        if session is None or session.first_dose_at is None:
            continue
        if state.discharge.ready or all(_minimum_rule(u) for u in state.discharge.unmet):
            return state.at
    return None
