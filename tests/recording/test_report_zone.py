"""The HTML record speaks the site's time zone; the JSON form and the wire stay UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from monitor.engine import EngineConfig
from monitor.recording import report_html
from monitor.recording.report import Report, build
from monitor.recording.wirelog import WireLog
from tests.recording.scenario import spravato_inputs

NEW_YORK = ZoneInfo("America/New_York")  # UTC-05:00 in January


def made() -> Report:
    return build(WireLog(spravato_inputs(ack_alarm_id="chair-1:spo2_low:5")), EngineConfig())


def test_utc_by_default() -> None:
    page = report_html.render(made())
    assert "2026-01-05; all times UTC." in page
    assert "<th>Session start</th><td>09:00:00</td>" in page
    assert "observed 121.0 min (09:05:00 to 11:06:00)" in page


def test_site_zone_for_every_time_a_person_reads() -> None:
    report = made()
    page = report_html.render(report, tz=NEW_YORK,
                              generated_at=datetime(2026, 1, 5, 17, 0, tzinfo=UTC))
    assert "2026-01-05; all times America/New_York (UTC-05:00)." in page
    assert "<th>Session start</th><td>04:00:00</td>" in page  # structured times
    assert "observed 121.0 min (04:05:00 to 06:06:00)" in page  # evidence texts
    assert "BP check 40_min due until 04:55:00" in page  # the engine's alarm messages
    assert "made 2026-01-05 12:00 America/New_York (UTC-05:00)" in page
    axis = re.findall(r'text-anchor="middle">(\d\d:\d\d)</text>', page)
    assert axis and all("04:00" <= t <= "06:30" for t in axis), axis  # the charts' time axis
    assert "Z" not in "".join(re.findall(r"<td>[^<]*</td>", page))
    # The JSON form is unchanged: UTC, said so.
    assert report.data["session"]["started_at"] == "2026-01-05T09:00:00.000Z"
