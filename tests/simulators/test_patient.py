"""The simulated patient: physiological shape, determinism, and values the wire accepts."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from drivers.wire import Reading
from simulators.patient import Patient, Vitals
from simulators.scenario import DEVICE_KINDS, Fault, Scenario, load_scenario

MIN = 60.0
HOUR = 3600.0


def _patient(name: str, seed: int | None = None) -> tuple[Patient, float]:
    scenario = load_scenario(name)
    return Patient(scenario, seed=seed), scenario.dose_at_s


def test_baseline_before_the_dose() -> None:
    patient, dose = _patient("uneventful")
    base = patient.scenario.baseline
    for t in (0.0, 30.0, dose):
        trend = patient.trend(t, dose)
        assert (trend.systolic, trend.diastolic) == (base.systolic, base.diastolic)
        assert trend.heart_rate == base.heart_rate
    # No dose given at all: baseline for the whole session.
    assert patient.trend(2 * HOUR, None).systolic == base.systolic


@pytest.mark.parametrize("name", ["uneventful", "hypertensive-response", "elevated-baseline"])
def test_rise_peaks_near_the_configured_time(name: str) -> None:
    patient, dose = _patient(name)
    peak_min = patient.scenario.dose_response.time_to_peak_min
    minutes = [m / 2 for m in range(0, 6 * 60 * 2)]
    systolic = [patient.trend(dose + m * MIN, dose).systolic for m in minutes]
    at_peak = minutes[systolic.index(max(systolic))]
    assert abs(at_peak - peak_min) <= 1.0
    assert patient.dose_effect(dose + peak_min * MIN, dose) == pytest.approx(1.0)


def test_rise_returns_toward_baseline_over_hours() -> None:
    patient, dose = _patient("hypertensive-response")
    base = patient.scenario.baseline.systolic
    rise = patient.scenario.dose_response.peak_systolic_rise
    left = [patient.trend(dose + h * HOUR, dose).systolic - base for h in (1, 2, 3, 4, 6)]
    assert left == sorted(left, reverse=True)
    # Still raised at 2 h (the label: the rise lasts about 4 h) and nearly gone by 4-6 h.
    assert left[1] > 0.3 * rise
    assert left[3] < 0.1 * rise
    assert left[4] < 0.02 * rise


def test_mean_pressure_is_diastolic_plus_a_third_of_pulse_pressure() -> None:
    patient, dose = _patient("hypertensive-response")
    for t in range(0, int(3 * HOUR), 97):
        v = patient.vitals(float(t), dose)
        assert v.mean == pytest.approx(v.diastolic + (v.systolic - v.diastolic) / 3)
        assert v.diastolic < v.systolic


@pytest.mark.parametrize("seed", range(12))
def test_hypertensive_response_crosses_180_near_the_peak(seed: int) -> None:
    patient, dose = _patient("hypertensive-response", seed)
    systolic = {m: patient.vitals(dose + m * MIN, dose).systolic for m in range(0, 6 * 60)}
    crossing = [m for m, value in systolic.items() if value >= 180]
    assert crossing, "systolic never reached 180"
    assert 15 <= crossing[0] <= 45
    assert max(systolic[m] for m in range(35, 46)) >= 180
    assert all(value < 180 for m, value in systolic.items() if m < 10 or m > 120)


@pytest.mark.parametrize("seed", range(12))
def test_uneventful_never_reaches_180(seed: int) -> None:
    patient, dose = _patient("uneventful", seed)
    assert all(patient.vitals(float(t), dose).systolic < 180 for t in range(0, int(6 * HOUR), 15))


def test_desaturation_dips_below_88_for_tens_of_seconds() -> None:
    patient, dose = _patient("desaturation")
    spo2 = [patient.vitals(float(t), dose).spo2 for t in range(0, int(2 * HOUR))]
    runs, run = [], 0
    for value in spo2:
        if value < 88:
            run += 1
        elif run:
            runs.append(run)
            run = 0
    assert runs, "SpO2 never went below 88"
    assert max(runs) >= 20
    assert max(runs) <= 120
    # And no dips before the dose: sedation follows the dose.
    assert min(spo2[: int(dose)]) > 92


def test_uneventful_spo2_stays_up_apart_from_motion() -> None:
    patient, dose = _patient("uneventful")
    for t in range(0, int(2 * HOUR)):
        v = patient.vitals(float(t), dose)
        if not v.questionable:
            assert v.spo2 >= 94


def test_deterministic_for_a_seed_and_independent_of_sampling_order() -> None:
    scenario = load_scenario("desaturation")
    dose = scenario.dose_at_s
    one, two = Patient(scenario), Patient(scenario)
    every_second = {t: one.vitals(float(t), dose) for t in range(0, 3600)}
    # The other patient is asked every 5 minutes first, then backwards: same answers.
    for t in list(range(0, 3600, 300)) + list(range(3599, -1, -7)):
        assert two.vitals(float(t), dose) == every_second[t]
    assert Patient(scenario, seed=99).vitals(600.0, dose) != every_second[600]


def test_noise_is_smooth_second_to_second_and_has_the_configured_spread() -> None:
    patient, _ = _patient("uneventful")
    hr = [patient.vitals(float(t), None) for t in range(0, 4 * 3600)]
    steady = [v.heart_rate for v in hr if not v.questionable]
    steps = [abs(b - a) for a, b in itertools.pairwise(steady)]
    assert sorted(steps)[len(steps) // 2] < 1.0  # median step: a trace, not static
    mean = sum(steady) / len(steady)
    sd = (sum((x - mean) ** 2 for x in steady) / len(steady)) ** 0.5
    assert mean == pytest.approx(patient.scenario.baseline.heart_rate, abs=0.5)
    assert sd == pytest.approx(patient.scenario.noise.heart_rate, rel=0.25)


def test_motion_marks_readings_questionable_at_about_the_configured_rate() -> None:
    scenario = load_scenario("uneventful")
    scenario = scenario.model_copy(
        update={"artefacts": scenario.artefacts.model_copy(update={"motion_probability": 0.1})}
    )
    patient = Patient(scenario)
    flags = [patient.vitals(float(t), None).questionable for t in range(0, 6 * 3600)]
    assert sum(flags) / len(flags) == pytest.approx(0.1, abs=0.03)


def _extreme_scenario() -> Scenario:
    return Scenario.from_dict(
        {
            "name": "extreme",
            "baseline": {"systolic": 250, "diastolic": 149, "heart_rate": 200, "spo2": 100},
            "dose_response": {
                "peak_systolic_rise": 120,
                "peak_diastolic_rise": 80,
                "heart_rate_change": 60,
            },
            "desaturation": {"probability_per_min": 1, "depth": 50},
            "noise": {"systolic": 30, "diastolic": 30, "heart_rate": 30, "spo2": 10},
            "artefacts": {"motion_probability": 0.5},
        }
    )


def test_values_stay_physiological_and_the_wire_accepts_them() -> None:
    now = datetime(2026, 1, 1, 9, tzinfo=UTC)
    for patient in (Patient(_extreme_scenario()), _patient("hypertensive-response")[0]):
        for t in range(0, int(3 * HOUR), 11):
            v = patient.vitals(float(t), 60.0)
            assert 50 <= v.systolic <= 280 and 25 <= v.diastolic <= 180
            assert 25 <= v.heart_rate <= 250 and 50 <= v.spo2 <= 100
            assert 0 < v.perfusion_index <= 20
            _to_readings(v, now)


def _to_readings(v: Vitals, now: datetime) -> None:
    common = {"chair": "c1", "device": "d1", "source": "sim", "measured_at": now}
    Reading(
        **common,
        received_at=now,
        kind="blood_pressure",
        unit="mm[Hg]",
        values={"systolic": v.systolic, "diastolic": v.diastolic, "mean": v.mean},
    )
    Reading(
        **common,
        received_at=now,
        kind="spo2",
        unit="%",
        values={"spo2": v.spo2, "pulse_rate": v.heart_rate, "perfusion_index": v.perfusion_index},
    )
    Reading(
        **common,
        received_at=now,
        kind="heart_rate",
        unit="/min",
        values={"heart_rate": v.heart_rate},
    )


def test_faults_follow_the_scenario_cues() -> None:
    patient, _ = _patient("device-dropout")
    assert patient.faults_at(14.9 * MIN) == {kind: frozenset() for kind in DEVICE_KINDS}
    assert patient.faults_at(15.0 * MIN)["oximeter"] == {"dropout"}
    assert patient.faults_at(15.0 * MIN)["bp_cuff"] == frozenset()
    assert patient.faults_at(20.0 * MIN)["oximeter"] == frozenset()
    assert patient.faults_at(40 * MIN)["bp_cuff"] == {"dropout"}
    assert patient.faults_at(46 * MIN)["bp_cuff"] == frozenset()


def test_intermittent_and_all_device_faults() -> None:
    patient, _ = _patient("corrupt-frames")
    window = [patient.faults_at(float(t)) for t in range(5 * 60, 35 * 60)]
    share = sum("garbage" in f["oximeter"] for f in window) / len(window)
    assert share == pytest.approx(0.15, abs=0.04)
    assert not any(f["bp_cuff"] for f in window)
    later = [patient.faults_at(float(t)) for t in range(35 * 60, 90 * 60)]
    for kind in DEVICE_KINDS:
        assert any("garbage" in f[kind] for f in later)
    # Decided per second: the same second always gives the same answer.
    assert [patient.faults_at(float(t) + 0.5) for t in range(5 * 60, 35 * 60)] == window


def test_a_fault_for_all_devices_covers_each_kind() -> None:
    fault = Fault(device="all", kind="disconnect", start_min=1, duration_min=2)
    assert fault.devices == DEVICE_KINDS
    scenario = Scenario(name="x", faults=[fault])
    active = Patient(scenario).faults_at(90.0)
    assert all(active[kind] == {"disconnect"} for kind in DEVICE_KINDS)
