"""The month at a glance against counts worked out by hand over four sessions with known
failures (variants of the hand-computed Spravato session, ``spravato_inputs``):

* A: the session as it is: every check met; 6 alarms (1 high, 2 medium, 3 low), the high
  one acknowledged after 30 s; 1.5 min below 92 % and 0.5 min below 88 %.
* B: the same with a discharge tried at 10:20, refused.
* C: SpO2 missing from 10:00 to 10:05: pulse oximetry fails; one more alarm (spo2_missing,
  medium).
* D: judged against a 20 s limit to acknowledge: the high alarm (30 s) fails it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from monitor.engine import EngineConfig
from monitor.recording import month, wirelog
from monitor.recording.commands import COMMANDS
from monitor.recording.report import build
from monitor.recording.wirelog import WireLog
from tests.recording.scenario import at, spravato_inputs
from tests.recording.test_report import SPO2_ALARM

VARIANTS: dict[str, tuple[dict[str, Any], float | None]] = {
    "A": ({}, None),
    "B": ({"early_discharge": True}, None),
    "C": ({"spo2_gap": (at(10, 0), at(10, 5))}, None),
    "D": ({}, 20.0),
}


@cache
def reports() -> tuple[dict[str, Any], ...]:
    return tuple(
        build(WireLog(spravato_inputs(ack_alarm_id=SPO2_ALARM, **kw)), EngineConfig(),
              ack_within_s=ack, source=name).data
        for name, (kw, ack) in VARIANTS.items())


def test_counts_and_rates_equal_the_hand_computed_ones() -> None:
    s = month.summarize(reports(), start="2026-01-01", end="2026-01-31")
    assert (s["sessions"], s["sessions_all_passed"], s["compliance_rate"]) == (4, 2, 0.5)
    assert s["checks"]["pulse_oximetry_throughout"] == {
        "passed": 3, "failed": 1, "not_applicable": 0, "rate": 0.75}
    assert s["checks"]["high_alarms_acknowledged"]["rate"] == 0.75
    for name in ("observation_minimum", "bp_check:pre_dose", "bp_check:40_min",
                 "bp_check:pre_discharge"):
        assert (s["checks"][name]["passed"], s["checks"][name]["rate"]) == (4, 1.0), name
    assert [(f["session"], f["check"]) for f in s["failures"]] == [
        ("C", "pulse_oximetry_throughout"), ("D", "high_alarms_acknowledged")]
    assert "longest gap" in s["failures"][0]["evidence"]
    assert s["alarms"] == {
        "total": 25,
        "by_priority": {"high": 4, "medium": 9, "low": 12},
        "by_condition": {"bp_check_due": 12, "bp_high": 4, "spo2_low": 8, "spo2_missing": 1},
    }
    assert s["time_to_ack_s"]["acknowledged"] == 4
    assert (s["time_to_ack_s"]["median"], s["time_to_ack_s"]["p90"]) == (30.0, 30.0)
    assert s["time_to_ack_s"]["longest"]["seconds"] == 30.0
    assert s["overrides"] == []
    assert [(r["session"], r["type"]) for r in s["refusals"]] == [("B", "discharge")]
    assert s["desaturation_min"] == {"88": 2.0, "92": 6.0}
    assert s["sessions_desaturated"] == {"88": 4, "92": 4}
    assert [x["session"] for x in s["session_list"] if not x["all_passed"]] == ["C", "D"]


def test_percentiles_are_nearest_rank() -> None:
    values = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0, 4.0, 6.0, 10.0]
    assert month._percentile(values, 0.5) == 5.0
    assert month._percentile(values, 0.9) == 9.0
    assert month._percentile([], 0.5) is None


def test_the_html_has_a_bar_per_check_and_names_each_failure() -> None:
    page = month.render(month.summarize(reports()))
    assert page.count('class="bar"') == 6
    assert "pulse_oximetry_throughout" in page and "4 sessions" in page
    assert "every check met in 2 (50.0 %)" in page


def test_qa_over_a_folder_of_wire_logs_on_two_cores(tmp_path: Path) -> None:
    for name, (kw, _) in VARIANTS.items():
        with (tmp_path / f"{name}.jsonl").open("w", encoding="utf-8") as fh:
            wirelog.write(spravato_inputs(ack_alarm_id=SPO2_ALARM, **kw), fh)
    (tmp_path / "broken.jsonl").write_text("not json\n")
    command = {c.name: c for c in COMMANDS}["qa"]
    args = ["--logs", str(tmp_path), "--from", "2026-01-05", "--to", "2026-01-05",
            "--format", "json", "--workers", "2", "--config", "/nonexistent-on-purpose"]
    result = CliRunner().invoke(command, args[:-2], catch_exceptions=False,
                                env={"CHAIRSIDE_CONFIG": ""})
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["sessions"] == 4  # D's 20 s limit is not the command's: it passes
    assert summary["checks"]["pulse_oximetry_throughout"]["failed"] == 1
    assert "broken.jsonl" in result.stderr
    later = CliRunner().invoke(command, ["--logs", str(tmp_path), "--from", "2026-01-06",
                                         "--to", "2026-01-31", "--format", "json"],
                               env={"CHAIRSIDE_CONFIG": ""})
    assert json.loads(later.stdout[later.stdout.index("{"):])["sessions"] == 0


def test_the_month_page_renders_and_prints_in_chromium(tmp_path: Path) -> None:
    from tests.recording.test_report_html import run_chromium

    page = tmp_path / "month.html"
    page.write_text(month.render(month.summarize(reports())), encoding="utf-8")
    dom = run_chromium("--dump-dom", page.as_uri()).stdout.decode()
    assert dom.count('class="bar"') == 6 and 'data-check="pulse_oximetry_throughout"' in dom
    pdf = tmp_path / "month.pdf"
    run_chromium(f"--print-to-pdf={pdf}", "--no-pdf-header-footer", page.as_uri())
    assert pdf.read_bytes().startswith(b"%PDF")
