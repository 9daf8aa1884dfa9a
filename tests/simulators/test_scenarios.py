"""Scenario files: every shipped one loads, user files load by path, mistakes name the key."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import pytest
from pydantic import BaseModel

from simulators.scenario import (
    Artefacts,
    Baseline,
    Desaturation,
    DoseResponse,
    Noise,
    ScenarioError,
    list_scenarios,
    load_scenario,
)

SHIPPED = {
    "uneventful",
    "hypertensive-response",
    "desaturation",
    "elevated-baseline",
    "sensor-off",
    "device-dropout",
    "corrupt-frames",
}

SECTIONS: dict[str, type[BaseModel]] = {
    "baseline": Baseline,
    "dose_response": DoseResponse,
    "desaturation": Desaturation,
    "noise": Noise,
    "artefacts": Artefacts,
}


def test_the_shipped_scenarios_are_package_data() -> None:
    folder = resources.files("simulators") / "scenarios"
    names = {e.name.removesuffix(".toml") for e in folder.iterdir() if e.name.endswith(".toml")}
    assert names >= SHIPPED
    assert set(list_scenarios()) == names


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_every_shipped_scenario_loads_under_its_own_name(name: str) -> None:
    scenario = load_scenario(name)
    assert scenario.name == name
    assert scenario.description
    assert scenario.protocol == "spravato"


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_every_key_in_the_shipped_files_is_commented(name: str) -> None:
    text = (resources.files("simulators") / "scenarios" / f"{name}.toml").read_text()
    previous = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and "=" in stripped:
            assert "#" in stripped or previous.startswith("#"), f"uncommented: {line!r}"
        previous = stripped
    # Every section of the model appears, so the file documents every knob.
    data = tomllib.loads(text)
    for section, model in SECTIONS.items():
        assert set(data[section]) == set(model.model_fields), section


def test_scenario_facts() -> None:
    assert load_scenario("elevated-baseline").baseline.systolic > 140
    assert load_scenario("elevated-baseline").baseline.diastolic > 90
    sensor = load_scenario("sensor-off").faults
    assert [(f.device, f.kind) for f in sensor] == [("oximeter", "sensor_off")]
    dropout = load_scenario("device-dropout").faults
    assert {f.device for f in dropout} == {"oximeter", "bp_cuff"}
    assert all(f.kind == "dropout" and f.duration_min >= 3 for f in dropout)
    assert all(
        f.kind == "garbage" and f.fraction < 1 for f in load_scenario("corrupt-frames").faults
    )


def test_a_user_file_loads_by_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\nseed = 42\n[baseline]\nsystolic = 130\n')
    scenario = load_scenario(str(path))
    assert (scenario.name, scenario.seed, scenario.baseline.systolic) == ("mine", 42, 130)
    assert load_scenario(path) == scenario
    # Unset sections take documented defaults (Spravato: peak ~40 min after the dose).
    assert scenario.dose_response.time_to_peak_min == 40
    assert scenario.dose_at_min == 1.0


def _error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(str(path))
    message = str(caught.value)
    assert str(path) in message
    return message


def test_an_unknown_key_is_named(tmp_path: Path) -> None:
    message = _error(tmp_path, 'name = "x"\n[baseline]\nsistolic = 130\n')
    assert "baseline.sistolic" in message and "unknown key" in message


def test_a_bad_value_is_named_with_what_was_given(tmp_path: Path) -> None:
    message = _error(tmp_path, 'name = "x"\n[dose_response]\ntime_to_peak_min = -5\n')
    assert "dose_response.time_to_peak_min" in message and "-5" in message


def test_a_bad_fault_is_named_by_its_position(tmp_path: Path) -> None:
    text = (
        'name = "x"\n'
        '[[faults]]\ndevice = "oximeter"\nkind = "dropout"\nstart_min = 1\nduration_min = 1\n'
        '[[faults]]\ndevice = "toaster"\nkind = "dropout"\nstart_min = 1\n'
    )
    message = _error(tmp_path, text)
    assert "faults[1].device" in message
    assert "faults[1].duration_min: required key is missing" in message


def test_cross_field_rules_name_their_keys(tmp_path: Path) -> None:
    message = _error(
        tmp_path, 'name = "x"\n[dose_response]\ntime_to_peak_min = 90\nsettle_time_constant_h = 1\n'
    )
    assert "time_to_peak_min" in message and "settle_time_constant_h" in message
    message = _error(tmp_path, 'name = "x"\n[baseline]\nsystolic = 100\ndiastolic = 110\n')
    assert "baseline" in message and "diastolic 110 must be below systolic 100" in message


def test_broken_toml_and_missing_files_are_clear(tmp_path: Path) -> None:
    message = _error(tmp_path, 'name = "x\n')
    assert "not valid TOML" in message and "line 1" in message
    with pytest.raises(ScenarioError, match="cannot read scenario file"):
        load_scenario(str(tmp_path / "absent.toml"))
    with pytest.raises(ScenarioError, match=r"no scenario named 'nope'.*uneventful"):
        load_scenario("nope")
