"""The report as one self-contained HTML page: tables and inline SVG trend charts, no
script, no external file, so it opens anywhere, prints, and can be archived as it is.
The page is ``templates/report.html.j2``; this module hands it the report, the charts and
the site's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from markupsafe import Markup

from monitor.localtime import localize_times, zone_label

from . import charts, pages
from .report import Report


def time_of_day(when: datetime | None, tz: tzinfo | None) -> str | Markup:
    """A time shown as ``09:02:00`` in ``tz``; the date and the zone are in the heading."""
    return pages.DASH if when is None else f"{when.astimezone(tz):%H:%M:%S}"


def _charts(report: Report, tz: tzinfo | None) -> list[Markup]:
    s = report.series
    if s.start is None or s.end is None:
        return []
    start = s.start - timedelta(minutes=2)
    end = s.end + timedelta(minutes=2)
    markers = [charts.Marker(t, "dose", "#1f5fbf") for t in s.doses]
    markers += [charts.Marker(t, f"{priority} alarm: {condition}",
                              charts.PRIORITY_COLOURS[priority], dashed=True)
                for t, priority, condition in s.alarms]
    if s.discharge is not None:
        markers.append(charts.Marker(s.discharge, "discharge", "#1a7f37"))
    markers += [charts.Marker(t, f"refused: {kind}", "#8b0000", dashed=True)
                for t, kind in s.refusals]
    bp = charts.Chart("Blood pressure", "mmHg", start, end, markers=list(markers), y_min=60,
                      y_max=180, tz=tz, lines=[
                          charts.Line("systolic", "#c62828",
                                      [(p.at, p.systolic) for p in s.bp], dots=True),
                          charts.Line("diastolic", "#1565c0",
                                      [(p.at, p.diastolic) for p in s.bp], dots=True),
                      ])
    hr = charts.Chart("Heart rate", "/min", start, end, markers=list(markers), y_min=50,
                      y_max=110, tz=tz, lines=[charts.Line("heart rate", "#6a1b9a",
                                                    [(p.at, p.value) for p in s.heart_rate])])
    spo2 = charts.Chart("SpO2", "%", start, end, markers=list(markers), y_min=85, y_max=100,
                        tz=tz,
                        limits=[(v, f"{v:g} %") for v in s.spo2_limits],
                        lines=[charts.Line("SpO2", "#00838f", [(p.at, p.value) for p in s.spo2])])
    return [charts.render(c) for c in (bp, hr, spo2)]


def render(report: Report, *, title: str = "Session monitoring record",
           generated_at: datetime | None = None, tz: tzinfo | None = UTC) -> str:
    """The page, every time in ``tz`` (the site's zone; None: the machine's own), which the
    heading names."""
    began = report.model.session.started_at
    zone = zone_label(tz, began)
    return pages.render(
        "report.html.j2",
        report=report.model,
        title=title,
        day=f"{began.astimezone(tz):%Y-%m-%d}",
        zone=zone,
        generated=None if generated_at is None else f"{generated_at.astimezone(tz):%Y-%m-%d %H:%M}",
        charts=_charts(report, tz),
        clock=lambda when: time_of_day(when, tz),
        # A free text (an alarm message, a check's evidence) with its UTC times in ``tz``.
        localized=lambda text: localize_times(text, tz, began),
    ) + "\n"
