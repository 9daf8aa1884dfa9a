"""Wire contract v1: the payloads that travel over MQTT, as pydantic models.

Every payload carries ``"v": 1``. Times are ISO 8601 in UTC with milliseconds and a ``Z``.
No payload ever carries a patient's name: a session has a pseudonymous patient code.

Unknown fields are ignored (a newer sender must not make an older receiver drop a reading);
every known field is validated, and values outside what a device can physically report are
refused with the field, the value and the allowed range in the message.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from drivers.value_ranges import MMHG_PER_KPA, Unit, value_range

NUMBER_TYPES = (int, float)
"""What a number on the wire is, for ``isinstance``: a tuple, since ``int | float`` there is
built again on every call (values are checked on every reading and every redraw)."""


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("time must carry a UTC offset (e.g. 2026-01-01T09:00:00.000Z)")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # year 1 east of UTC, or 9999 west of it: pydantic would not catch it
        raise ValueError("time is outside the calendar once in UTC") from None


def format_time(value: datetime) -> str:
    """ISO 8601, UTC, milliseconds: ``2026-11-22T09:40:00.123Z``."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    """The inverse of `format_time` (any ISO 8601 time; ``Z`` for UTC); ValueError if not."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


UtcTime = Annotated[
    datetime,
    AfterValidator(_as_utc),
    PlainSerializer(format_time, return_type=str, when_used="json"),
]
"""A time on the wire: must carry an offset, is normalised to UTC."""


def new_id() -> str:
    """A unique message id (used to de-duplicate QoS 1 redelivery and as idempotency key)."""
    return uuid.uuid4().hex


class WireModel(BaseModel):
    """Base of every payload: version 1, unknown fields ignored, frozen once built."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Literal[1] = 1

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


# --- Readings ----------------------------------------------------------------------------

Kind = Literal["blood_pressure", "cuff_pressure", "heart_rate", "spo2"]
Quality = Literal["valid", "questionable", "invalid"]
KINDS: tuple[Kind, ...] = ("blood_pressure", "cuff_pressure", "heart_rate", "spo2")

FlagName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")]

# Which value fields each kind may carry, which it must carry, and its allowed units.
_KIND_FIELDS: dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]] = {
    "blood_pressure": (
        frozenset({"systolic", "diastolic", "mean", "pulse_rate"}),
        frozenset(),
        frozenset({"mm[Hg]", "kPa"}),
    ),
    "cuff_pressure": (
        frozenset({"cuff_pressure", "pulse_rate"}),
        frozenset(),
        frozenset({"mm[Hg]", "kPa"}),
    ),
    "heart_rate": (
        frozenset({"heart_rate", "rr_intervals", "energy_expended"}),
        frozenset(),
        frozenset({"/min"}),
    ),
    "spo2": (
        frozenset({"spo2", "pulse_rate", "perfusion_index"}),
        frozenset(),
        frozenset({"%"}),
    ),
}

_VALUE_RANGES: dict[tuple[str, str], dict[str, tuple[float, float] | None]] = {
    (kind, unit): {name: None if name == "rr_intervals" else value_range(name, unit)  # type: ignore[arg-type]
                   for name in allowed}
    for kind, (allowed, _, units) in _KIND_FIELDS.items() for unit in units
}
"""Each value field's range by the kind and unit of its reading (None: ``rr_intervals``, a
list checked on its own); a reading is checked against it on every decode."""

ReadingValue = float | list[float]


class Reading(WireModel):
    """One measurement from one device, as the gateway publishes it.

    ``values`` holds only numbers the device really reported; a value the device marked as
    not available is absent and a flag says why. Values are in the device's own ``unit``.
    """

    id: str = Field(default_factory=new_id, min_length=1, max_length=64)
    chair: str = Field(min_length=1, max_length=64)
    device: str = Field(min_length=1, max_length=64)
    source: str = Field(min_length=1, max_length=32, description="protocol, e.g. ble-2a35")
    kind: Kind
    measured_at: UtcTime
    received_at: UtcTime
    values: dict[str, ReadingValue]
    unit: Unit
    flags: list[FlagName] = Field(default_factory=list)
    quality: Quality = "valid"
    seq: int | None = Field(
        default=None, ge=0, description="per-device sequence number from the gateway"
    )

    @model_validator(mode="after")
    def _check_values(self) -> Reading:
        ranges = _VALUE_RANGES.get((self.kind, self.unit))
        if ranges is None:
            units = _KIND_FIELDS[self.kind][2]
            raise ValueError(f"unit {self.unit!r} is not allowed for {self.kind}: {sorted(units)}")
        for name, value in self.values.items():
            if name not in ranges:
                raise ValueError(f"values.{name} is not a field of {self.kind}: {sorted(ranges)}")
            bounds = ranges[name]
            if bounds is None:
                if not isinstance(value, list) or any(not 0 <= x <= 65.535 for x in value):
                    raise ValueError("values.rr_intervals must be a list of seconds in 0..65.535")
                continue
            if isinstance(value, list):
                raise ValueError(f"values.{name} must be a number")
            low, high = bounds
            if not (low <= value <= high) or value != value:
                raise ValueError(
                    f"values.{name}={value} is out of range {low:g}..{high:g} {self.unit}"
                )
        if not self.values and self.quality != "invalid":
            raise ValueError("a reading with no values must have quality 'invalid'")
        return self

    def number(self, name: str) -> float | None:
        """A scalar value, or None when the device did not report it."""
        value = self.values.get(name)
        return value if isinstance(value, NUMBER_TYPES) else None

    def in_mmhg(self, name: str) -> float | None:
        """A pressure value converted to mmHg (alarm limits are set in mmHg)."""
        value = self.number(name)
        if value is None:
            return None
        return value * MMHG_PER_KPA if self.unit == "kPa" else value


# --- Device status -----------------------------------------------------------------------

DeviceState = Literal["connecting", "connected", "degraded", "disconnected", "offline"]


class DeviceCounters(BaseModel):
    """What a driver has seen since it started: for telling a noisy line from a quiet one."""

    model_config = ConfigDict(frozen=True)

    frames: int = 0
    bad_frames: int = 0
    dropped_bytes: int = 0
    readings: int = 0
    reconnects: int = 0
    spooled: int = 0
    unreadable: int = 0
    """Values of vitals in good frames that could not be used (a unit that does not fit,
    a code that is not the one its name says, a value out of range, a status that is not a
    result): each one a value the device sent and no Reading carries."""
    noted: int = 0
    """Values used with a note (a reference id other than the table's)."""


class DeviceStatus(WireModel):
    """A device's connection state, published retained; the gateway's last will says offline."""

    chair: str
    device: str
    source: str
    state: DeviceState
    at: UtcTime
    reason: str | None = None
    endpoint: str | None = None
    counters: DeviceCounters = Field(default_factory=DeviceCounters)
    refusing: bool = Field(
        default=False,
        description="the gateway's outbox refuses this device's new readings (full, or its "
        "disk fails): they are not monitored and not recorded until it takes them again",
    )
    unreadable: dict[Kind, str] = Field(
        default_factory=dict,
        description="Reading kinds the device sends that the gateway cannot read, with why "
        "(e.g. heart_rate: 'heart rate not readable from this device: unit ...')",
    )


# --- Commands ----------------------------------------------------------------------------

PatientCode = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$",
        description="pseudonymous patient code (letters, digits, - and _), never a name",
    ),
]
ConcomitantMedicine = Literal[
    "benzodiazepine", "non_benzodiazepine_sedative_hypnotic", "psychostimulant", "maoi", "opioid"
]


class CommandBase(WireModel):
    id: str = Field(default_factory=new_id, min_length=1, max_length=64)
    at: UtcTime
    by: str = Field(min_length=1, max_length=64, description="user name or role")


class StartSession(CommandBase):
    type: Literal["start_session"] = "start_session"
    patient_code: PatientCode
    protocol: str = Field(min_length=1, max_length=32)
    dose_mg: float | None = Field(default=None, gt=0, le=1000)
    lot: str | None = Field(default=None, max_length=32)
    concomitant: list[ConcomitantMedicine] = Field(default_factory=list)


class DoseGiven(CommandBase):
    type: Literal["dose_given"] = "dose_given"
    detail: str | None = Field(default=None, max_length=120)
    dose_mg: float | None = Field(default=None, gt=0, le=1000)


class InfusionEnd(CommandBase):
    type: Literal["infusion_end"] = "infusion_end"


class ManualBp(CommandBase):
    type: Literal["manual_bp"] = "manual_bp"
    systolic: int = Field(ge=40, le=300)
    diastolic: int = Field(ge=20, le=200)
    pulse: int | None = Field(default=None, ge=20, le=300)

    @model_validator(mode="after")
    def _systolic_above_diastolic(self) -> ManualBp:
        if self.diastolic >= self.systolic:
            raise ValueError(
                f"diastolic {self.diastolic} must be below systolic {self.systolic}"
            )
        return self


class Aldrete(BaseModel):
    """Modified Aldrete score items, each 0..2 (activity, respiration, circulation,
    consciousness, SpO2)."""

    model_config = ConfigDict(frozen=True)

    activity: int = Field(ge=0, le=2)
    respiration: int = Field(ge=0, le=2)
    circulation: int = Field(ge=0, le=2)
    consciousness: int = Field(ge=0, le=2)
    spo2: int = Field(ge=0, le=2)

    @property
    def total(self) -> int:
        return self.activity + self.respiration + self.circulation + self.consciousness + self.spo2


class Assessment(CommandBase):
    type: Literal["assessment"] = "assessment"
    sedation: Literal["none", "present"]
    dissociation: Literal["none", "present"]
    respiration: Literal["normal", "depressed"]
    moaas: int | None = Field(default=None, ge=0, le=5, description="MOAA/S score, 5 = alert")
    aldrete: Aldrete | None = None
    note: str | None = Field(default=None, max_length=500)


class AckAlarm(CommandBase):
    type: Literal["ack_alarm"] = "ack_alarm"
    alarm_id: str = Field(min_length=1, max_length=64)


class PauseAudio(CommandBase):
    type: Literal["pause_audio"] = "pause_audio"
    seconds: int = Field(ge=1, le=600)


class Discharge(CommandBase):
    type: Literal["discharge"] = "discharge"
    override_reason: str | None = Field(default=None, min_length=3, max_length=500)


class EndSession(CommandBase):
    type: Literal["end_session"] = "end_session"
    reason: str | None = Field(default=None, max_length=500)


Symptom = Literal[
    # hypertensive crisis
    "chest_pain", "shortness_of_breath",
    # hypertensive encephalopathy
    "severe_headache", "visual_disturbance", "seizure", "diminished_consciousness",
    "focal_neurological_deficit",
]
SYMPTOMS: tuple[Symptom, ...] = (
    "chest_pain", "shortness_of_breath", "severe_headache", "visual_disturbance", "seizure",
    "diminished_consciousness", "focal_neurological_deficit",
)


class Symptoms(CommandBase):
    """Symptoms the nurse saw: the Spravato label asks that a patient with symptoms of a
    hypertensive crisis or of hypertensive encephalopathy be referred for emergency care at
    once."""

    type: Literal["symptoms"] = "symptoms"
    symptoms: list[Symptom] = Field(min_length=1, max_length=len(SYMPTOMS))
    note: str | None = Field(default=None, max_length=500)


Command = Annotated[
    StartSession
    | DoseGiven
    | InfusionEnd
    | ManualBp
    | Assessment
    | AckAlarm
    | PauseAudio
    | Discharge
    | EndSession
    | Symptoms,
    Field(discriminator="type"),
]
COMMAND_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)


class CommandResult(WireModel):
    """The engine's answer to a command: applied, or refused with the reasons."""

    id: str = Field(description="the command's id")
    chair: str
    type: str
    accepted: bool
    at: UtcTime
    reasons: list[str] = Field(default_factory=list)
    by: str | None = Field(default=None, description="who sent it: the user its topic names, "
                           "or on a site without sign-in the command's own by")
    role: str | None = Field(default=None, description="the sender's role in the site's user "
                             "directory (none: no directory, or not an enabled user)")


# --- Alarms ------------------------------------------------------------------------------

Priority = Literal["high", "medium", "low"]
AlarmKind = Literal["physiological", "technical"]
AlarmEventType = Literal["raised", "escalated", "acknowledged", "cleared"]
PRIORITY_RANK: dict[str, int] = {"high": 3, "medium": 2, "low": 1}


class AlarmEvent(WireModel):
    """One change of one alarm. ``alarm_id`` names the alarm across its events; ``id`` is
    unique to the event."""

    id: str = Field(default_factory=new_id)
    alarm_id: str
    chair: str
    condition: str
    kind: AlarmKind
    priority: Priority
    event: AlarmEventType
    at: UtcTime
    message: str
    reading_id: str | None = None
    by: str | None = None
    clock_rate: float = Field(
        1.0,
        gt=0,
        description="clock seconds per wall second when the event was raised: 1 at a "
        "clinic, more in a simulated demo",
    )


# --- Chair state -------------------------------------------------------------------------

Phase = Literal[
    "idle", "pre_dose", "dosing", "observation", "ready", "discharged", "ended"
]


class SessionInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    patient_code: PatientCode
    protocol: str
    phase: Phase
    started_at: UtcTime
    first_dose_at: UtcTime | None = None
    infusion_end_at: UtcTime | None = None
    dose_mg: float | None = None
    lot: str | None = None
    concomitant: list[str] = Field(default_factory=list)
    doses_given: int = 0
    discharged_at: UtcTime | None = None
    discharged_by: str | None = None
    override_reason: str | None = None
    # Added for the session engine (all optional): what a screen and a restart need.
    last_dose_at: UtcTime | None = None
    doses_expected: int | None = Field(
        default=None, description="nasal devices the dose needs (Spravato: 28 mg each)"
    )
    next_dose_at: UtcTime | None = Field(
        default=None, description="earliest time for the next nasal device"
    )
    baseline_systolic: float | None = Field(default=None, description="pre-dose BP, mmHg")
    baseline_diastolic: float | None = None
    baseline_at: UtcTime | None = None
    last_assessment: Assessment | None = None
    overridden: list[str] = Field(
        default_factory=list, description="discharge conditions unmet when overridden"
    )
    ended_at: UtcTime | None = None
    end_reason: str | None = None
    alarm_counter: int = Field(
        default=0, ge=0, description="alarms raised at this chair so far; ids continue from it"
    )


class LatestValue(BaseModel):
    """The newest reading of one kind, with its age when the state was published."""

    model_config = ConfigDict(frozen=True)

    reading_id: str
    device: str
    values: dict[str, ReadingValue]
    unit: Unit
    quality: Quality
    flags: list[str] = Field(default_factory=list)
    measured_at: UtcTime
    received_at: UtcTime
    age_s: float


class ObservationClock(BaseModel):
    model_config = ConfigDict(frozen=True)

    started_at: UtcTime
    elapsed_s: float
    minimum_s: float
    earliest_discharge_at: UtcTime


BpCheckStatus = Literal["pending", "due", "done", "missed"]


class BpCheck(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    window_start: UtcTime | None = None
    window_end: UtcTime | None = None
    status: BpCheckStatus
    done_at: UtcTime | None = None
    systolic: float | None = None
    diastolic: float | None = None
    reading_id: str | None = None
    required: bool = Field(default=True, description="needed before discharge")


class ActiveAlarm(BaseModel):
    model_config = ConfigDict(frozen=True)

    alarm_id: str
    condition: str
    kind: AlarmKind
    priority: Priority
    message: str
    raised_at: UtcTime
    active: bool = Field(description="the condition still holds (false: latched after clearing)")
    acknowledged: bool = False
    acknowledged_at: UtcTime | None = None
    acknowledged_by: str | None = None
    escalated: bool = False
    subject: str | None = Field(
        default=None, description="what it is about: a device, a device/kind, a BP check"
    )
    latching: bool = False
    reading_id: str | None = None


class UnmetCondition(BaseModel):
    model_config = ConfigDict(frozen=True)

    condition: str
    reason: str
    met_in_s: float | None = Field(
        default=None, description="seconds until it can be met by time alone; null if not"
    )


class DischargeReadiness(BaseModel):
    model_config = ConfigDict(frozen=True)

    ready: bool
    unmet: list[UnmetCondition] = Field(default_factory=list)


class AnsweredCommand(BaseModel):
    """A command the engine has answered, one entry of `AnsweredCommands`."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: str
    accepted: bool
    at: UtcTime


class ChairState(WireModel):
    """Everything a dashboard shows for one chair, published retained by the engine."""

    chair: str
    at: UtcTime
    session: SessionInfo | None = None
    latest: dict[str, LatestValue] = Field(default_factory=dict)
    observation: ObservationClock | None = None
    bp_checks: list[BpCheck] = Field(default_factory=list)
    alarms: list[ActiveAlarm] = Field(default_factory=list)
    discharge: DischargeReadiness = Field(
        default_factory=lambda: DischargeReadiness(ready=False)
    )
    devices: dict[str, DeviceState] = Field(default_factory=dict)
    unreadable: dict[Kind, str] = Field(
        default_factory=dict,
        description="vitals a device of this chair sends that cannot be read, with the "
        "device and why: a screen says so instead of showing an empty value",
    )
    audio_paused_until: UtcTime | None = None

    def highest_alarm(self) -> ActiveAlarm | None:
        """The alarm a screen should show first: highest priority, then oldest."""
        if not self.alarms:
            return None
        return max(
            self.alarms,
            key=lambda a: (PRIORITY_RANK[a.priority], -a.raised_at.timestamp()),
        )


class AnsweredCommands(WireModel):
    """The latest commands the engine answered for one chair, published retained whenever
    it answers one, so that a command the broker delivers again after an engine restart is
    recognised and not applied twice. A topic of its own: a chair's state, published several
    times a second, does not repeat it."""

    chair: str
    at: UtcTime
    answered: list[AnsweredCommand] = Field(
        default_factory=list, description="the latest commands answered, oldest first"
    )


class EngineStatus(WireModel):
    """The engine's liveness, published retained; its last will says offline."""

    state: Literal["online", "offline"]
    at: UtcTime
    started_at: UtcTime | None = None
    version: str | None = None
    rejected: int = Field(default=0, ge=0, description="messages refused since it started")
    last_rejected: str | None = Field(
        default=None, description="the topic and reason of the latest refusal")


class GatewayStatus(WireModel):
    """A gateway's liveness and spool, published retained; its last will says offline."""

    chair: str
    state: Literal["online", "offline"]
    at: UtcTime
    spool_depth: int = 0
    spool_capacity: int = 0
    connection: str | None = Field(
        default=None,
        description="the gateway's broker connection this status belongs to; its last will, "
        "built when it connected and so older than its heartbeats, ends that connection",
    )


class Recorded(WireModel):
    """The recorder's word that these readings of one chair are committed to the recording,
    the system of record. A gateway keeps a reading in its spool until it has this (a
    broker's PUBACK is not durability: a broker killed before it saves loses what it
    acknowledged). Sent for every reading the recorder takes, a redelivered one too."""

    chair: str
    at: UtcTime
    ids: list[str] = Field(max_length=1000)


PAYLOAD_MODELS: dict[str, Any] = {
    "Reading": Reading,
    "DeviceStatus": DeviceStatus,
    "Command": COMMAND_ADAPTER,
    "CommandResult": CommandResult,
    "ChairState": ChairState,
    "AnsweredCommands": AnsweredCommands,
    "AlarmEvent": AlarmEvent,
    "EngineStatus": EngineStatus,
    "GatewayStatus": GatewayStatus,
    "Recorded": Recorded,
}


def json_schemas() -> dict[str, Any]:
    """The JSON Schema of every payload, keyed by model name (``chairside schema``)."""
    out: dict[str, Any] = {}
    for name, model in PAYLOAD_MODELS.items():
        if isinstance(model, TypeAdapter):
            out[name] = model.json_schema(mode="serialization")
        else:
            out[name] = model.model_json_schema(mode="serialization")
    return out


__all__ = [
    "COMMAND_ADAPTER",
    "KINDS",
    "MMHG_PER_KPA",
    "PRIORITY_RANK",
    "SYMPTOMS",
    "ActiveAlarm",
    "AlarmEvent",
    "AnsweredCommand",
    "AnsweredCommands",
    "BpCheck",
    "ChairState",
    "Command",
    "CommandResult",
    "DeviceCounters",
    "DeviceStatus",
    "DischargeReadiness",
    "EngineStatus",
    "GatewayStatus",
    "LatestValue",
    "ObservationClock",
    "Reading",
    "SessionInfo",
    "Symptom",
    "Symptoms",
    "Unit",
    "UnmetCondition",
    "ValidationError",
    "format_time",
    "json_schemas",
    "new_id",
    "parse_time",
]
