"""A simulated patient: vitals as a pure function of simulated time.

``Patient.vitals(t_s, dose_at_s)`` depends only on its arguments and the seed, never on which
times were asked before. So the demo can sample SpO2 every second and the cuff every few
minutes, skip ahead, or replay, and always see the same patient.

The model, in order:

* baseline before the dose;
* after the dose, a blood-pressure and heart-rate rise shaped as a difference of exponentials
  ``exp(-t/settle) - exp(-t/rise)``, scaled to peak at ``time_to_peak_min`` (about 40 minutes
  for Spravato, per its label; 30-40 minutes for IV ketamine) and fading over hours;
* SpO2 dips during the sedation window (drawn once from the seed, as offsets from the dose);
* smooth noise: Gaussian values at fixed knots, interpolated, so a 1 s stream does not jitter
  independently every second, while cuff readings minutes apart are independent;
* motion artefacts: stretches of a few seconds where readings are off and questionable;
* values clamped to physiological ranges, far inside what the wire ``Reading`` accepts.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from simulators.scenario import DEVICE_KINDS, DeviceKind, FaultKind, Scenario

_MASK = (1 << 64) - 1

# Channels of the deterministic noise (stable integers: str hashes change per process).
_SYS, _DIA, _HR, _SPO2, _PI, _MOTION, _MOTION_SYS, _MOTION_HR, _MOTION_SPO2, _FAULT = range(10)

# Seconds between noise knots per vital: how fast each signal wanders.
_KNOT_S = {_SYS: 30.0, _DIA: 30.0, _HR: 6.0, _SPO2: 8.0, _PI: 10.0}
_MOTION_BUCKET_S = 5.0
"""Motion comes in stretches of this many seconds, each spoiled with the scenario's odds."""

# Clamps: plausible for a seated adult, and well inside the wire's accepted ranges.
_SYS_RANGE = (50.0, 280.0)
_DIA_RANGE = (25.0, 180.0)
_HR_RANGE = (25.0, 250.0)
_SPO2_RANGE = (50.0, 100.0)
_PI_RANGE = (0.02, 20.0)
_MIN_PULSE_PRESSURE = 10.0


@dataclass(frozen=True, slots=True)
class Vitals:
    """What the patient's vitals are at one instant (mmHg, /min, %)."""

    systolic: float
    diastolic: float
    mean: float
    heart_rate: float
    spo2: float
    perfusion_index: float
    questionable: bool = False


@dataclass(frozen=True, slots=True)
class Dip:
    """One SpO2 dip, timed from the dose."""

    start_s: float
    duration_s: float
    depth: float

    def drop(self, since_dose_s: float) -> float:
        """SpO2 points below baseline: a quarter falling, half at depth, a quarter recovering."""
        u = (since_dose_s - self.start_s) / self.duration_s
        if not 0.0 <= u <= 1.0:
            return 0.0
        return self.depth * min(1.0, 4.0 * u, 4.0 * (1.0 - u))


def _splitmix(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _uniform(*parts: int) -> float:
    """A uniform number in [0, 1) fixed by its integer arguments (stable across processes)."""
    h = 0x243F6A8885A308D3
    for part in parts:
        h = _splitmix(h ^ (part & _MASK))
    return (h >> 11) / float(1 << 53)


def _gauss(*parts: int) -> float:
    """A standard normal number fixed by its arguments (Box-Muller)."""
    u1 = 1.0 - _uniform(*parts, 0)
    u2 = _uniform(*parts, 1)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def _rise_constant(peak: float, settle: float) -> float:
    """The rise time constant that puts the peak of exp(-t/settle) - exp(-t/rise) at ``peak``.

    The peak time ``settle*rise/(settle-rise) * ln(settle/rise)`` grows from 0 to ``settle``
    as ``rise`` grows from 0 to ``settle``, so bisection finds it.
    """
    low, high = 1e-9 * settle, settle * (1 - 1e-9)
    for _ in range(100):
        rise = (low + high) / 2
        at = settle * rise / (settle - rise) * math.log(settle / rise)
        if at < peak:
            low = rise
        else:
            high = rise
    return (low + high) / 2


def _clamp(value: float, bounds: tuple[float, float]) -> float:
    return min(max(value, bounds[0]), bounds[1])


class Patient:
    """A deterministic simulated patient for one scenario (and one seed)."""

    def __init__(self, scenario: Scenario, seed: int | None = None) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        response = scenario.dose_response
        self._settle_s = response.settle_time_constant_h * 3600.0
        self._rise_s = _rise_constant(response.time_to_peak_min * 60.0, self._settle_s)
        self._peak = self._raw_curve(response.time_to_peak_min * 60.0)
        rng = random.Random(self.seed)
        self.dips: tuple[Dip, ...] = self._draw_dips(rng)

    # --- the dose curve ------------------------------------------------------------------

    def _raw_curve(self, since_dose_s: float) -> float:
        return math.exp(-since_dose_s / self._settle_s) - math.exp(-since_dose_s / self._rise_s)

    def dose_effect(self, t_s: float, dose_at_s: float | None) -> float:
        """Share of the peak rise at ``t_s``: 0 before the dose, 1 at the peak, then fading."""
        if dose_at_s is None or t_s <= dose_at_s:
            return 0.0
        return max(0.0, self._raw_curve(t_s - dose_at_s) / self._peak)

    def _draw_dips(self, rng: random.Random) -> tuple[Dip, ...]:
        """Dips for the whole session, drawn once so that sampling order cannot change them."""
        config = self.scenario.desaturation
        dips = [Dip(m * 60.0, config.duration_s, config.depth) for m in config.scripted_at_min]
        if config.probability_per_min > 0 and config.depth > 0:
            minute = config.window_start_min
            while minute < config.window_end_min:
                if rng.random() < config.probability_per_min:
                    dips.append(
                        Dip(
                            start_s=(minute + rng.random()) * 60.0,
                            duration_s=config.duration_s * rng.uniform(0.7, 1.3),
                            depth=config.depth * rng.uniform(0.8, 1.2),
                        )
                    )
                minute += 1.0
        return tuple(sorted(dips, key=lambda d: d.start_s))

    # --- noise ---------------------------------------------------------------------------

    def _noise(self, channel: int, t_s: float) -> float:
        """Unit-variance noise, continuous in time: knots interpolated, variance restored."""
        position = t_s / _KNOT_S[channel]
        k = math.floor(position)
        w = position - k
        a = _gauss(self.seed, channel, k)
        b = _gauss(self.seed, channel, k + 1)
        return ((1.0 - w) * a + w * b) / math.sqrt((1.0 - w) ** 2 + w**2)

    def _in_motion(self, t_s: float) -> bool:
        p = self.scenario.artefacts.motion_probability
        return p > 0 and _uniform(self.seed, _MOTION, math.floor(t_s / _MOTION_BUCKET_S)) < p

    # --- public --------------------------------------------------------------------------

    def trend(self, t_s: float, dose_at_s: float | None) -> Vitals:
        """The noise-free vitals (no dips, no artefacts): what a chart's trend line shows."""
        base = self.scenario.baseline
        response = self.scenario.dose_response
        effect = self.dose_effect(t_s, dose_at_s)
        return self._finish(
            systolic=base.systolic + response.peak_systolic_rise * effect,
            diastolic=base.diastolic + response.peak_diastolic_rise * effect,
            heart_rate=base.heart_rate + response.heart_rate_change * effect,
            spo2=base.spo2,
            perfusion_index=base.perfusion_index,
            questionable=False,
        )

    def vitals(self, t_s: float, dose_at_s: float | None) -> Vitals:
        """The vitals a device would measure at ``t_s`` seconds since the session started."""
        base = self.scenario.baseline
        response = self.scenario.dose_response
        noise = self.scenario.noise
        effect = self.dose_effect(t_s, dose_at_s)
        systolic = base.systolic + response.peak_systolic_rise * effect
        diastolic = base.diastolic + response.peak_diastolic_rise * effect
        heart_rate = base.heart_rate + response.heart_rate_change * effect
        spo2 = base.spo2
        if dose_at_s is not None and t_s > dose_at_s:
            since = t_s - dose_at_s
            spo2 -= sum(dip.drop(since) for dip in self.dips)
        # Systolic and diastolic move together in part (one shared component).
        shared = self._noise(_SYS, t_s)
        systolic += noise.systolic * shared
        diastolic += noise.diastolic * (0.6 * shared + 0.8 * self._noise(_DIA, t_s))
        heart_rate += noise.heart_rate * self._noise(_HR, t_s)
        spo2 += noise.spo2 * self._noise(_SPO2, t_s)
        perfusion = base.perfusion_index + noise.perfusion_index * self._noise(_PI, t_s)
        questionable = self._in_motion(t_s)
        if questionable:
            bucket = math.floor(t_s / _MOTION_BUCKET_S)
            systolic += 20.0 * (2.0 * _uniform(self.seed, _MOTION_SYS, bucket) - 1.0)
            heart_rate += 25.0 * (2.0 * _uniform(self.seed, _MOTION_HR, bucket) - 1.0)
            spo2 -= 2.0 + 6.0 * _uniform(self.seed, _MOTION_SPO2, bucket)
            perfusion *= 0.3
        return self._finish(systolic, diastolic, heart_rate, spo2, perfusion, questionable)

    @staticmethod
    def _finish(
        systolic: float,
        diastolic: float,
        heart_rate: float,
        spo2: float,
        perfusion_index: float,
        questionable: bool,
    ) -> Vitals:
        systolic = _clamp(systolic, _SYS_RANGE)
        diastolic = _clamp(min(diastolic, systolic - _MIN_PULSE_PRESSURE), _DIA_RANGE)
        return Vitals(
            systolic=systolic,
            diastolic=diastolic,
            mean=diastolic + (systolic - diastolic) / 3.0,
            heart_rate=_clamp(heart_rate, _HR_RANGE),
            spo2=_clamp(spo2, _SPO2_RANGE),
            perfusion_index=_clamp(perfusion_index, _PI_RANGE),
            questionable=questionable,
        )

    def faults_at(self, t_s: float) -> dict[DeviceKind, frozenset[FaultKind]]:
        """Faults active at ``t_s`` for every device kind (an empty set when it is healthy).

        An intermittent fault (``fraction`` < 1) is on or off per whole second, fixed by the
        seed, so two callers asking about the same second agree.
        """
        active: dict[DeviceKind, set[FaultKind]] = {kind: set() for kind in DEVICE_KINDS}
        minute = t_s / 60.0
        for index, fault in enumerate(self.scenario.faults):
            if not fault.start_min <= minute < fault.start_min + fault.duration_min:
                continue
            if fault.fraction < 1.0 and (
                _uniform(self.seed, _FAULT, index, math.floor(t_s)) >= fault.fraction
            ):
                continue
            for device in fault.devices:
                active[device].add(fault.kind)
        return {kind: frozenset(kinds) for kind, kinds in active.items()}


__all__ = ["Dip", "Patient", "Vitals"]
