"""The REMS Patient Monitoring Form, field for field, from the hand-computed Spravato session
(see ``tests.recording.scenario.spravato_inputs``)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

from monitor.recording import rems_form
from tests.recording.test_commands import SESSION, recording, run  # noqa: F401 (fixture)
from tests.recording.test_report import base_report
from tests.recording.test_report_html import run_chromium


def by_label() -> dict[str, rems_form.Field]:
    return {f.label: f for f in rems_form.fields(base_report())}


def test_every_field_the_session_holds_is_filled_from_it() -> None:
    f = by_label()
    values = {label: (field.value, field.source) for label, field in f.items()}
    assert values["Date of treatment session"] == ("2026-01-05", "session")
    assert values["Dose"] == ("56 mg", "session")
    assert values["Lot number"] == ("L1", "session")
    # 09:05 first device to 11:06 discharge
    assert values["Total minutes from the 1st device administration to completion of "
                  "monitoring"] == ("121", "session")
    # ready but for the minimum at 11:02, 117 minutes after the first device at 09:05
    ready = next(v for k, v in values.items() if k.startswith("If there were no 2-hour"))
    assert ready == ("117", "session")
    assert values["Blood pressure before dosing"][0] == "128/82 mmHg at 09:02"
    assert values["Blood pressure about 40 minutes after dosing"][0] == "165/95 mmHg at 09:44"
    assert values["Blood pressure before completion of monitoring"][0] == "126/78 mmHg at 11:00"
    assert values["Sedation during the session"] == ("No", "session")
    assert values["Dissociation during the session"] == ("No", "session")
    assert values["Respiratory depression during the session"] == ("No", "session")
    assert "SpO2 lowest 87 %" in f["Respiratory depression during the session"].evidence
    for _, label in rems_form.MEDICINES:
        assert values[label] == ("No", "session")


def test_what_chairside_does_not_hold_is_left_for_the_clinic_or_the_clinician() -> None:
    f = by_label()
    clinic = {label for label, field in f.items() if field.source == "clinic"}
    assert clinic == {"Patient name, date of birth, REMS patient ID", "First treatment session?",
                      "Healthcare setting, prescriber and monitoring healthcare provider",
                      "Serious adverse events"}
    assert all(f[label].value == "" for label in clinic)
    assert "P-0042" in f["Patient name, date of birth, REMS patient ID"].evidence
    judged = [field for field in f.values() if field.source == "clinician"]
    assert [j.label for j in judged] == ["Vital signs acceptable before dosing?",
                                         "Vital signs acceptable before completion of monitoring?"]
    assert all(j.value == "" and "mmHg" in j.evidence for j in judged)


def test_concomitant_medicines_and_symptoms_recorded_are_ticked() -> None:
    data = copy.deepcopy(base_report())
    data["session"]["concomitant"] = ["psychostimulant", "opioid"]  # type: ignore[index]
    data["assessments"][0]["sedation"] = "present"  # type: ignore[index]
    data["session"]["dose_mg"] = 70.0  # type: ignore[index]
    f = {x.label: x.value for x in rems_form.fields(data)}
    assert f["Psychostimulants"] == "Yes" and f["Opioids"] == "Yes"
    assert f["Benzodiazepines"] == "No" and f["Monoamine oxidase inhibitors (MAOIs)"] == "No"
    assert f["Sedation during the session"] == "Yes"
    assert f["Dose"] == "other: 70 mg"


def test_the_form_is_due_seven_days_after_the_session_ended() -> None:
    ended = datetime(2026, 1, 5, 11, 6, tzinfo=UTC)
    deadline, left = rems_form.due(ended, datetime(2026, 1, 10, 9, 0, tzinfo=UTC))
    assert deadline == datetime(2026, 1, 12, 11, 6, tzinfo=UTC) and left == 2
    assert rems_form.due(ended, datetime(2026, 1, 13, 9, 0, tzinfo=UTC))[1] == -1
    page = rems_form.render(base_report(), now=datetime(2026, 1, 10, 9, 0, tzinfo=UTC))
    assert "Due by 2026-01-12 (2 days left)" in page


def test_the_form_prints_to_one_page_in_chromium(tmp_path: Path) -> None:
    page = tmp_path / "form.html"
    page.write_text(rems_form.render(base_report()), encoding="utf-8")
    dom = run_chromium("--dump-dom", page.as_uri()).stdout.decode()
    assert dom.count("data-source=\"clinic\"") == 4 and "121" in dom
    pdf = tmp_path / "form.pdf"
    run_chromium(f"--print-to-pdf={pdf}", "--no-pdf-header-footer", page.as_uri())
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    assert data.count(b"/Type /Page") - data.count(b"/Type /Pages") == 1


def test_report_command_writes_the_form_and_rems_due_lists_it(recording: Path) -> None:  # noqa: F811
    page = run("report", SESSION, "--db", str(recording), "--format", "rems")
    assert "REMS Patient Monitoring Form" in page and "126/78 mmHg" in page
    (row,) = [json.loads(line) for line in run("rems-due", "--db", str(recording),
                                               "--json").splitlines()]
    assert row["id"] == SESSION and row["due"] == "2026-01-12T11:06:00.000Z"
    assert row["days_left"] < 0  # long past, on any day this test runs
    lines = run("rems-due", "--db", str(recording)).splitlines()
    assert lines[1].split()[:2] == [SESSION, "chair-1"] and "OVERDUE" in lines[1]
