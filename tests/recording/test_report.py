"""The report's numbers against a session worked out by hand (see ``spravato_inputs``)."""

from __future__ import annotations

import io
import json
from functools import cache

from monitor.engine import EngineConfig
from monitor.recording import wirelog
from monitor.recording.report import build
from monitor.recording.wirelog import WireLog
from tests.recording.scenario import at, spravato_inputs

# Deterministic: the fifth alarm of chair-1 is the SpO2 87 % alarm at 09:50:10.
SPO2_ALARM = "chair-1:spo2_low:5"


@cache
def base_report() -> dict[str, object]:
    return report()


def report(**kw: object) -> dict[str, object]:
    ack_within = kw.pop("ack_within_s", None)
    records = spravato_inputs(ack_alarm_id=SPO2_ALARM, **kw)  # type: ignore[arg-type]
    return build(WireLog(records), EngineConfig(), ack_within_s=ack_within).data  # type: ignore[arg-type]


def checks(data: dict[str, object]) -> dict[str, tuple[object, str]]:
    return {c["check"]: (c["passed"], c["evidence"]) for c in data["compliance"]}  # type: ignore[attr-defined,index]


def test_monitoring_record_matches_the_hand_computed_session() -> None:
    data = base_report()
    session = data["session"]
    assert session == {
        "patient_code": "P-0042",
        "protocol": "spravato",
        "protocol_title": "Esketamine nasal spray (Spravato)",
        "started_at": "2026-01-05T09:00:00.000Z",
        "dose_mg": 56.0,
        "lot": "L1",
        "concomitant": [],
        "doses_given": 2,
        "first_dose_at": "2026-01-05T09:05:00.000Z",
        "last_dose_at": "2026-01-05T09:10:00.000Z",
        "infusion_end_at": None,
        "observation_started_at": "2026-01-05T09:05:00.000Z",
        "observation_minimum_min": 120.0,
        "earliest_discharge_at": "2026-01-05T11:05:00.000Z",
        "end": "discharged",
        "ended_at": "2026-01-05T11:06:00.000Z",
        "monitoring_min": 121.0,  # 09:05 (first device) to 11:06 (discharge)
        # everything but the minimum was met once the 11:02 assessment found her recovered
        "ready_without_minimum_at": "2026-01-05T11:02:00.000Z",
    }
    bp = data["blood_pressure"]
    assert isinstance(bp, dict)
    pick = {k: (bp[k]["systolic"], bp[k]["diastolic"], bp[k]["at"])
            for k in ("pre_dose", "at_40_min", "pre_discharge", "highest")}
    assert pick == {
        "pre_dose": (128, 82, "2026-01-05T09:02:00.000Z"),  # the last before 09:05
        "at_40_min": (165, 95, "2026-01-05T09:44:00.000Z"),  # nearest to 09:45 in 09:40-09:55
        "pre_discharge": (126, 78, "2026-01-05T11:00:00.000Z"),  # the last before 11:06
        "highest": (165, 95, "2026-01-05T09:44:00.000Z"),
    }
    assert [(c["name"], c["status"]) for c in bp["checks"]] == [
        ("pre_dose", "done"), ("40_min", "done"), ("pre_discharge", "done")]
    # SpO2 every 10 s: six readings of 90 (1 min below 92), three of 87 (0.5 min below 88,
    # and 0.5 min more below 92).
    assert data["spo2"] == {
        "min": {"value": 87.0, "at": "2026-01-05T09:50:00.000Z"},
        "below": [{"limit": 92.0, "minutes": 1.5}, {"limit": 88.0, "minutes": 0.5}],
        "readings": 757,  # 09:00:00 to 11:06:00 every 10 s
        "longest_gap_s": 10.0,
    }
    assert data["heart_rate"] == {
        "source": "heart_rate",
        "min": {"value": 55.0, "at": "2026-01-05T10:30:00.000Z"},
        "max": {"value": 130.0, "at": "2026-01-05T09:45:00.000Z"},
        "readings": 757,
    }
    alarms = {a["alarm_id"]: a for a in data["alarms"]}  # type: ignore[attr-defined]
    spo2 = alarms[SPO2_ALARM]
    assert (spo2["priority"], spo2["raised_at"], spo2["acknowledged_at"], spo2["time_to_ack_s"],
            spo2["acknowledged_by"]) == (
        "high", "2026-01-05T09:50:10.000Z", "2026-01-05T09:50:40.000Z", 30.0, "nurse")
    assert [(a["condition"], a["priority"], a["raised_at"][11:19]) for a in data["alarms"]] == [  # type: ignore[attr-defined]
        ("bp_check_due", "low", "09:00:00"),
        ("spo2_low", "medium", "09:30:20"),  # 90 % held 15 s (the rule's delay)
        ("bp_check_due", "low", "09:40:00"),
        ("bp_high", "medium", "09:44:00"),  # 165 >= 160
        ("spo2_low", "high", "09:50:10"),  # 87 % held 10 s
        ("bp_check_due", "low", "10:45:00"),
    ]
    assert data["assessments"] == [{
        "at": "2026-01-05T11:02:00.000Z", "by": "nurse", "sedation": "none",
        "dissociation": "none", "respiration": "normal", "moaas": None, "aldrete": None,
        "note": None}]
    assert data["discharge"] == {
        "at": "2026-01-05T11:06:00.000Z", "by": "nurse", "override_reason": None,
        "overridden": [], "ended_at": None, "end_reason": None}
    result = checks(data)
    assert all(passed for passed, _ in result.values()), result
    assert result["observation_minimum"][1].startswith("observed 121.0 min (09:05:00Z to 11:06:00Z)")
    assert result["bp_check:40_min"][1].startswith("BP 165/95 at 09:44:00")
    assert "acknowledged after 30 s" in result["high_alarms_acknowledged"][1]
    assert data["problems"] == []


def test_failed_checks_say_why() -> None:
    # SpO2 missing from 10:00:00 to 10:02:00: the last reading before is 09:59:50, the next
    # 10:02:00, a gap of 130 s against an allowed 30 s.
    data = report(spo2_gap=(at(10, 0), at(10, 2)), ack_within_s=20)
    result = checks(data)
    passed, evidence = result["pulse_oximetry_throughout"]
    assert passed is False
    assert "longest gap 130 s from 09:59:50" in evidence
    assert "1.67 min uncovered" in evidence  # 130 - 30 = 100 s
    passed, evidence = result["high_alarms_acknowledged"]
    assert passed is False and "within 20 s" in evidence and "after 30 s" in evidence


def test_a_log_with_corrupt_lines_reports_the_rest_and_names_each_bad_line() -> None:
    out = io.StringIO()
    wirelog.write(spravato_inputs(ack_alarm_id=SPO2_ALARM), out)
    lines = out.getvalue().splitlines()
    bad_reading = json.loads(lines[5])
    bad_reading["payload"]["values"]["spo2"] = 150  # out of range: refused by the contract
    lines[5:5] = ["{not json at all", json.dumps(bad_reading), '{"topic": "x"}', "",
                  '{"topic":"chairside/v1/east/chairs/chair-1/readings/spo2",'
                  '"received_at":"yesterday","payload":{}}']
    log = wirelog.read_lines(lines, "corrupt.jsonl")
    data = build(log, EngineConfig()).data
    assert data["problems"] == [
        "line 6: not JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        "line 8: no 'received_at'",
        "line 10: received_at 'yesterday' is not an ISO 8601 time",
        "line 7: chairside/v1/east/chairs/chair-1/readings/spo2: "
        "values.spo2=150 is out of range 0..100 %",
    ] or data["problems"][3].startswith("line 7: ")  # type: ignore[index]
    assert len(data["problems"]) == 4  # type: ignore[arg-type]
    good = base_report()
    for key in ("session", "blood_pressure", "spo2", "heart_rate", "alarms", "compliance"):
        assert data[key] == good[key], key


def test_every_command_is_in_the_record_and_refusals_come_first() -> None:
    """A discharge tried at 10:20, an hour before the two hours are over, is refused by the
    engine: the report lists it with the engine's reasons, ahead of any other refusal, and
    every command of the session with who sent it and the answer."""
    data = report(early_discharge=True)
    commands = data["commands"]
    assert isinstance(commands, list)
    assert [c["type"] for c in commands] == [
        "start_session", "dose_given", "dose_given", "ack_alarm", "discharge", "assessment",
        "discharge"]
    assert all(c["by"] == "nurse" for c in commands)
    early = next(c for c in commands if c["id"] == "early-1")
    assert early["at"] == "2026-01-05T10:20:00.000Z" and early["accepted"] is False
    assert any("observation" in r or "minimum" in r for r in early["reasons"]), early
    assert commands[-1]["type"] == "discharge" and commands[-1]["accepted"] is True
    refusals = data["refusals"]
    assert isinstance(refusals, list) and refusals[0]["id"] == "early-1"
    assert len(refusals) == sum(1 for c in commands if c["accepted"] is False)
    # The session itself is as it was: the refused discharge changed nothing.
    assert data["session"] == base_report()["session"]  # type: ignore[index]


def test_a_session_without_refusals_has_an_empty_list() -> None:
    data = base_report()
    assert data["refusals"] == []
    assert len(data["commands"]) == 6  # type: ignore[arg-type]


def test_symptoms_recorded_are_in_the_report_with_their_alarm() -> None:
    from tests.recording.scenario import at as clock

    data = report(symptoms_at=clock(9, 40))
    assert data["symptoms"] == [{"at": "2026-01-05T09:40:00.000Z", "by": "nurse",
                                 "symptoms": ["severe_headache", "visual_disturbance"],
                                 "note": None}]
    alarms = [a for a in data["alarms"] if a["condition"] == "hypertensive_emergency"]  # type: ignore[union-attr,index]
    assert len(alarms) == 1 and alarms[0]["priority"] == "high"
    assert alarms[0]["raised_at"] == "2026-01-05T09:40:00.000Z"
    assert base_report()["symptoms"] == []
