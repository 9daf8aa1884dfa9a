"""The report's third step: the compliance checks QA runs, each passed or failed with the
values and times that decided it (the evidence's times are UTC, ending in ``Z``; the HTML
form shows them in the site's zone)."""

from __future__ import annotations

from datetime import UTC, datetime

from .report_collect import AlarmTrack, Collected
from .report_model import ComplianceCheck
from .report_statistics import Statistics


def utc_clock(when: datetime | None) -> str:
    """The time of day in UTC, ``09:05:00Z``; ``-`` for no time."""
    return "-" if when is None else when.astimezone(UTC).strftime("%H:%M:%SZ")


def _check(name: str, passed: bool | None, evidence: str) -> ComplianceCheck:
    return ComplianceCheck(check=name, passed=passed, evidence=evidence)


def compliance(found: Collected, stats: Statistics, ack_within_s: float
               ) -> list[ComplianceCheck]:
    return [
        observation_minimum(found, stats.observation_start),
        *bp_checks(found),
        pulse_oximetry_throughout(found, stats),
        high_alarms_acknowledged(found.alarms, ack_within_s),
    ]


def observation_minimum(found: Collected, obs_start: datetime | None) -> ComplianceCheck:
    """Observation at least the protocol's minimum."""
    name, end = "observation_minimum", found.end
    minimum = found.protocol.observation_min if found.protocol else None
    if obs_start is None or minimum is None:
        return _check(name, False, "no dose recorded" if obs_start is None
                      else "unknown protocol")
    if end is None:
        return _check(name, False,
                      f"observation from {utc_clock(obs_start)} has no discharge or end")
    observed = (end - obs_start).total_seconds() / 60
    evidence = (f"observed {observed:.1f} min ({utc_clock(obs_start)} to {utc_clock(end)}); "
                f"minimum {minimum:g} min")
    if found.info.override_reason and observed < minimum:
        evidence += f"; discharged early by override: {found.info.override_reason}"
    return _check(name, observed >= minimum, evidence)


def bp_checks(found: Collected) -> list[ComplianceCheck]:
    """Each required BP check with a usable BP inside its window."""
    out = []
    for c in found.final.bp_checks:
        if not c.required:
            continue
        lo = c.window_start
        hi = c.window_end or found.end
        window = f"window {utc_clock(lo)} to {utc_clock(hi) if hi else 'discharge'}"
        inside = [p for p in found.bps
                  if lo is not None and lo <= p.at and (hi is None or p.at <= hi)]
        if inside:
            p = inside[0] if c.name != "pre_discharge" else inside[-1]
            out.append(_check(
                f"bp_check:{c.name}", True,
                f"BP {p.systolic:g}/{p.diastolic:g} at {utc_clock(p.at)} ({p.source}); "
                f"{window}"))
        else:
            out.append(_check(f"bp_check:{c.name}", False,
                              f"no blood pressure in the {window} (engine: {c.status})"))
    return out


def pulse_oximetry_throughout(found: Collected, stats: Statistics) -> ComplianceCheck:
    """SpO2 read throughout the observation, where the protocol requires it."""
    name = "pulse_oximetry_throughout"
    if found.protocol is not None and not found.protocol.requires_spo2:
        return _check(name, None,
                      f"protocol {found.info.protocol} does not require pulse oximetry")
    c = stats.coverage
    gap = c.longest_gap_s
    evidence = (f"{c.readings} SpO2 readings; longest gap {gap:g} s"
                f" from {utc_clock(c.longest_gap_from)}"
                f" (allowed {c.max_gap_s:g} s); "
                f"{c.uncovered_min:g} min uncovered")
    return _check(name, c.readings > 0 and gap <= c.max_gap_s, evidence)


def high_alarms_acknowledged(alarms: list[AlarmTrack], ack_within_s: float
                             ) -> ComplianceCheck:
    """Every alarm that reached high priority acknowledged in time (or cleared by itself in
    time)."""
    name = "high_alarms_acknowledged"
    high = [a for a in alarms if a.high is not None]
    if not high:
        return _check(name, True, "no high-priority alarm")
    late = []
    notes = []
    for a in high:
        became = a.high
        assert became is not None
        if a.acknowledged is not None:
            took = max(0.0, (a.acknowledged - became).total_seconds())
            notes.append(f"{a.condition} {utc_clock(became)} acknowledged after {took:g} s")
            if took > ack_within_s:
                late.append(a.alarm_id)
        elif a.cleared is not None and (a.cleared - became).total_seconds() <= ack_within_s:
            notes.append(f"{a.condition} {utc_clock(became)} cleared by itself in time")
        else:
            notes.append(f"{a.condition} {utc_clock(became)} never acknowledged")
            late.append(a.alarm_id)
    return _check(name, not late, f"within {ack_within_s:g} s: " + "; ".join(notes))
