"""The demo's simulated nurse: the commands a nurse would send for one scripted session.

A pure schedule (time, command): the demo publishes each on the commands topic when its time
comes, exactly as a dashboard would, so the engine cannot tell the difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from drivers.wire import (
    Aldrete,
    Assessment,
    Command,
    Discharge,
    DoseGiven,
    InfusionEnd,
    StartSession,
)

# Spravato: each nasal device 5 minutes apart (label); 84 mg = 3 devices.
_SPRAVATO_DEVICES = 3
_DEVICE_GAP_MIN = 5.0
_IV_INFUSION_MIN = 40.0


@dataclass(frozen=True, slots=True)
class Step:
    at: datetime
    command: Command


def session_script(
    chair: str,
    protocol: str,
    session_start: datetime,
    dose_at_min: float,
    *,
    patient_code: str | None = None,
    discharge_after_min: float = 125.0,
) -> list[Step]:
    """Start, dose, assess and try to discharge; the engine decides whether it may."""

    def at(minutes: float) -> datetime:
        return session_start + timedelta(minutes=minutes)

    by = "nurse"
    code = patient_code or f"DEMO-{chair}".upper()[:32]
    steps: list[Step] = [
        Step(
            at(0),
            StartSession(
                at=at(0),
                by=by,
                patient_code=code,
                protocol=protocol,
                dose_mg=84.0 if protocol == "spravato" else None,
                lot="DEMO-LOT-1",
            ),
        )
    ]
    if protocol == "spravato":
        for n in range(_SPRAVATO_DEVICES):
            when = dose_at_min + n * _DEVICE_GAP_MIN
            steps.append(
                Step(at(when), DoseGiven(at=at(when), by=by, detail=f"nasal device {n + 1}"))
            )
    else:
        steps.append(Step(at(dose_at_min), DoseGiven(at=at(dose_at_min), by=by)))
        if protocol == "iv_ketamine":
            end = dose_at_min + _IV_INFUSION_MIN
            steps.append(Step(at(end), InfusionEnd(at=at(end), by=by)))
    assess = dose_at_min + discharge_after_min - 10
    steps.append(
        Step(
            at(assess),
            Assessment(
                at=at(assess),
                by=by,
                sedation="none",
                dissociation="none",
                respiration="normal",
                moaas=5,
                aldrete=Aldrete(activity=2, respiration=2, circulation=2, consciousness=2, spo2=2),
            ),
        )
    )
    leave = dose_at_min + discharge_after_min
    steps.append(Step(at(leave), Discharge(at=at(leave), by=by)))
    return sorted(steps, key=lambda s: s.at)
