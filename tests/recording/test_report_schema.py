"""The report's JSON Schema is its contract: real reports validate against it, it declares
every key they hold, `chairside schema report` prints it and docs/report.schema.json is it."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from jsonschema import Draft202012Validator

from monitor.cli import main
from monitor.engine import EngineConfig
from monitor.recording.report import build
from monitor.recording.report_model import report_schema
from monitor.recording.wirelog import WireLog
from tests.recording.scenario import at, spravato_inputs
from tests.recording.test_report import SPO2_ALARM, base_report

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ROOT / "docs" / "report.schema.json"


@cache
def busy_report() -> dict[str, Any]:
    """A report whose every list has entries: a refusal, symptoms, an assessment."""
    records = spravato_inputs(ack_alarm_id=SPO2_ALARM, early_discharge=True,
                              symptoms_at=at(9, 40))
    return json.loads(build(WireLog(records), EngineConfig(), source="busy").to_json())


def validator() -> Draft202012Validator:
    schema = report_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_real_reports_validate_against_the_schema() -> None:
    check = validator()
    for data in (base_report(), busy_report()):
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in check.iter_errors(data)]
        assert errors == []
    busy = busy_report()
    assert busy["refusals"] and busy["symptoms"] and busy["assessments"] and busy["alarms"]


def test_the_schema_refuses_what_is_not_a_report() -> None:
    check = validator()
    for change in (
        lambda d: d.pop("compliance"),  # every key is always present
        lambda d: d["session"].pop("ready_without_minimum_at"),
        lambda d: d.update(report_version=2),
        lambda d: d["session"].update(end="later"),
        lambda d: d["spo2"]["below"][0].update(minutes="1.5"),
        lambda d: d["alarms"][0].update(priority="urgent"),
        lambda d: d["commands"][0].update(accepted="yes"),
    ):
        data = copy.deepcopy(busy_report())
        change(data)
        assert not check.is_valid(data), change


def _declared(schema: dict[str, Any], node: dict[str, Any], value: Any, path: str,
              missing: list[str]) -> None:
    """Every key of ``value`` (at ``path``) is a property the schema declares there, and
    every declared property is required."""
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in node:
        if value is None:
            return
        (node,) = [n for n in node["anyOf"] if n.get("type") != "null"]
        _declared(schema, node, value, path, missing)
        return
    if isinstance(value, dict):
        properties = node.get("properties", {})
        missing += [f"{path}.{key}" for key in value if key not in properties]
        missing += [f"{path}.{key} (optional)" for key in properties
                    if key not in node.get("required", [])]
        for key, item in value.items():
            if key in properties:
                _declared(schema, properties[key], item, f"{path}.{key}", missing)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _declared(schema, node["items"], item, f"{path}[{i}]", missing)


def test_the_schema_declares_every_key_a_report_holds_and_requires_it() -> None:
    schema = report_schema()
    missing: list[str] = []
    for data in (base_report(), busy_report()):
        _declared(schema, schema, data, "", missing)
    assert missing == []
    described = [name for name, part in schema["$defs"].items() if not part.get("description")]
    assert described == []


def test_chairside_schema_report_prints_the_schema() -> None:
    result = CliRunner().invoke(main, ["schema", "report"], env={"CHAIRSIDE_CONFIG": ""})
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == report_schema()
    one = CliRunner().invoke(main, ["schema", "Reading"], env={"CHAIRSIDE_CONFIG": ""})
    assert one.exit_code == 0 and "measured_at" in json.loads(one.output)["properties"]
    every = CliRunner().invoke(main, ["schema"], env={"CHAIRSIDE_CONFIG": ""})
    assert {"Reading", "ChairState", "Command"} <= set(json.loads(every.output))
    assert "report" not in json.loads(every.output)  # the wire payloads alone, as before


def test_an_unknown_schema_name_is_one_error_and_exit_2() -> None:
    result = CliRunner().invoke(main, ["schema", "bogus"], env={"CHAIRSIDE_CONFIG": ""})
    assert result.exit_code == 2
    assert "'bogus' is not one of 'report'" in result.output


def test_the_published_schema_is_up_to_date() -> None:
    published = json.loads(PUBLISHED.read_text(encoding="utf-8"))
    assert published == report_schema(), (
        "docs/report.schema.json is out of date: "
        "uv run chairside schema report > docs/report.schema.json")
