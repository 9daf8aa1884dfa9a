"""One treatment session at one chair: who, which protocol, and how far it has got.

Phases: ``pre_dose`` (started, baseline BP), ``dosing`` (some nasal devices given, or the
infusion running), ``observation``, then ``discharged`` or ``ended``. ``ready`` is not
stored: it is observation with every discharge condition met, so it follows time and alarms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from drivers.wire import Assessment, Phase, SessionInfo, StartSession

from .config import ProtocolConfig
from .readings import BpSample

StoredPhase = Literal["pre_dose", "dosing", "observation", "discharged", "ended"]


@dataclass(slots=True)
class Session:
    patient_code: str
    protocol_name: str
    protocol: ProtocolConfig
    started_at: datetime
    dose_mg: float | None = None
    lot: str | None = None
    concomitant: list[str] = field(default_factory=list)
    phase: StoredPhase = "pre_dose"
    first_dose_at: datetime | None = None
    last_dose_at: datetime | None = None
    doses_given: int = 0
    infusion_end_at: datetime | None = None
    discharged_at: datetime | None = None
    discharged_by: str | None = None
    override_reason: str | None = None
    overridden: list[str] = field(default_factory=list)
    ended_at: datetime | None = None
    end_reason: str | None = None
    bp: list[BpSample] = field(default_factory=list)
    """Every usable BP since the session started, in time order."""
    restored_baseline: BpSample | None = None
    assessment: Assessment | None = None
    _baseline: tuple[int, datetime | None, BpSample | None] | None = field(
        default=None, repr=False, compare=False)
    """The baseline last found, with the BP count and first dose it was found for."""

    @classmethod
    def start(cls, cmd: StartSession, protocol: ProtocolConfig, at: datetime) -> Session:
        return cls(
            patient_code=cmd.patient_code, protocol_name=cmd.protocol, protocol=protocol,
            started_at=at, dose_mg=cmd.dose_mg, lot=cmd.lot, concomitant=list(cmd.concomitant),
        )

    # --- where it is ---------------------------------------------------------------------

    @property
    def open(self) -> bool:
        return self.phase in ("pre_dose", "dosing", "observation")

    @property
    def closed_at(self) -> datetime | None:
        return self.discharged_at or self.ended_at

    @property
    def observation_start(self) -> datetime | None:
        """The first nasal device or injection, or the infusion's end, as the protocol says."""
        if self.protocol.observation_from == "infusion_end":
            return self.infusion_end_at
        return self.first_dose_at

    @property
    def observation_minimum(self) -> timedelta:
        return timedelta(minutes=self.protocol.observation_min)

    @property
    def earliest_discharge(self) -> datetime | None:
        start = self.observation_start
        return None if start is None else start + self.observation_minimum

    @property
    def doses_expected(self) -> int | None:
        """Nasal devices the session dose needs (56 mg: 2, 84 mg: 3); None when unknown."""
        if self.protocol.dosing != "devices" or self.dose_mg is None:
            return None
        count = math.ceil(self.dose_mg / self.protocol.mg_per_device - 1e-9)
        return max(1, min(count, self.protocol.max_devices))

    @property
    def next_dose_at(self) -> datetime | None:
        """When the next nasal device may be given, while devices remain."""
        if self.protocol.dosing != "devices" or self.last_dose_at is None or not self.open:
            return None
        if self.doses_given >= (self.doses_expected or self.protocol.max_devices):
            return None
        return self.last_dose_at + timedelta(minutes=self.protocol.device_interval_min)

    def expected_infusion_end(self) -> datetime | None:
        if self.infusion_end_at is not None:
            return self.infusion_end_at
        if self.first_dose_at is None:
            return None
        return self.first_dose_at + timedelta(minutes=self.protocol.infusion_min)

    def observation_end(self) -> datetime | None:
        return self.earliest_discharge

    @property
    def baseline(self) -> BpSample | None:
        """The pre-dose BP: the last one before the first dose (the baseline for rises)."""
        if self.first_dose_at is None:
            return None
        cached = self._baseline
        if cached is not None and cached[0] == len(self.bp) and cached[1] == self.first_dose_at:
            return cached[2]
        before = [s for s in self.bp if s.at <= self.first_dose_at]
        found = before[-1] if before else self.restored_baseline
        self._baseline = (len(self.bp), self.first_dose_at, found)
        return found

    def latest_bp(self) -> BpSample | None:
        return self.bp[-1] if self.bp else None

    def add_bp(self, sample: BpSample) -> None:
        if sample.at < self.started_at:
            return
        if self.bp and sample.at < self.bp[-1].at:
            self.bp.append(sample)
            self.bp.sort(key=lambda s: s.at)
        else:
            self.bp.append(sample)

    # --- what it does --------------------------------------------------------------------

    def refuse_dose(self) -> list[str]:
        """Why a dose cannot be recorded now (empty: it can)."""
        p = self.protocol
        if not self.open:
            return [f"the session is {self.phase}"]
        if self.first_dose_at is None:
            return []
        if p.dosing == "single":
            return [f"protocol {self.protocol_name} gives a single dose, already given"]
        if p.dosing == "infusion":
            if self.infusion_end_at is None:
                return ["the infusion is already running; record infusion_end when it stops"]
            return ["the infusion has ended; start a new session for another infusion"]
        limit = self.doses_expected or p.max_devices
        if self.doses_given >= limit:
            return [f"all {limit} nasal devices of this dose are already recorded"]
        return []

    def give_dose(self, at: datetime, dose_mg: float | None) -> list[str]:
        """Record a dose (one nasal device, the infusion's start, or the injection).

        Returns notes for the nurse (e.g. a device sooner than the label's interval); the
        dose is recorded anyway, because it was given.
        """
        notes: list[str] = []
        if self.first_dose_at is None and not any(s.at <= at for s in self.bp):
            notes.append("no pre-dose blood pressure was recorded")
        next_at = self.next_dose_at
        if next_at is not None and at < next_at:
            gap = (at - (self.last_dose_at or at)).total_seconds()
            notes.append(
                f"device {self.doses_given + 1} given {gap / 60:.1f} min after the previous "
                f"one; the protocol interval is {self.protocol.device_interval_min:g} min"
            )
        if self.dose_mg is None and dose_mg is not None and self.first_dose_at is None:
            self.dose_mg = dose_mg
        if self.first_dose_at is None:
            self.first_dose_at = at
        self.last_dose_at = at
        self.doses_given += 1
        if self.protocol.dosing == "single":
            self.phase = "observation"
        elif self.protocol.dosing == "infusion":
            self.phase = "dosing"
        else:
            expected = self.doses_expected
            self.phase = "dosing" if expected is not None and self.doses_given < expected else (
                "observation"
            )
        return notes

    def refuse_infusion_end(self) -> list[str]:
        if not self.open:
            return [f"the session is {self.phase}"]
        if self.protocol.dosing != "infusion":
            return [f"protocol {self.protocol_name} has no infusion"]
        if self.first_dose_at is None:
            return ["the infusion has not started (no dose_given yet)"]
        if self.infusion_end_at is not None:
            return ["the infusion end is already recorded"]
        return []

    def end_infusion(self, at: datetime) -> None:
        self.infusion_end_at = max(at, self.first_dose_at or at)
        self.phase = "observation"

    def discharge(self, at: datetime, by: str, override: str | None, unmet: list[str]) -> None:
        self.phase = "discharged"
        self.discharged_at = at
        self.discharged_by = by
        if unmet:
            self.override_reason = override
            self.overridden = unmet

    def end(self, at: datetime, reason: str | None) -> None:
        self.phase = "ended"
        self.ended_at = at
        self.end_reason = reason

    # --- wire ----------------------------------------------------------------------------

    def info(self, phase: Phase, alarm_counter: int) -> SessionInfo:
        base = self.baseline
        return SessionInfo(
            patient_code=self.patient_code, protocol=self.protocol_name, phase=phase,
            started_at=self.started_at, first_dose_at=self.first_dose_at,
            infusion_end_at=self.infusion_end_at, dose_mg=self.dose_mg, lot=self.lot,
            concomitant=list(self.concomitant), doses_given=self.doses_given,
            discharged_at=self.discharged_at, discharged_by=self.discharged_by,
            override_reason=self.override_reason, last_dose_at=self.last_dose_at,
            doses_expected=self.doses_expected, next_dose_at=self.next_dose_at,
            baseline_systolic=base.systolic if base else None,
            baseline_diastolic=base.diastolic if base else None,
            baseline_at=base.at if base else None, last_assessment=self.assessment,
            overridden=list(self.overridden), ended_at=self.ended_at,
            end_reason=self.end_reason, alarm_counter=alarm_counter,
        )

    @classmethod
    def from_info(cls, info: SessionInfo, protocol: ProtocolConfig) -> Session:
        phase: StoredPhase = "observation" if info.phase == "ready" else (
            "pre_dose" if info.phase == "idle" else info.phase
        )
        baseline = None
        if info.baseline_systolic is not None and info.baseline_diastolic is not None:
            baseline = BpSample(
                at=info.baseline_at or info.first_dose_at or info.started_at,
                systolic=info.baseline_systolic, diastolic=info.baseline_diastolic,
                reading_id="baseline",
            )
        return cls(
            patient_code=info.patient_code, protocol_name=info.protocol, protocol=protocol,
            started_at=info.started_at, dose_mg=info.dose_mg, lot=info.lot,
            concomitant=list(info.concomitant), phase=phase, first_dose_at=info.first_dose_at,
            last_dose_at=info.last_dose_at or info.first_dose_at, doses_given=info.doses_given,
            infusion_end_at=info.infusion_end_at, discharged_at=info.discharged_at,
            discharged_by=info.discharged_by, override_reason=info.override_reason,
            overridden=list(info.overridden), ended_at=info.ended_at,
            end_reason=info.end_reason, restored_baseline=baseline,
            assessment=info.last_assessment,
        )
