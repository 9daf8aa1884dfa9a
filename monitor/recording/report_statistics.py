"""The report's second step: the numbers a person would check by hand, from the readings
themselves (BP at the checkpoints, SpO2 minimum and minutes below each limit, heart-rate
extremes, pulse-oximetry coverage)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from monitor.engine import EngineConfig

from .report_collect import BpPoint, Collected, Point
from .report_model import (
    Baseline,
    BloodPressure,
    BpCheckResult,
    BpValue,
    HeartRateSummary,
    Spo2Summary,
    TimeBelow,
    TimedValue,
)

AT_40_MIN = timedelta(minutes=40)
AT_40_WINDOW = (timedelta(minutes=35), timedelta(minutes=50))
"""Used for "BP at 40 minutes" when the protocol has no check of its own at 40 minutes."""


def round_to(value: float, digits: int = 1) -> float:
    """``value`` rounded, always a float (an int would change the JSON form)."""
    return round(value + 0.0, digits)


@dataclass(frozen=True, slots=True)
class Coverage:
    """How well SpO2 covered a stretch of time."""

    longest_gap_s: float
    longest_gap_from: datetime | None
    uncovered_min: float
    """Minutes of the gaps beyond ``max_gap_s``."""
    max_gap_s: float
    readings: int


@dataclass(frozen=True, slots=True)
class Statistics:
    blood_pressure: BloodPressure
    spo2: Spo2Summary
    heart_rate: HeartRateSummary
    heart_rate_points: list[Point]
    """What the heart-rate chart draws: the monitor's, or else the oximeter's pulse rate."""
    spo2_limits: list[float]
    """The SpO2 limits of the configured alarm rules, highest first."""
    coverage: Coverage
    """SpO2 over the observation."""
    observation_start: datetime | None


def observation_start(found: Collected) -> datetime | None:
    """The engine's observation start, or what the protocol says it is."""
    final, info, protocol = found.final, found.info, found.protocol
    if final.observation:
        return final.observation.started_at
    if protocol and protocol.observation_from == "infusion_end":
        return info.infusion_end_at
    return info.first_dose_at


def statistics(found: Collected, config: EngineConfig) -> Statistics:
    spo2_gap = config.no_data_s.spo2 or 30.0
    limits = sorted({lim.value for rule in config.rules for lim in rule.any_of
                     if lim.parameter == "spo2" and lim.op in ("<", "<=")}, reverse=True)
    spo2s = found.spo2s
    below = [TimeBelow(limit=limit, minutes=round_to(
        minutes_below(spo2s, limit, found.start, found.span_end, spo2_gap), 2))
        for limit in limits]
    obs_start = observation_start(found)
    covered = coverage(spo2s, obs_start or found.start, found.span_end, spo2_gap)
    spo2_min = min(spo2s, key=lambda p: (p.value, p.at)) if spo2s else None
    points = found.heart_rates or found.pulse_rates
    hr_min = min(points, key=lambda p: (p.value, p.at)) if points else None
    hr_max = max(points, key=lambda p: (p.value, -p.at.timestamp())) if points else None
    return Statistics(
        blood_pressure=blood_pressure(found),
        spo2=Spo2Summary(min=_timed(spo2_min), below=below, readings=len(spo2s),
                         longest_gap_s=covered.longest_gap_s),
        heart_rate=HeartRateSummary(
            source=("heart_rate" if found.heart_rates else "spo2_pulse_rate") if points
            else None,
            min=_timed(hr_min), max=_timed(hr_max), readings=len(points)),
        heart_rate_points=points,
        spo2_limits=limits,
        coverage=covered,
        observation_start=obs_start,
    )


def _timed(point: Point | None) -> TimedValue | None:
    return None if point is None else TimedValue(value=point.value, at=point.at)


def _bp_value(point: BpPoint | None) -> BpValue | None:
    if point is None:
        return None
    return BpValue(systolic=round_to(point.systolic), diastolic=round_to(point.diastolic),
                   at=point.at, source=point.source, reading_id=point.reading_id)


def blood_pressure(found: Collected) -> BloodPressure:
    bps, info, end = found.bps, found.info, found.end
    first_dose = info.first_dose_at
    pre = at_40 = pre_discharge = None
    if first_dose is not None:
        before = [p for p in bps if p.at <= first_dose]
        pre = before[-1] if before else None
        target = first_dose + AT_40_MIN
        lo, hi = first_dose + AT_40_WINDOW[0], first_dose + AT_40_WINDOW[1]
        for spec in found.protocol.bp_checks if found.protocol else []:
            if spec.kind == "at" and spec.anchor == "first_dose" and spec.offset_min == 40:
                lo = target - timedelta(minutes=spec.window_before_min)
                hi = target + timedelta(minutes=spec.window_after_min)
        inside = [p for p in bps if lo <= p.at <= hi]
        at_40 = min(inside, key=lambda p: (abs(p.at - target), p.at)) if inside else None
    if end is not None:
        after_dose = [p for p in bps if p.at <= end and (first_dose is None or p.at > first_dose)]
        pre_discharge = after_dose[-1] if after_dose else None
    highest = max(bps, key=lambda p: (p.systolic, p.diastolic)) if bps else None
    return BloodPressure(
        pre_dose=_bp_value(pre),
        at_40_min=_bp_value(at_40),
        pre_discharge=_bp_value(pre_discharge),
        highest=_bp_value(highest),
        baseline=None if info.baseline_systolic is None else Baseline(
            systolic=info.baseline_systolic, diastolic=info.baseline_diastolic,
            at=info.baseline_at),
        readings=len(bps),
        checks=[BpCheckResult(name=c.name, required=c.required, status=c.status,
                              window_start=c.window_start, window_end=c.window_end,
                              done_at=c.done_at, systolic=c.systolic, diastolic=c.diastolic)
                for c in found.final.bp_checks],
    )


def minutes_below(points: list[Point], limit: float, start: datetime, end: datetime,
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


def coverage(points: list[Point], start: datetime, end: datetime, max_gap_s: float
             ) -> Coverage:
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
    return Coverage(longest_gap_s=round_to(longest), longest_gap_from=longest_at,
                    uncovered_min=round_to(uncovered / 60, 2), max_gap_s=max_gap_s,
                    readings=len(inside))
