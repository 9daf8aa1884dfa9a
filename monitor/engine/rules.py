"""Physiological alarm rules: whether each holds, for how long, and whether it may alarm.

A rule fires once its condition has held for its delay, judged on the readings' own times
(so a burst of spooled readings is judged as it happened). An invalid reading never reaches
a rule. A questionable one counts, but alone cannot raise an alarm: it needs a second
reading or the rule's delay to confirm it. Blood pressure is a spot measurement and stands
until the next one; SpO2 and heart rate are streams, and a value older than the kind's
no-data limit no longer holds anything (the no-data alarm speaks instead).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from drivers.wire import PRIORITY_RANK, Kind, Priority

from .config import AlarmRule, Limit, NoDataLimits, RulePhase
from .readings import BpSample, Sample, shown_number

_NAMES = {
    "systolic": ("SYS", "mmHg"),
    "diastolic": ("DIA", "mmHg"),
    "systolic_rise": ("SYS rise", "mmHg"),
    "diastolic_rise": ("DIA rise", "mmHg"),
    "spo2": ("SpO2", "%"),
    "heart_rate": ("HR", "/min"),
}
_STREAM_KIND: dict[str, Kind] = {"spo2": "spo2", "heart_rate": "heart_rate"}


@dataclass(slots=True)
class RuleState:
    since: datetime | None = None
    """Time of the first reading of the present run that breached the rule."""
    last_reading: str | None = None
    readings: int = 0
    confirmed: bool = False
    fired: bool = False

    def reset(self) -> None:
        self.since = None
        self.last_reading = None
        self.readings = 0
        self.confirmed = False
        self.fired = False


@dataclass(frozen=True, slots=True)
class Breach:
    rule: AlarmRule
    limit: Limit
    sample: Sample
    message: str


@dataclass(slots=True)
class ConditionResult:
    """What the rules of one alarm condition say now."""

    holding: bool = False
    fired: Breach | None = None
    """The highest-priority fired rule's breach, if any fired."""
    latching: bool = False


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Rules judged together (every rule of the conditions some parameters touch), with
    what tells at a glance that judging them would change nothing."""

    rules: tuple[AlarmRule, ...]
    names: tuple[str, ...]
    rises: bool
    """Whether any rule judges a rise from the baseline (derived values: no glance)."""
    conditions: tuple[str, ...]
    bands: tuple[tuple[str, float, float, float, float], ...]
    """Per parameter the rules judge, ``(parameter, gt, ge, lt, le)``: a value ``v`` breaks
    one of their limits exactly when ``v > gt or v >= ge or v < lt or v <= le``."""

    @classmethod
    def of(cls, rules: Iterable[AlarmRule]) -> RuleSet:
        kept = tuple(rules)
        return cls(
            rules=kept,
            names=tuple(r.name for r in kept),
            rises=any(limit.parameter.endswith("_rise") for r in kept for limit in r.any_of),
            conditions=tuple(dict.fromkeys(r.condition for r in kept)),
            bands=_bands(limit for r in kept for limit in r.any_of),
        )


_SLOT = {">": 0, ">=": 1, "<": 2, "<=": 3}
"""Where each comparison's threshold stands in a band (`RuleSet.bands`)."""


def _bands(limits: Iterable[Limit]) -> tuple[tuple[str, float, float, float, float], ...]:
    """Each parameter's limits as the four thresholds that say whether any of them holds:
    the lowest of each upper comparison and the highest of each lower one."""
    inf = float("inf")
    found: dict[str, list[float]] = {}
    for limit in limits:
        band = found.setdefault(limit.parameter, [inf, inf, -inf, -inf])
        slot = _SLOT[limit.op]
        pick = min if slot < 2 else max
        band[slot] = pick(band[slot], limit.value)
    return tuple((name, b[0], b[1], b[2], b[3]) for name, b in found.items())


def quiet(ruleset: RuleSet, states: Mapping[str, RuleState], params: Mapping[str, Sample],
          alarms: Container[tuple[str, str]]) -> bool:
    """Whether judging the rules now would change nothing: none is timing a breach, no
    present value breaks one of their limits (a stale value breaks nothing either, so this
    errs only towards judging), and none of their conditions has an alarm to release. Rules
    that judge rises (derived values) are never quiet at a glance."""
    if ruleset.rises:
        return False
    for name in ruleset.names:
        state = states.get(name)
        if state is not None and state.since is not None:
            return False
    for parameter, gt, ge, lt, le in ruleset.bands:
        sample = params.get(parameter)
        if sample is not None:
            v = sample.value
            if v > gt or v >= ge or v < lt or v <= le:
                return False
    return all((condition, "") not in alarms for condition in ruleset.conditions)


def parameter_samples(
    params: Mapping[str, Sample], baseline: BpSample | None
) -> dict[str, Sample]:
    """The latest samples plus the rises from the pre-dose baseline."""
    out = dict(params)
    if baseline is not None:
        for name, base in (("systolic", baseline.systolic), ("diastolic", baseline.diastolic)):
            sample = params.get(name)
            if sample is not None and sample.at > baseline.at:
                out[f"{name}_rise"] = Sample(
                    sample.value - base, sample.at, sample.reading_id, sample.valid
                )
    return out


def message(rule: AlarmRule, limit: Limit, value: float, baseline: BpSample | None) -> str:
    """Parameter, value and limit, e.g. ``SYS 186 >= 180 mmHg``."""
    name, unit = _NAMES[limit.parameter]
    shown = shown_number(value)
    if limit.parameter.endswith("_rise"):
        shown = f"+{shown}" if value >= 0 else shown
    text = f"{name} {shown} {limit.op} {shown_number(limit.value)} {unit}"
    if limit.parameter.endswith("_rise") and baseline is not None:
        base = baseline.systolic if limit.parameter == "systolic_rise" else baseline.diastolic
        text += f" from baseline {shown_number(base)}"
    return f"{rule.label} {text}" if rule.label else text


def breach(
    rule: AlarmRule,
    samples: Mapping[str, Sample],
    baseline: BpSample | None,
    now: datetime,
    no_data: NoDataLimits,
) -> Breach | None:
    """The first of the rule's limits that the present values break, if any."""
    for limit in rule.any_of:
        sample = samples.get(limit.parameter)
        if sample is None or not limit.holds(sample.value):
            continue
        kind = _STREAM_KIND.get(limit.parameter)
        if kind is not None:
            stale_after = no_data.for_kind(kind)
            if stale_after is not None and (now - sample.at).total_seconds() > stale_after:
                continue
        return Breach(rule, limit, sample, message(rule, limit, sample.value, baseline))
    return None


def applies(rule: AlarmRule, phase: RulePhase, protocol: str) -> bool:
    return phase in rule.phases and (rule.protocols is None or protocol in rule.protocols)


def step(state: RuleState, found: Breach | None) -> None:
    """Advance one rule's state by what its values say now."""
    if found is None:
        state.reset()
        return
    sample = found.sample
    if state.since is None:
        state.since = sample.at
        state.readings = 1
        state.last_reading = sample.reading_id
        state.confirmed = sample.valid
    elif sample.reading_id != state.last_reading:
        state.readings += 1
        state.last_reading = sample.reading_id
        state.confirmed = state.confirmed or sample.valid or state.readings >= 2
    if state.fired:
        return
    held = (sample.at - state.since).total_seconds()
    if (state.confirmed or found.rule.delay_s > 0) and held >= found.rule.delay_s:
        state.fired = True


def evaluate(
    rules: Iterable[AlarmRule],
    states: dict[str, RuleState],
    params: Mapping[str, Sample],
    baseline: BpSample | None,
    phase: RulePhase | None,
    protocol: str,
    now: datetime,
    no_data: NoDataLimits,
) -> dict[str, ConditionResult]:
    """Step every rule and sum them up per alarm condition."""
    samples = parameter_samples(params, baseline) if baseline is not None else params
    results: dict[str, ConditionResult] = {}
    for rule in rules:
        state = states.get(rule.name)
        if state is None:
            state = states[rule.name] = RuleState()
        result = results.get(rule.condition)
        if result is None:
            result = results[rule.condition] = ConditionResult()
        found = None
        if phase is not None and phase in rule.phases and (
                rule.protocols is None or protocol in rule.protocols):
            found = breach(rule, samples, baseline, now, no_data)
        if found is None and state.since is None:
            continue  # nothing breached before or now: nothing to step
        step(state, found)
        if state.since is not None:
            result.holding = True
        if state.fired and found is not None:
            best = result.fired
            if best is None or _rank(rule.priority) > _rank(best.rule.priority):
                result.fired = found
            result.latching = result.latching or rule.latching
    return results


def _rank(priority: Priority) -> int:
    return PRIORITY_RANK[priority]
