"""The HTML pages come from templates shipped in the package, and every value a person or a
device wrote is escaped on them."""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from pathlib import Path

from monitor.recording import month, rems_form, report_html
from monitor.recording.report import Report
from monitor.recording.report_model import SessionReport
from tests.recording.test_report import SPO2_ALARM, base_report
from tests.recording.test_report_zone import made

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = '<script>alert("x")</script> & <b>'


def test_the_templates_are_package_data() -> None:
    folder = resources.files("monitor.recording") / "templates"
    names = {p.name for p in folder.iterdir()}
    assert {"report.html.j2", "chart.svg.j2", "rems_form.html.j2", "month.html.j2",
            "report.css", "rems_form.css", "month.css"} <= names
    wheel = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    assert "monitor" in wheel["targets"]["wheel"]["packages"]  # the whole folder, templates too


def _hostile_report() -> Report:
    data = copy.deepcopy(base_report())
    data["session"]["patient_code"] = HOSTILE  # type: ignore[index]
    data["assessments"][0]["note"] = HOSTILE  # type: ignore[index]
    data["problems"] = [f"line 3: {HOSTILE}"]
    data["compliance"][0]["evidence"] = HOSTILE  # type: ignore[index]
    return Report(SessionReport.model_validate(data), made().series)


def test_free_text_is_escaped_on_the_report() -> None:
    page = report_html.render(_hostile_report())
    assert "<script" not in page and "<b>" not in page
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;"
    assert page.count(escaped) == 5  # title, patient code, note, evidence, problem


def test_free_text_is_escaped_on_the_rems_form_and_the_month() -> None:
    report = _hostile_report()
    form = rems_form.render(report.model)
    assert "<script" not in form and "&lt;script&gt;" in form
    summary = month.summarize([report.data])
    summary["failures"] = [{"session": HOSTILE, "chair": "chair-1", "check": "x",
                            "evidence": HOSTILE}]
    page = month.render(summary)
    assert "<script" not in page and page.count("&lt;script&gt;") == 2


def test_the_rems_form_takes_the_model_or_its_json_alike() -> None:
    report = made()
    assert rems_form.fields(report.model) == rems_form.fields(report.data)
    assert SPO2_ALARM in {a.alarm_id for a in report.model.alarms}
