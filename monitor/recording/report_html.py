"""The report as one self-contained HTML page: tables and inline SVG trend charts, no
script, no external file, so it opens anywhere, prints, and can be archived as it is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from html import escape
from typing import Any

from drivers.wire import parse_time
from monitor.localtime import localize_times, zone_label

from . import charts
from .report import Report

CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px auto; max-width: 960px; color: #222; }
h1 { font-size: 20px; margin-bottom: 4px; } h2 { font-size: 16px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0; } td, th { border: 1px solid #ccc;
padding: 3px 8px; text-align: left; vertical-align: top; } th { background: #f2f2f2; }
.pass { color: #1a7f37; font-weight: bold; } .fail { color: #c62828; font-weight: bold; }
.na { color: #777; } .note { color: #555; font-size: 12px; }
.high { color: #d62728; } .medium { color: #b07d00; } .low { color: #17a2b8; }
tr.refused td { color: #8b0000; font-weight: bold; }
svg.chart { display: block; margin: 8px 0; max-width: 100%; height: auto; }
@media print { body { margin: 0; } h2 { break-after: avoid; } svg.chart { break-inside: avoid; } }
"""


def _v(value: Any) -> str:
    if value is None or value == [] or value == "":
        return "&ndash;"
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    return escape(str(value))


def _time(value: str | None, tz: tzinfo | None) -> str:
    """``2026-01-05T09:02:00.000Z`` shown as ``09:02:00`` in ``tz``; the date and the zone are
    in the heading."""
    when = _parse(value)
    return "&ndash;" if when is None else escape(f"{when.astimezone(tz):%H:%M:%S}")


def _parse(value: str | None) -> datetime | None:
    return parse_time(value) if value else None


def _rows(rows: list[tuple[str, str]]) -> str:
    return "<table>" + "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows) \
        + "</table>"


def _bp(item: dict[str, Any] | None, tz: tzinfo | None) -> str:
    if item is None:
        return '<span class="fail">none recorded</span>'
    return (f"{_v(item['systolic'])}/{_v(item['diastolic'])} mmHg at {_time(item['at'], tz)} "
            f"<span class='note'>({escape(item['source'])})</span>")


def _charts(report: Report, tz: tzinfo | None) -> str:
    s = report.series
    if s.start is None or s.end is None:
        return ""
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
    legend = ("<p class='note'>Marks: <span style='color:#1f5fbf'>&#9660; dose</span>, "
              "<span class='high'>&#9660; alarm (colour of its priority)</span>, "
              "<span style='color:#1a7f37'>&#9660; discharge</span>, "
              "<span style='color:#8b0000'>&#9660; command refused</span>.</p>")
    return legend + "\n".join(charts.render(c) for c in (bp, hr, spo2))


def render(report: Report, *, title: str = "Session monitoring record",
           generated_at: datetime | None = None, tz: tzinfo | None = UTC) -> str:
    """The page, every time in ``tz`` (the site's zone; None: the machine's own), which the
    heading names."""
    d = report.data
    session = d["session"]
    bp = d["blood_pressure"]
    began = _parse(session["started_at"])
    day = f"{began.astimezone(tz):%Y-%m-%d}" if began else ""
    zone = zone_label(tz, began or datetime.now(UTC))

    def text(value: str) -> str:
        """A free text (an alarm message, a check's evidence) with its UTC times in ``tz``."""
        return escape(localize_times(value, tz, began))

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}: {escape(str(session['patient_code']))} {escape(day)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p class='note'>Chair {escape(d['chair'])}, {escape(day)}; all times {escape(zone)}. "
        "Chairside supports, and does not replace, clinical judgement.</p>",
        "<h2>Session</h2>",
        _rows([
            ("Patient code", _v(session["patient_code"])),
            ("Protocol", f"{_v(session['protocol'])} "
                         f"<span class='note'>{_v(session['protocol_title'])}</span>"),
            ("Dose and lot", f"{_v(session['dose_mg'])} mg, lot {_v(session['lot'])}"),
            ("Concomitant medicines", _v(", ".join(session["concomitant"]))),
            ("Session start", _time(session["started_at"], tz)),
            ("First dose", _time(session["first_dose_at"], tz)),
            ("Doses given", _v(session["doses_given"])),
            ("Earliest discharge", _time(session["earliest_discharge_at"], tz)),
            ("End", f"{_v(session['end'])} at {_time(session['ended_at'], tz)}"),
            ("Total monitoring time", f"{_v(session['monitoring_min'])} min from the first dose"),
            ("Ready but for the minimum", _time(session["ready_without_minimum_at"], tz)),
        ]),
        "<h2>Compliance</h2><table><tr><th>check</th><th>result</th><th>evidence</th></tr>",
    ]
    for check in d["compliance"]:
        passed = check["passed"]
        verdict = ("<span class='pass'>passed</span>" if passed else
                   "<span class='na'>not applicable</span>" if passed is None else
                   "<span class='fail'>FAILED</span>")
        parts.append(f"<tr><td>{escape(check['check'])}</td><td>{verdict}</td>"
                     f"<td>{text(check['evidence'])}</td></tr>")
    parts.append("</table>")
    parts.append("<h2>Blood pressure</h2>")
    parts.append(_rows([("Before dosing", _bp(bp["pre_dose"], tz)),
                        ("At 40 minutes", _bp(bp["at_40_min"], tz)),
                        ("Before discharge", _bp(bp["pre_discharge"], tz)),
                        ("Highest", _bp(bp["highest"], tz))]))
    parts.append("<table><tr><th>required check</th><th>status</th><th>window</th>"
                 "<th>done</th><th>BP</th></tr>")
    for c in bp["checks"]:
        parts.append(
            f"<tr><td>{escape(c['name'])}{'' if c['required'] else ' (optional)'}</td>"
            f"<td>{escape(c['status'])}</td><td>{_time(c['window_start'], tz)} to "
            f"{_time(c['window_end'], tz) if c['window_end'] else 'discharge'}</td>"
            f"<td>{_time(c['done_at'], tz)}</td><td>{_v(c['systolic'])}/{_v(c['diastolic'])}</td>"
            "</tr>")
    parts.append("</table>")
    spo2, hr = d["spo2"], d["heart_rate"]
    below = ", ".join(f"{b['minutes']:g} min below {b['limit']:g} %" for b in spo2["below"])
    parts.append("<h2>SpO2 and heart rate</h2>")
    parts.append(_rows([
        ("SpO2 minimum", "&ndash;" if spo2["min"] is None else
         f"{_v(spo2['min']['value'])} % at {_time(spo2['min']['at'], tz)}"),
        ("Time below limits", escape(below) or "&ndash;"),
        ("SpO2 readings", f"{spo2['readings']}, longest gap {spo2['longest_gap_s']:g} s"),
        ("Heart rate lowest", "&ndash;" if hr["min"] is None else
         f"{_v(hr['min']['value'])} /min at {_time(hr['min']['at'], tz)}"),
        ("Heart rate highest", "&ndash;" if hr["max"] is None else
         f"{_v(hr['max']['value'])} /min at {_time(hr['max']['at'], tz)}"),
    ]))
    parts.append("<h2>Trends</h2>")
    parts.append(_charts(report, tz))
    parts.append("<h2>Alarms</h2>")
    if d["alarms"]:
        parts.append("<table><tr><th>raised</th><th>priority</th><th>condition</th>"
                     "<th>message</th><th>acknowledged</th><th>time to ack</th>"
                     "<th>cleared</th></tr>")
        for a in d["alarms"]:
            ack = (f"{_time(a['acknowledged_at'], tz)} by {_v(a['acknowledged_by'])}"
                   if a["acknowledged_at"] else "&ndash;")
            took = "&ndash;" if a["time_to_ack_s"] is None else f"{a['time_to_ack_s']:g} s"
            parts.append(
                f"<tr><td>{_time(a['raised_at'], tz)}</td>"
                f"<td class='{escape(a['priority'])}'>{escape(a['priority'])}</td>"
                f"<td>{escape(a['condition'])}</td><td>{text(a['message'])}</td>"
                f"<td>{ack}</td><td>{took}</td><td>{_time(a['cleared_at'], tz)}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>No alarms.</p>")
    parts.append("<h2>Assessments</h2>")
    if d["assessments"]:
        parts.append("<table><tr><th>time</th><th>by</th><th>sedation</th>"
                     "<th>dissociation</th><th>respiration</th><th>MOAA/S</th><th>Aldrete</th>"
                     "<th>note</th></tr>")
        for a in d["assessments"]:
            parts.append(
                f"<tr><td>{_time(a['at'], tz)}</td><td>{_v(a['by'])}</td><td>{_v(a['sedation'])}"
                f"</td><td>{_v(a['dissociation'])}</td><td>{_v(a['respiration'])}</td>"
                f"<td>{_v(a['moaas'])}</td><td>{_v(a['aldrete'])}</td><td>{_v(a['note'])}</td>"
                "</tr>")
        parts.append("</table>")
    else:
        parts.append("<p>No assessment recorded.</p>")
    if d["symptoms"]:
        parts.append("<h2>Symptoms reported</h2><ul class='symptoms'>")
        parts.extend(
            f"<li class='high'>{_time(x['at'], tz)} by {_v(x['by'])}: "
            f"{escape(', '.join(s.replace('_', ' ') for s in x['symptoms']))}"
            f"{' (' + escape(x['note']) + ')' if x['note'] else ''}: referred for emergency "
            "care per the label</li>" for x in d["symptoms"])
        parts.append("</ul>")
    parts.append("<h2>Commands</h2>")
    if d["refusals"]:
        parts.append(f"<p class='high'>{len(d['refusals'])} refused by the engine, discharge "
                     "attempts first:</p><ul class='refusals'>")
        parts.extend(
            f"<li>{_time(c['at'], tz)} {escape(c['type'])} by {_v(c['by'])}"
            f"{_role(c.get('role'))}: "
            f"{escape('; '.join(c['reasons']))}</li>" for c in d["refusals"])
        parts.append("</ul>")
    if d["commands"]:
        parts.append("<table class='commands'><tr><th>time</th><th>command</th><th>by</th>"
                     "<th>answer</th></tr>")
        for c in d["commands"]:
            answer = ("accepted" if c["accepted"] else "no answer" if c["accepted"] is None
                      else "REFUSED: " + "; ".join(c["reasons"]))
            mark = " class='refused'" if c["accepted"] is False else ""
            parts.append(f"<tr{mark}><td>{_time(c['at'], tz)}</td><td>{escape(c['type'])}</td>"
                         f"<td>{_v(c['by'])}{_role(c.get('role'))}</td>"
                         f"<td>{escape(answer)}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>No command recorded.</p>")
    dis = d["discharge"]
    parts.append("<h2>Discharge</h2>")
    parts.append(_rows([
        ("Discharged", _time(dis["at"], tz)),
        ("By", _v(dis["by"])),
        ("Override reason", _v(dis["override_reason"])),
        ("Conditions overridden", _v(", ".join(dis["overridden"]))),
        ("Ended", f"{_time(dis['ended_at'], tz)} {_v(dis['end_reason'])}"
         if dis["ended_at"] else "&ndash;"),
    ]))
    if d["problems"]:
        parts.append("<h2>Problems in the recording</h2><ul>")
        parts.extend(f"<li>{escape(p)}</li>" for p in d["problems"])
        parts.append("</ul>")
    footer = f"Report version {d['report_version']}"
    if d["source"]:
        footer += f", from {escape(d['source'])}"
    if generated_at is not None:
        footer += f", made {generated_at.astimezone(tz):%Y-%m-%d %H:%M} {escape(zone)}"
    parts.append(f"<p class='note'>{footer}.</p></body></html>")
    return "\n".join(parts) + "\n"


def _role(role: object) -> str:
    return f" ({escape(str(role))})" if role else ""
