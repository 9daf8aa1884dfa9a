"""Simulated-patient scenarios: what a session looks like, as a small TOML file.

A scenario says who the patient is before the dose (baseline), how their blood pressure and
heart rate answer the dose, how often sedation makes their SpO2 dip, how noisy the signals are,
how often motion spoils a reading, and which device faults happen when. Shipped scenarios live
in ``simulators/scenarios/*.toml`` (package data); a user can load their own file by path.

Unknown keys are refused (a typo must not silently fall back to a default), and every error
names the key: ``dose_response.time_to_peak_min: Input should be greater than 0``.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from drivers.errors import ChairsideError

DeviceKind = Literal["bp_cuff", "oximeter", "hr_monitor"]
DEVICE_KINDS: tuple[DeviceKind, ...] = ("bp_cuff", "oximeter", "hr_monitor")
FaultKind = Literal["dropout", "sensor_off", "garbage", "disconnect"]
FAULT_KINDS: tuple[FaultKind, ...] = ("dropout", "sensor_off", "garbage", "disconnect")

_PACKAGE = "simulators"
_FOLDER = "scenarios"


class ScenarioError(ChairsideError, ValueError):
    """A scenario that cannot be found, parsed or validated; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Baseline(_Section):
    """The patient's resting vitals before any dose."""

    systolic: float = Field(default=122.0, ge=60, le=250, description="mmHg")
    diastolic: float = Field(default=76.0, ge=30, le=150, description="mmHg")
    heart_rate: float = Field(default=72.0, ge=30, le=200, description="/min")
    spo2: float = Field(default=98.0, ge=70, le=100, description="%")
    perfusion_index: float = Field(default=3.0, ge=0.02, le=20, description="%")

    @model_validator(mode="after")
    def _diastolic_below_systolic(self) -> Baseline:
        if self.diastolic >= self.systolic:
            raise ValueError(
                f"diastolic {self.diastolic:g} must be below systolic {self.systolic:g}"
            )
        return self


class DoseResponse(_Section):
    """The blood-pressure and heart-rate answer to the first dose.

    Defaults follow the Spravato label: the rise peaks about 40 minutes after dosing and
    lasts about 4 hours (a settle time constant of 1 h leaves under 10 % of the peak rise
    at 4 h).
    """

    peak_systolic_rise: float = Field(default=12.0, ge=-40, le=120, description="mmHg")
    peak_diastolic_rise: float = Field(default=7.0, ge=-30, le=80, description="mmHg")
    time_to_peak_min: float = Field(default=40.0, gt=0, le=240)
    settle_time_constant_h: float = Field(default=1.0, gt=0, le=24)
    heart_rate_change: float = Field(default=6.0, ge=-40, le=60, description="/min at peak")

    @model_validator(mode="after")
    def _peak_before_settling(self) -> DoseResponse:
        # The curve is a difference of exponentials: its peak always comes before its
        # decay time constant, so a later peak cannot be drawn with that constant.
        if self.time_to_peak_min >= self.settle_time_constant_h * 60:
            raise ValueError(
                f"time_to_peak_min ({self.time_to_peak_min:g}) must be shorter than "
                f"settle_time_constant_h ({self.settle_time_constant_h:g} h = "
                f"{self.settle_time_constant_h * 60:g} min)"
            )
        return self


class Desaturation(_Section):
    """SpO2 dips while the patient is sedated (sedation occurred in about half of patients
    in the Spravato trials)."""

    probability_per_min: float = Field(default=0.0, ge=0, le=1)
    depth: float = Field(default=8.0, ge=0, le=50, description="SpO2 points below baseline")
    duration_s: float = Field(default=40.0, gt=0, le=600)
    window_start_min: float = Field(default=5.0, ge=0, le=600, description="after the dose")
    window_end_min: float = Field(default=90.0, ge=0, le=600, description="after the dose")
    scripted_at_min: list[float] = Field(
        default_factory=list, description="dips that always happen, minutes after the dose"
    )

    @model_validator(mode="after")
    def _window_in_order(self) -> Desaturation:
        if self.window_end_min < self.window_start_min:
            raise ValueError(
                f"window_end_min ({self.window_end_min:g}) must not be before "
                f"window_start_min ({self.window_start_min:g})"
            )
        if any(not 0 <= m <= 600 for m in self.scripted_at_min):
            raise ValueError("scripted_at_min values must be within 0..600 minutes")
        return self


class Noise(_Section):
    """Standard deviation of the measurement and beat-to-beat variation of each vital."""

    systolic: float = Field(default=4.0, ge=0, le=30)
    diastolic: float = Field(default=3.0, ge=0, le=30)
    heart_rate: float = Field(default=2.0, ge=0, le=30)
    spo2: float = Field(default=0.5, ge=0, le=10)
    perfusion_index: float = Field(default=0.2, ge=0, le=10)


class Artefacts(_Section):
    """Readings spoiled by the patient moving: shown as questionable, values off."""

    motion_probability: float = Field(default=0.01, ge=0, le=1)


class Fault(_Section):
    """A device fault on cue, in minutes since the session started."""

    device: DeviceKind | Literal["all"]
    kind: FaultKind
    start_min: float = Field(ge=0)
    duration_min: float = Field(gt=0)
    fraction: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="share of the window the fault is active, decided per second (intermittent)",
    )

    @property
    def devices(self) -> tuple[DeviceKind, ...]:
        return DEVICE_KINDS if self.device == "all" else (self.device,)


class Scenario(_Section):
    """One simulated session: a patient, their answer to the dose, and device faults."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    description: str = ""
    seed: int = Field(default=0, ge=0)
    protocol: str = Field(default="spravato", pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    dose_at_min: float = Field(default=1.0, ge=0, description="when the demo nurse doses")
    baseline: Baseline = Field(default_factory=Baseline)
    dose_response: DoseResponse = Field(default_factory=DoseResponse)
    desaturation: Desaturation = Field(default_factory=Desaturation)
    noise: Noise = Field(default_factory=Noise)
    artefacts: Artefacts = Field(default_factory=Artefacts)
    faults: list[Fault] = Field(default_factory=list)

    @property
    def dose_at_s(self) -> float:
        return self.dose_at_min * 60.0

    @classmethod
    def from_toml(cls, text: str, source: str = "<scenario>") -> Scenario:
        """Parse and validate; raise ScenarioError naming the source and the key."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"{source}: not valid TOML: {exc}") from exc
        return cls.from_dict(data, source)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<scenario>") -> Scenario:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ScenarioError(_describe(exc, source)) from exc


def _describe(exc: ValidationError, source: str) -> str:
    lines = []
    for error in exc.errors():
        key = ""
        for part in error["loc"]:
            key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see the shipped scenarios)"
        elif error["type"] == "missing":
            message = "required key is missing"
        elif error["type"] != "value_error":
            message = f"{message} (got {error['input']!r})"
        lines.append(f"{key or '(top level)'}: {message.removeprefix('Value error, ')}")
    return f"{source}: invalid scenario:\n  " + "\n  ".join(lines)


def _shipped() -> dict[str, Any]:
    folder = resources.files(_PACKAGE) / _FOLDER
    return {
        entry.name.removesuffix(".toml"): entry
        for entry in folder.iterdir()
        if entry.name.endswith(".toml") and entry.is_file()
    }


def list_scenarios() -> list[str]:
    """Names of the scenarios shipped with the package."""
    return sorted(_shipped())


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A shipped scenario by bare name (``"desaturation"``), or a user's TOML file by path."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or "/" in text or "\\" in text or text.endswith(".toml"):
        path = Path(name_or_path)
        try:
            content = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ScenarioError(f"{path}: cannot read scenario file: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise ScenarioError(f"{path}: scenario file is not UTF-8 text") from exc
        return Scenario.from_toml(content, str(path))
    shipped = _shipped()
    if text not in shipped:
        raise ScenarioError(
            f"no scenario named {text!r}; shipped: {', '.join(sorted(shipped))} "
            "(or give a path to a .toml file)"
        )
    return Scenario.from_toml(shipped[text].read_text(encoding="utf-8"), f"scenario {text!r}")


__all__ = [
    "DEVICE_KINDS",
    "FAULT_KINDS",
    "Artefacts",
    "Baseline",
    "Desaturation",
    "DeviceKind",
    "DoseResponse",
    "Fault",
    "FaultKind",
    "Noise",
    "Scenario",
    "ScenarioError",
    "list_scenarios",
    "load_scenario",
]
