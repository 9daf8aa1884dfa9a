"""The session's monitoring record: what the Spravato REMS Patient Monitoring Form asks
for, and what QA checks.

The report runs the engine over the session's wire log (readings and commands are enough)
and reads the answers from three places: the engine's view of the session (phases, doses,
BP check windows, discharge), the alarm events it raised, and the raw readings, from which
every number a person would check by hand (BP at the checkpoints, SpO2 minimum and minutes
below each limit, heart-rate extremes, pulse-oximetry coverage) is computed directly.
Each compliance check says passed or failed and why, with the evidence.

Times are UTC (ISO 8601 with ``Z``; the evidence texts' times end in ``Z`` too); the HTML
form shows them in the site's time zone. Keys of the JSON form are stable;
``docs/report-json.md`` documents them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from drivers.wire import (
    AlarmEvent,
    Assessment,
    BpCheck,
    ChairState,
    CommandResult,
    DoseGiven,
    ManualBp,
    Reading,
    SessionInfo,
    Symptoms,
    UnmetCondition,
    format_time,
    parse_time,
)
from monitor.engine import EngineConfig

from .replay import Prepared, Replay, prepare
from .wirelog import WireLog

REPORT_VERSION = 1
MARGIN = timedelta(seconds=5)
AT_40_MIN = timedelta(minutes=40)
AT_40_WINDOW = (timedelta(minutes=35), timedelta(minutes=50))
"""Used for "BP at 40 minutes" when the protocol has no check of its own at 40 minutes."""


class ReportError(Exception):
    """The log holds no session to report on."""


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
    value: float


@dataclass(frozen=True, slots=True)
class BpPoint:
    at: datetime
    systolic: float
    diastolic: float
    source: str
    reading_id: str


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


@dataclass(slots=True)
class Report:
    data: dict[str, Any]
    series: Series

    def to_json(self) -> str:
        return json.dumps(self.data, indent=2, ensure_ascii=False) + "\n"


def _t(when: datetime | None) -> str | None:
    return None if when is None else format_time(when)


def _round(value: float, digits: int = 1) -> float:
    return round(value + 0.0, digits)


# -- finding the session --------------------------------------------------------------------


def _session_key(info: SessionInfo) -> tuple[str, datetime]:
    return (info.patient_code, info.started_at)


def _pick_states(states: list[ChairState], chair: str | None, first_input: datetime
                 ) -> tuple[str, list[ChairState]]:
    """The states of the log's session: the first session that starts in the log."""
    candidates = [s for s in states if s.session is not None and (chair is None or
                                                                  s.chair == chair)]
    chosen = [s for s in candidates
              if s.session is not None and s.session.started_at >= first_input - MARGIN]
    if not chosen:
        raise ReportError("the log holds no session start" +
                          (f" for chair {chair!r}" if chair else ""))
    first = chosen[0]
    assert first.session is not None
    key = (first.chair, _session_key(first.session))
    mine = [s for s in chosen
            if s.session is not None and (s.chair, _session_key(s.session)) == key]
    return first.chair, mine


# -- building -------------------------------------------------------------------------------


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


def build(
    wire: WireLog | Prepared,
    config: EngineConfig,
    *,
    chair: str | None = None,
    ack_within_s: float | None = None,
    source: str = "",
) -> Report:
    prepared = wire if isinstance(wire, Prepared) else prepare(wire)
    if not prepared.steps:
        raise ReportError("the log holds no readings or commands")
    outputs = Replay(prepared, config, states="changes").run()
    states = [o for o in outputs if isinstance(o, ChairState)]
    chair, mine = _pick_states(states, chair, prepared.steps[0].at)
    final = mine[-1]
    info = final.session
    assert info is not None
    protocol = config.protocols.get(info.protocol)
    start = info.started_at
    end = info.discharged_at or info.ended_at
    last_seen = max((s.at for s in prepared.steps if s.chair == chair), default=start)
    span_end = end or last_seen
    limit_ack = ack_within_s
    if limit_ack is None:
        limit_ack = config.escalation_s.high or 60.0

    # Inputs of this chair within the session.
    skew = timedelta(seconds=config.clock_skew_s)
    bps: list[BpPoint] = []
    hrs: list[Point] = []
    pulses: list[Point] = []
    spo2s: list[Point] = []
    assessments: list[tuple[datetime, Assessment]] = []
    symptoms: list[dict[str, Any]] = []
    accepted = {o.id for o in outputs if isinstance(o, CommandResult) and o.accepted
                and o.chair == chair}
    for step in prepared.steps:
        if step.chair != chair or not (start - MARGIN <= step.at <= span_end + MARGIN):
            continue
        message = step.message
        if isinstance(message, Reading):
            if message.quality == "invalid":
                continue
            at = message.measured_at
            if abs(at - message.received_at) > skew:
                at = message.received_at
            sys_, dia = message.in_mmhg("systolic"), message.in_mmhg("diastolic")
            if message.kind == "blood_pressure" and sys_ is not None and dia is not None:
                bps.append(BpPoint(at, sys_, dia, message.device, message.id))
            value = message.number("heart_rate")
            if message.kind == "heart_rate" and value is not None:
                hrs.append(Point(at, value))
            value = message.number("spo2")
            if message.kind == "spo2" and value is not None:
                spo2s.append(Point(at, value))
            value = message.number("pulse_rate")
            if message.kind == "spo2" and value is not None:
                pulses.append(Point(at, value))
        elif isinstance(message, ManualBp) and message.id in accepted:
            bps.append(BpPoint(message.at, message.systolic, message.diastolic, "manual",
                               message.id))
        elif isinstance(message, Assessment) and message.id in accepted:
            assessments.append((message.at, message))
        elif isinstance(message, Symptoms) and message.id in accepted:
            symptoms.append({"at": _t(message.at), "by": message.by,
                             "symptoms": list(message.symptoms), "note": message.note})
    bps.sort(key=lambda p: p.at)
    for points in (hrs, pulses, spo2s):
        points.sort(key=lambda p: p.at)

    commands = _commands(prepared, outputs, chair, start - MARGIN, span_end + MARGIN)
    events = [o for o in outputs if isinstance(o, AlarmEvent) and o.chair == chair
              and start - MARGIN <= o.at <= span_end + MARGIN]
    alarms = _alarms(events)
    first_dose = info.first_dose_at
    obs_start = final.observation.started_at if final.observation else (
        info.infusion_end_at if protocol and protocol.observation_from == "infusion_end"
        else first_dose)
    monitoring_min = (
        _round((span_end - first_dose).total_seconds() / 60) if first_dose else None
    )

    spo2_gap = config.no_data_s.spo2 or 30.0
    limits = sorted({lim.value for rule in config.rules for lim in rule.any_of
                     if lim.parameter == "spo2" and lim.op in ("<", "<=")}, reverse=True)
    below = [
        {"limit": limit, "minutes": _round(_minutes_below(spo2s, limit, start, span_end,
                                                          spo2_gap), 2)}
        for limit in limits
    ]
    bp_section = _bp_section(bps, final.bp_checks, first_dose, end, info, protocol)

    spo2_min = min(spo2s, key=lambda p: (p.value, p.at)) if spo2s else None
    hr_source = "heart_rate" if hrs else "spo2_pulse_rate"
    hr_points = hrs or pulses
    hr_min = min(hr_points, key=lambda p: (p.value, p.at)) if hr_points else None
    hr_max = max(hr_points, key=lambda p: (p.value, -p.at.timestamp())) if hr_points else None
    coverage = _coverage(spo2s, obs_start or start, span_end, spo2_gap)

    data: dict[str, Any] = {
        "report_version": REPORT_VERSION,
        "source": source,
        "chair": chair,
        "session": {
            "patient_code": info.patient_code,
            "protocol": info.protocol,
            "protocol_title": protocol.title if protocol else None,
            "started_at": _t(start),
            "dose_mg": info.dose_mg,
            "lot": info.lot,
            "concomitant": list(info.concomitant),
            "doses_given": info.doses_given,
            "first_dose_at": _t(first_dose),
            "last_dose_at": _t(info.last_dose_at),
            "infusion_end_at": _t(info.infusion_end_at),
            "observation_started_at": _t(obs_start),
            "observation_minimum_min": protocol.observation_min if protocol else None,
            "earliest_discharge_at": _t(final.observation.earliest_discharge_at
                                        if final.observation else None),
            "end": "discharged" if info.discharged_at else "ended" if info.ended_at else "open",
            "ended_at": _t(end),
            "monitoring_min": monitoring_min,
            "ready_without_minimum_at": _t(ready_without_minimum(mine)),
        },
        "blood_pressure": bp_section,
        "spo2": {
            "min": None if spo2_min is None else {"value": spo2_min.value,
                                                   "at": _t(spo2_min.at)},
            "below": below,
            "readings": len(spo2s),
            "longest_gap_s": coverage["longest_gap_s"],
        },
        "heart_rate": {
            "source": hr_source if hr_points else None,
            "min": None if hr_min is None else {"value": hr_min.value, "at": _t(hr_min.at)},
            "max": None if hr_max is None else {"value": hr_max.value, "at": _t(hr_max.at)},
            "readings": len(hr_points),
        },
        "alarms": alarms,
        "commands": commands,
        # What the safeguards stopped, discharge attempts first: evidence that they worked,
        # and a pattern of early attempts is a finding of its own.
        "refusals": sorted((c for c in commands if c["accepted"] is False),
                           key=lambda c: (c["type"] != "discharge", c["at"])),
        "assessments": [_assessment(at, a) for at, a in assessments],
        "symptoms": symptoms,
        "discharge": {
            "at": _t(info.discharged_at),
            "by": info.discharged_by,
            "override_reason": info.override_reason,
            "overridden": list(info.overridden),
            "ended_at": _t(info.ended_at),
            "end_reason": info.end_reason,
        },
        "compliance": _compliance(
            info, protocol, obs_start, end, final.bp_checks, bps, coverage, alarms, limit_ack,
        ),
        "problems": [str(p) for p in prepared.problems],
    }
    series = Series(
        bp=bps, heart_rate=hr_points, spo2=spo2s,
        doses=sorted({s.at for s in prepared.steps if s.chair == chair
                      and isinstance(s.message, DoseGiven) and s.message.id in accepted}),
        alarms=[(e.at, e.priority, e.condition) for e in events if e.event == "raised"],
        discharge=info.discharged_at, spo2_limits=limits, start=start, end=span_end,
        refusals=[(parse_time(c["at"]), c["type"]) for c in commands if c["accepted"] is False],
    )
    return Report(data, series)


# -- the parts ------------------------------------------------------------------------------


def _commands(prepared: Prepared, outputs: list[Any], chair: str, start: datetime,
              end: datetime) -> list[dict[str, Any]]:
    """Every command to the chair in the session's span, in the order received, with the
    engine's answer: who sent it, accepted or refused, and why."""
    answers: dict[str, CommandResult] = {}
    for out in outputs:
        if isinstance(out, CommandResult) and out.chair == chair:
            answers.setdefault(out.id, out)  # a redelivery is answered again: the first counts
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    for step in prepared.steps:
        if not step.is_command or step.chair != chair or not start <= step.at <= end:
            continue
        command = step.message
        cid = getattr(command, "id", None)
        if cid is None or cid in seen:
            continue
        seen.add(cid)
        answer = answers.get(cid)
        found.append({
            "at": _t(getattr(command, "at", step.at)),
            "received_at": _t(step.at),
            "id": cid,
            "type": getattr(command, "type", "?"),
            "by": answer.by if answer is not None and answer.by else getattr(command, "by", None),
            "role": answer.role if answer is not None else None,
            "accepted": answer.accepted if answer is not None else None,
            "reasons": list(answer.reasons) if answer is not None else [],
        })
    return found


def _bp(point: BpPoint | None) -> dict[str, Any] | None:
    if point is None:
        return None
    return {"systolic": _round(point.systolic), "diastolic": _round(point.diastolic),
            "at": _t(point.at), "source": point.source, "reading_id": point.reading_id}


def _bp_section(
    bps: list[BpPoint], checks: list[BpCheck], first_dose: datetime | None,
    end: datetime | None, info: SessionInfo, protocol: Any,
) -> dict[str, Any]:
    pre = None
    at_40 = None
    pre_discharge = None
    if first_dose is not None:
        before = [p for p in bps if p.at <= first_dose]
        pre = before[-1] if before else None
        target = first_dose + AT_40_MIN
        lo, hi = first_dose + AT_40_WINDOW[0], first_dose + AT_40_WINDOW[1]
        for spec in getattr(protocol, "bp_checks", []):
            if spec.kind == "at" and spec.anchor == "first_dose" and spec.offset_min == 40:
                lo = target - timedelta(minutes=spec.window_before_min)
                hi = target + timedelta(minutes=spec.window_after_min)
        inside = [p for p in bps if lo <= p.at <= hi]
        at_40 = min(inside, key=lambda p: (abs(p.at - target), p.at)) if inside else None
    if end is not None:
        after_dose = [p for p in bps if p.at <= end and (first_dose is None or p.at > first_dose)]
        pre_discharge = after_dose[-1] if after_dose else None
    highest = max(bps, key=lambda p: (p.systolic, p.diastolic)) if bps else None
    return {
        "pre_dose": _bp(pre),
        "at_40_min": _bp(at_40),
        "pre_discharge": _bp(pre_discharge),
        "highest": _bp(highest),
        "baseline": None if info.baseline_systolic is None else {
            "systolic": info.baseline_systolic, "diastolic": info.baseline_diastolic,
            "at": _t(info.baseline_at)},
        "readings": len(bps),
        "checks": [
            {"name": c.name, "required": c.required, "status": c.status,
             "window_start": _t(c.window_start), "window_end": _t(c.window_end),
             "done_at": _t(c.done_at), "systolic": c.systolic, "diastolic": c.diastolic}
            for c in checks
        ],
    }


def _minutes_below(points: list[Point], limit: float, start: datetime, end: datetime,
                   max_hold_s: float) -> float:
    """Minutes with SpO2 below ``limit``: each reading holds until the next one, for at most
    ``max_hold_s`` (beyond that the value is unknown, and not counted)."""
    total = 0.0
    for i, point in enumerate(points):
        if point.value >= limit:
            continue
        nxt = points[i + 1].at if i + 1 < len(points) else end
        until = min(nxt, point.at + timedelta(seconds=max_hold_s), end)
        begin = max(point.at, start)
        if until > begin:
            total += (until - begin).total_seconds()
    return total / 60


def _coverage(points: list[Point], start: datetime, end: datetime, max_gap_s: float
              ) -> dict[str, Any]:
    """The longest stretch without SpO2 between ``start`` and ``end``."""
    inside = [p.at for p in points if start <= p.at <= end]
    edges = [start, *inside, end]
    longest = 0.0
    longest_at: datetime | None = None
    uncovered = 0.0
    for a, b in pairwise(edges):
        gap = (b - a).total_seconds()
        if gap > longest:
            longest, longest_at = gap, a
        if gap > max_gap_s:
            uncovered += gap - max_gap_s
    return {"longest_gap_s": _round(longest), "longest_gap_from": longest_at,
            "uncovered_min": _round(uncovered / 60, 2), "max_gap_s": max_gap_s,
            "readings": len(inside)}


def _alarms(events: list[AlarmEvent]) -> list[dict[str, Any]]:
    by_id: dict[str, dict[str, Any]] = {}
    for e in sorted(events, key=lambda e: e.at):
        alarm = by_id.get(e.alarm_id)
        if alarm is None:
            alarm = by_id[e.alarm_id] = {
                "alarm_id": e.alarm_id, "condition": e.condition, "kind": e.kind,
                "priority": e.priority, "message": e.message, "raised_at": _t(e.at),
                "high_at": None, "escalated_at": None, "acknowledged_at": None,
                "acknowledged_by": None, "time_to_ack_s": None, "cleared_at": None,
                "_raised": e.at, "_high": None,
            }
        if e.priority == "high" and alarm["_high"] is None:
            alarm["_high"] = e.at
            alarm["high_at"] = _t(e.at)
        if e.event == "escalated":
            if alarm["escalated_at"] is None:
                alarm["escalated_at"] = _t(e.at)
            if _rank(e.priority) > _rank(alarm["priority"]):
                alarm["priority"], alarm["message"] = e.priority, e.message
        elif e.event == "acknowledged" and alarm["acknowledged_at"] is None:
            alarm["acknowledged_at"] = _t(e.at)
            alarm["acknowledged_by"] = e.by
            alarm["time_to_ack_s"] = _round((e.at - alarm["_raised"]).total_seconds())
            alarm["_acked"] = e.at
        elif e.event == "cleared" and alarm["cleared_at"] is None:
            alarm["cleared_at"] = _t(e.at)
            alarm["_cleared"] = e.at
    return list(by_id.values())


def _rank(priority: str) -> int:
    return {"low": 1, "medium": 2, "high": 3}[priority]


def _assessment(at: datetime, a: Assessment) -> dict[str, Any]:
    return {
        "at": _t(at), "by": a.by, "sedation": a.sedation, "dissociation": a.dissociation,
        "respiration": a.respiration, "moaas": a.moaas,
        "aldrete": None if a.aldrete is None else a.aldrete.total, "note": a.note,
    }


def _check(name: str, passed: bool | None, evidence: str) -> dict[str, Any]:
    return {"check": name, "passed": passed, "evidence": evidence}


def _hm(when: datetime | None) -> str:
    return "-" if when is None else when.astimezone(UTC).strftime("%H:%M:%SZ")


def _compliance(
    info: SessionInfo, protocol: Any, obs_start: datetime | None, end: datetime | None,
    checks: list[BpCheck], bps: list[BpPoint], coverage: dict[str, Any],
    alarms: list[dict[str, Any]], ack_within_s: float,
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    # 1. Observation at least the protocol's minimum.
    minimum = protocol.observation_min if protocol else None
    if obs_start is None or minimum is None:
        out.append(_check("observation_minimum", False,
                          "no dose recorded" if obs_start is None else "unknown protocol"))
    elif end is None:
        out.append(_check("observation_minimum", False,
                          f"observation from {_hm(obs_start)} has no discharge or end"))
    else:
        observed = (end - obs_start).total_seconds() / 60
        evidence = (f"observed {observed:.1f} min ({_hm(obs_start)} to {_hm(end)}); "
                    f"minimum {minimum:g} min")
        if info.override_reason and observed < minimum:
            evidence += f"; discharged early by override: {info.override_reason}"
        out.append(_check("observation_minimum", observed >= minimum, evidence))
    # 2. Each required BP check inside its window.
    for c in checks:
        if not c.required:
            continue
        lo = c.window_start
        hi = c.window_end or end
        window = f"window {_hm(lo)} to {_hm(hi) if hi else 'discharge'}"
        inside = [p for p in bps if lo is not None and lo <= p.at and (hi is None or p.at <= hi)]
        if inside:
            p = inside[0] if c.name != "pre_discharge" else inside[-1]
            out.append(_check(
                f"bp_check:{c.name}", True,
                f"BP {p.systolic:g}/{p.diastolic:g} at {_hm(p.at)} ({p.source}); {window}"))
        else:
            out.append(_check(f"bp_check:{c.name}", False,
                              f"no blood pressure in the {window} (engine: {c.status})"))
    # 3. Pulse oximetry throughout the observation.
    if protocol is not None and not protocol.requires_spo2:
        out.append(_check("pulse_oximetry_throughout", None,
                          f"protocol {info.protocol} does not require pulse oximetry"))
    else:
        gap = coverage["longest_gap_s"]
        ok = coverage["readings"] > 0 and gap <= coverage["max_gap_s"]
        evidence = (f"{coverage['readings']} SpO2 readings; longest gap {gap:g} s"
                    f" from {_hm(coverage['longest_gap_from'])}"
                    f" (allowed {coverage['max_gap_s']:g} s); "
                    f"{coverage['uncovered_min']:g} min uncovered")
        out.append(_check("pulse_oximetry_throughout", ok, evidence))
    # 4. Every high alarm acknowledged in time.
    high = [a for a in alarms if a["_high"] is not None]
    if not high:
        out.append(_check("high_alarms_acknowledged", True, "no high-priority alarm"))
    else:
        late = []
        notes = []
        for a in high:
            became: datetime = a["_high"]
            acked: datetime | None = a.get("_acked")
            cleared: datetime | None = a.get("_cleared")
            if acked is not None:
                took = max(0.0, (acked - became).total_seconds())
                notes.append(f"{a['condition']} {_hm(became)} acknowledged after {took:g} s")
                if took > ack_within_s:
                    late.append(a["alarm_id"])
            elif cleared is not None and (cleared - became).total_seconds() <= ack_within_s:
                notes.append(f"{a['condition']} {_hm(became)} cleared by itself in time")
            else:
                notes.append(f"{a['condition']} {_hm(became)} never acknowledged")
                late.append(a["alarm_id"])
        out.append(_check("high_alarms_acknowledged", not late,
                          f"within {ack_within_s:g} s: " + "; ".join(notes)))
    for a in alarms:
        for key in [k for k in a if k.startswith("_")]:
            del a[key]
    return out
