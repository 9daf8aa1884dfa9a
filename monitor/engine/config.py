"""The engine's clinical configuration: protocols, alarm rules and limits, as models only.

Every default here equals the ``[engine]`` section of the packaged defaults
(``monitor/defaults.toml``), which ``monitor.config`` reads and layers with the site's file;
the engine itself reads no file. ``docs/clinical-defaults.md`` gives the source of each
number. The clinic owns these numbers: Chairside supports clinical judgement, it does not
replace it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from drivers.wire import KINDS, ConcomitantMedicine, Kind, Priority

RulePhase = Literal["pre_dose", "dosing", "observation"]
"""Phases of an open session in which a rule can apply ("ready" counts as observation)."""

Parameter = Literal[
    "systolic", "diastolic", "systolic_rise", "diastolic_rise", "spo2", "heart_rate"
]
"""What a rule can test. Pressures in mmHg (kPa readings are converted first), rises from
the session's pre-dose baseline in mmHg, SpO2 in %, heart rate in /min."""

Operator = Literal[">=", ">", "<=", "<"]

OPEN_PHASES: tuple[RulePhase, ...] = ("pre_dose", "dosing", "observation")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Limit(_Frozen):
    """One comparison, e.g. ``systolic >= 180``."""

    parameter: Parameter
    op: Operator
    value: float = Field(allow_inf_nan=False)
    """A finite number: an infinite limit says nothing a clinic means, and its alarm text
    could not be written."""

    def holds(self, measured: float) -> bool:
        if self.op == ">=":
            return measured >= self.value
        if self.op == ">":
            return measured > self.value
        if self.op == "<=":
            return measured <= self.value
        return measured < self.value


class AlarmRule(_Frozen):
    """A physiological alarm rule: any of its limits holding raises ``condition``.

    Several rules may share a condition (e.g. a medium and a high tier of ``bp_high``): the
    chair then has one alarm for it, whose priority is the highest tier that fired; a rise to
    a higher tier is an ``escalated`` event.
    """

    name: str = Field(min_length=1, max_length=48)
    condition: str = Field(min_length=1, max_length=32)
    priority: Priority
    any_of: list[Limit] = Field(min_length=1)
    delay_s: float = Field(default=0.0, ge=0)
    latching: bool = False
    phases: list[RulePhase] = Field(default_factory=lambda: list(OPEN_PHASES), min_length=1)
    protocols: list[str] | None = None
    label: str | None = Field(
        default=None, max_length=80, description="words put before the value in messages"
    )


class TechnicalAlarm(_Frozen):
    """Priority, delay and latching of one technical condition."""

    priority: Priority
    delay_s: float = Field(default=0.0, ge=0)
    latching: bool = False


class TechnicalAlarms(_Frozen):
    """Equipment and workflow conditions (shown apart from physiological alarms)."""

    no_data: TechnicalAlarm = TechnicalAlarm(priority="medium")
    device_offline: TechnicalAlarm = TechnicalAlarm(priority="medium", delay_s=10.0)
    device_degraded: TechnicalAlarm = TechnicalAlarm(priority="low", delay_s=10.0)
    gateway_offline: TechnicalAlarm = TechnicalAlarm(priority="medium", delay_s=10.0)
    # Readings are being lost at the chair, not only late: at once, and latched so that the
    # gap is seen even when the disk recovers before anyone looks.
    readings_refused: TechnicalAlarm = TechnicalAlarm(priority="medium", latching=True)
    spo2_missing: TechnicalAlarm = TechnicalAlarm(priority="medium")
    bp_check_due: TechnicalAlarm = TechnicalAlarm(priority="low")
    bp_check_missed: TechnicalAlarm = TechnicalAlarm(priority="medium", latching=True)


class NoDataLimits(_Frozen):
    """Longest silence, in seconds, per kind of reading before ``no_data``; 0: never."""

    blood_pressure: float = Field(default=0.0, ge=0)
    cuff_pressure: float = Field(default=0.0, ge=0)
    heart_rate: float = Field(default=30.0, ge=0)
    spo2: float = Field(default=30.0, ge=0)

    def for_kind(self, kind: Kind) -> float | None:
        limit: float = getattr(self, kind)
        return limit or None

    def by_kind(self) -> dict[str, float | None]:
        """`for_kind` of every kind, as a table: looked up for every reading, so its holder
        makes it once (not cached here: ``model_copy`` would copy a cache unchanged)."""
        return {kind: self.for_kind(kind) for kind in KINDS}


class Escalation(_Frozen):
    """Seconds an alarm may stay unacknowledged before ``escalated``; 0: never."""

    high: float = Field(default=60.0, ge=0)
    medium: float = Field(default=120.0, ge=0)
    low: float = Field(default=0.0, ge=0)

    def after(self, priority: Priority) -> float | None:
        limit: float = getattr(self, priority)
        return limit or None


class AudioPause(_Frozen):
    """AUDIO PAUSED is time-limited (IEC 60601-1-8)."""

    max_s: int = Field(default=120, ge=1, le=600)
    ended_by: Priority | None = Field(
        default="high", description="a new alarm of this priority or higher ends a pause"
    )


class BpCheckSpec(_Frozen):
    """A blood-pressure check a protocol requires.

    ``pre_dose``: from session start until the first dose. ``at``: ``offset_min`` after the
    anchor. ``every``: every ``every_min`` after the anchor until ``until``. ``pre_discharge``:
    from ``window_before_min`` before the earliest discharge time, open until discharge.
    A check at a time is satisfied by a BP from ``window_before_min`` before it to
    ``window_after_min`` after it; after that it is missed.
    """

    name: str = Field(min_length=1, max_length=24)
    kind: Literal["pre_dose", "at", "every", "pre_discharge"]
    anchor: Literal["first_dose", "infusion_end"] = "first_dose"
    offset_min: float = Field(default=0.0, ge=0)
    every_min: float | None = Field(default=None, gt=0)
    until: Literal["infusion_end", "observation_end"] = "observation_end"
    window_before_min: float = Field(default=0.0, ge=0)
    window_after_min: float = Field(default=5.0, ge=0)
    required: bool = True
    only_with: list[ConcomitantMedicine] = Field(
        default_factory=list,
        description="the check applies only to a session that recorded one of these "
        "medicines at its start (the label: monitor BP closely with psychostimulants or MAOIs)",
    )

    @model_validator(mode="after")
    def _every_needs_interval(self) -> BpCheckSpec:
        if self.kind == "every" and self.every_min is None:
            raise ValueError(f"bp check {self.name!r}: kind 'every' needs every_min")
        return self


class DischargeCriteria(_Frozen):
    """What must hold, besides the minimum observation and the BP checks, to discharge."""

    systolic_below: float = 160.0
    diastolic_below: float = 100.0
    bp_max_age_min: float = Field(default=30.0, gt=0)
    assessment_max_age_min: float = Field(default=30.0, ge=0, description="0: any age")
    aldrete_required: bool = False
    aldrete_pass_mark: int = Field(default=9, ge=0, le=10)


class ProtocolConfig(_Frozen):
    """One treatment protocol: how it doses, how long it observes, which BP checks it needs."""

    title: str
    dosing: Literal["devices", "infusion", "single"]
    observation_min: float = Field(gt=0)
    observation_from: Literal["first_dose", "infusion_end"] = "first_dose"
    mg_per_device: float = Field(default=28.0, gt=0)
    max_devices: int = Field(default=3, ge=1)
    device_interval_min: float = Field(default=5.0, ge=0)
    infusion_min: float = Field(default=40.0, gt=0)
    requires_spo2: bool = False
    bp_checks: list[BpCheckSpec] = Field(default_factory=list)
    discharge: DischargeCriteria = DischargeCriteria()

    @model_validator(mode="after")
    def _consistent(self) -> ProtocolConfig:
        if self.observation_from == "infusion_end" and self.dosing != "infusion":
            raise ValueError("observation_from 'infusion_end' needs dosing 'infusion'")
        for check in self.bp_checks:
            uses_end = check.anchor == "infusion_end" or (
                check.kind == "every" and check.until == "infusion_end"
            )
            if uses_end and self.dosing != "infusion":
                raise ValueError(f"bp check {check.name!r} uses the infusion end")
        names = [c.name for c in self.bp_checks]
        if len(set(names)) != len(names):
            raise ValueError("bp check names must be unique within a protocol")
        return self


def _bp_check(
    name: str, kind: Literal["pre_dose", "at", "every", "pre_discharge"], **kw: Any
) -> Any:
    return BpCheckSpec(name=name, kind=kind, **kw)


def _default_protocols() -> dict[str, ProtocolConfig]:
    return {
        "spravato": ProtocolConfig(
            title="Esketamine nasal spray (Spravato)",
            dosing="devices",
            observation_min=120.0,
            requires_spo2=True,
            bp_checks=[
                _bp_check("pre_dose", "pre_dose"),
                _bp_check("40_min", "at", offset_min=40.0, window_before_min=5.0,
                    window_after_min=10.0),
                _bp_check("closer", "every", every_min=15.0, window_before_min=2.0,
                    window_after_min=5.0, required=False,
                    only_with=["psychostimulant", "maoi"]),
                _bp_check("pre_discharge", "pre_discharge", window_before_min=20.0),
            ],
        ),
        "iv_ketamine": ProtocolConfig(
            title="Ketamine infusion (IV)",
            dosing="infusion",
            observation_min=60.0,
            observation_from="infusion_end",
            infusion_min=40.0,
            requires_spo2=True,
            bp_checks=[
                _bp_check("pre_dose", "pre_dose"),
                _bp_check("infusion", "every", every_min=10.0, until="infusion_end",
                    window_before_min=2.0, window_after_min=5.0, required=False),
                _bp_check("recovery", "every", anchor="infusion_end", every_min=15.0,
                    window_before_min=2.0, window_after_min=5.0, required=False),
                _bp_check("pre_discharge", "pre_discharge", window_before_min=20.0),
            ],
        ),
        "im_ketamine": ProtocolConfig(
            title="Ketamine injection (IM)",
            dosing="single",
            observation_min=120.0,
            requires_spo2=True,
            bp_checks=[
                _bp_check("pre_dose", "pre_dose"),
                _bp_check("post_dose", "every", every_min=15.0, until="observation_end",
                    window_before_min=2.0, window_after_min=5.0, required=False),
                _bp_check("pre_discharge", "pre_discharge", window_before_min=20.0),
            ],
        ),
    }


def _lim(parameter: Parameter, op: Operator, value: float) -> Limit:
    return Limit(parameter=parameter, op=op, value=value)


def _default_rules() -> list[AlarmRule]:
    after_dose: list[RulePhase] = ["dosing", "observation"]
    return [
        AlarmRule(name="bp_high", condition="bp_high", priority="high", latching=True,
                  any_of=[_lim("systolic", ">=", 180), _lim("diastolic", ">=", 110)]),
        AlarmRule(name="bp_elevated", condition="bp_high", priority="medium",
                  any_of=[_lim("systolic", ">=", 160), _lim("diastolic", ">=", 100)]),
        AlarmRule(name="bp_rise", condition="bp_rise", priority="medium", phases=after_dose,
                  any_of=[_lim("systolic_rise", ">=", 40), _lim("diastolic_rise", ">=", 25)]),
        AlarmRule(name="bp_baseline_elevated", condition="bp_baseline_elevated",
                  priority="low", phases=["pre_dose"], label="pre-dose",
                  any_of=[_lim("systolic", ">", 140), _lim("diastolic", ">", 90)]),
        AlarmRule(name="spo2_low", condition="spo2_low", priority="medium", delay_s=15.0,
                  any_of=[_lim("spo2", "<", 92)]),
        AlarmRule(name="spo2_critical", condition="spo2_low", priority="high", delay_s=10.0,
                  latching=True, any_of=[_lim("spo2", "<", 88)]),
        AlarmRule(name="hr_high", condition="hr_high", priority="medium", delay_s=300.0,
                  any_of=[_lim("heart_rate", ">", 120)]),
        AlarmRule(name="hr_very_high", condition="hr_high", priority="high", delay_s=10.0,
                  latching=True, any_of=[_lim("heart_rate", ">", 140)]),
        AlarmRule(name="hr_low", condition="hr_low", priority="medium", delay_s=300.0,
                  any_of=[_lim("heart_rate", "<", 50)]),
        AlarmRule(name="hr_very_low", condition="hr_low", priority="high", delay_s=10.0,
                  latching=True, any_of=[_lim("heart_rate", "<", 40)]),
    ]


class EngineConfig(_Frozen):
    """Everything the session engine decides with. ``EngineConfig()`` is the shipped default."""

    protocols: dict[str, ProtocolConfig] = Field(default_factory=_default_protocols)
    rules: list[AlarmRule] = Field(default_factory=_default_rules)
    technical: TechnicalAlarms = TechnicalAlarms()
    no_data_s: NoDataLimits = NoDataLimits()
    escalation_s: Escalation = Escalation()
    audio_pause: AudioPause = AudioPause()
    discharge_override_roles: list[str] = Field(
        default_factory=lambda: ["physician", "prescriber"]
    )
    state_interval_s: float = Field(default=5.0, gt=0)
    clock_skew_s: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> EngineConfig:
        if not self.protocols:
            raise ValueError("at least one protocol is needed")
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise ValueError("rule names must be unique")
        for rule in self.rules:
            for protocol in rule.protocols or []:
                if protocol not in self.protocols:
                    raise ValueError(f"rule {rule.name!r} names unknown protocol {protocol!r}")
        return self

    def may_override(self, by: str) -> bool:
        """Whether ``by`` (a role, or ``role:name``) may discharge before readiness."""
        role = by.split(":", 1)[0].strip().casefold()
        return role in {r.casefold() for r in self.discharge_override_roles}
