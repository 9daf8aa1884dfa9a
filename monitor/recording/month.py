"""The month at a glance: many sessions' reports summed up for QA and the medical director.

`summarize` is pure: it takes the JSON of each session's report (`report.build`) and returns
the sessions, the compliance rate of each check, every failed check with its session and
evidence, alarm counts by priority and by condition, the time to acknowledge (median, 90th
percentile, longest), overrides with their reasons, refusals, and minutes of desaturation.
`build_reports` makes the reports on every core; `render` draws the summary as HTML.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from html import escape
from pathlib import Path
from typing import Any

MONTH_VERSION = 1


def _percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile (the value at or below which ``share`` of them lie)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def summarize(reports: Iterable[dict[str, Any]], *, start: str | None = None,
              end: str | None = None) -> dict[str, Any]:
    """Sum up session reports (the JSON of `monitor.recording.report.build`)."""
    sessions: list[dict[str, Any]] = []
    checks: dict[str, Counter[str]] = {}
    failures: list[dict[str, Any]] = []
    by_priority: Counter[str] = Counter()
    by_condition: Counter[str] = Counter()
    acks: list[tuple[float, str, str]] = []
    overrides: list[dict[str, Any]] = []
    refusals: list[dict[str, Any]] = []
    desaturation: dict[str, float] = {}
    desaturated_sessions: Counter[str] = Counter()
    for data in reports:
        name = data["source"] or f"{data['chair']} {data['session']['started_at']}"
        results = data["compliance"]
        failed = [c for c in results if c["passed"] is False]
        sessions.append({
            "session": name, "chair": data["chair"],
            "patient_code": data["session"]["patient_code"],
            "protocol": data["session"]["protocol"],
            "started_at": data["session"]["started_at"], "end": data["session"]["end"],
            "all_passed": not failed, "failed": [c["check"] for c in failed],
        })
        for c in results:
            tally = checks.setdefault(c["check"], Counter())
            tally["passed" if c["passed"] else "failed" if c["passed"] is False
                  else "not_applicable"] += 1
        failures += [{"session": name, "chair": data["chair"], "check": c["check"],
                      "evidence": c["evidence"]} for c in failed]
        for alarm in data["alarms"]:
            by_priority[alarm["priority"]] += 1
            by_condition[alarm["condition"]] += 1
            if alarm["time_to_ack_s"] is not None:
                acks.append((alarm["time_to_ack_s"], name, alarm["alarm_id"]))
        discharge = data["discharge"]
        if discharge["override_reason"]:
            overrides.append({"session": name, "by": discharge["by"],
                              "reason": discharge["override_reason"],
                              "overridden": discharge["overridden"]})
        refusals += [{"session": name, **r} for r in data.get("refusals", [])]
        for below in data["spo2"]["below"]:
            key = f"{below['limit']:g}"
            desaturation[key] = desaturation.get(key, 0.0) + below["minutes"]
            if below["minutes"] > 0:
                desaturated_sessions[key] += 1
    sessions.sort(key=lambda s: (s["started_at"], s["chair"]))
    times = [t for t, _, _ in acks]
    longest = max(acks, default=None)
    count = len(sessions)
    passed_all = sum(1 for s in sessions if s["all_passed"])
    return {
        "month_version": MONTH_VERSION,
        "from": start,
        "to": end,
        "sessions": count,
        "sessions_all_passed": passed_all,
        "compliance_rate": None if not count else round(passed_all / count, 4),
        "checks": {
            name: {"passed": t["passed"], "failed": t["failed"],
                   "not_applicable": t["not_applicable"],
                   "rate": (round(t["passed"] / (t["passed"] + t["failed"]), 4)
                            if t["passed"] + t["failed"] else None)}
            for name, t in sorted(checks.items())
        },
        "failures": failures,
        "alarms": {"total": sum(by_priority.values()),
                   "by_priority": {p: by_priority[p] for p in ("high", "medium", "low")},
                   "by_condition": dict(sorted(by_condition.items()))},
        "time_to_ack_s": {
            "acknowledged": len(times),
            "median": _percentile(times, 0.5),
            "p90": _percentile(times, 0.9),
            "longest": None if longest is None else {
                "seconds": longest[0], "session": longest[1], "alarm_id": longest[2]},
        },
        "overrides": overrides,
        "refusals": refusals,
        "desaturation_min": {limit: round(minutes, 2)
                             for limit, minutes in sorted(desaturation.items())},
        "sessions_desaturated": dict(sorted(desaturated_sessions.items())),
        "session_list": sessions,
    }


def build_reports(jobs: Sequence[Any], make: Callable[[Any], dict[str, Any] | str], *,
                  workers: int | None = None,
                  progress: Callable[[int], None] | None = None,
                  ) -> tuple[list[dict[str, Any]], list[str]]:
    """Run ``make`` on each job on every core (it must be a module-level function); return
    the reports and the problems (``make`` returns a string for a session it cannot report
    on). ``progress`` is told after each job."""
    reports: list[dict[str, Any]] = []
    problems: list[str] = []
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(jobs) < 2:
        results: Iterable[dict[str, Any] | str] = map(make, jobs)
        for result in results:
            (problems if isinstance(result, str) else reports).append(result)  # type: ignore[arg-type]
            if progress is not None:
                progress(1)
        return reports, problems
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for result in pool.map(make, jobs, chunksize=max(1, len(jobs) // (workers * 8))):
            (problems if isinstance(result, str) else reports).append(result)  # type: ignore[arg-type]
            if progress is not None:
                progress(1)
    return reports, problems


def _rate(value: float | None) -> str:
    return "&ndash;" if value is None else f"{value * 100:.1f} %"


CSS = """
body { font-family: sans-serif; margin: 24px; max-width: 1000px; color: #222; }
table { border-collapse: collapse; margin: 8px 0; } td, th { border: 1px solid #ccc;
padding: 3px 8px; text-align: left; vertical-align: top; } th { background: #f2f2f2; }
.fail { color: #c62828; font-weight: bold; } .note { color: #555; font-size: 12px; }
"""


def _bars(rows: list[tuple[str, float | None]]) -> str:
    """Compliance rate per check as horizontal bars (SVG, no script)."""
    height = 22 * len(rows) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="760" '
             f'height="{height}" role="img" aria-label="compliance rate per check">']
    for i, (name, rate) in enumerate(rows):
        y = 5 + 22 * i
        width = 0 if rate is None else 480 * rate
        colour = "#1a7f37" if rate == 1 else "#c62828" if rate is not None else "#999"
        parts.append(f'<text x="0" y="{y + 14}" font-size="12">{escape(name)}</text>'
                     f'<rect class="bar" data-check="{escape(name)}" x="220" y="{y}" '
                     f'width="{width:.1f}" height="16" fill="{colour}"/>'
                     f'<text x="{226 + width:.1f}" y="{y + 13}" font-size="11">'
                     f'{"n/a" if rate is None else f"{rate * 100:.1f} %"}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render(summary: dict[str, Any], *, title: str = "Monitoring compliance") -> str:
    s = summary
    period = f"{s['from'] or 'the start'} to {s['to'] or 'the end'}"
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{escape(title)}</h1>",
             f"<p>{s['sessions']} sessions, {escape(period)}; every check met in "
             f"{s['sessions_all_passed']} ({_rate(s['compliance_rate'])}).</p>",
             "<h2>Compliance per check</h2>",
             _bars([(name, c["rate"]) for name, c in s["checks"].items()]),
             "<table><tr><th>check</th><th>met</th><th>failed</th><th>n/a</th><th>rate</th>"
             "</tr>"]
    for name, c in s["checks"].items():
        parts.append(f"<tr><td>{escape(name)}</td><td>{c['passed']}</td><td>{c['failed']}</td>"
                     f"<td>{c['not_applicable']}</td><td>{_rate(c['rate'])}</td></tr>")
    parts.append("</table><h2>Failed checks</h2>")
    if s["failures"]:
        parts.append("<table><tr><th>session</th><th>check</th><th>evidence</th></tr>")
        parts.extend(f"<tr><td>{escape(f['session'])}</td><td class='fail'>"
                     f"{escape(f['check'])}</td><td>{escape(f['evidence'])}</td></tr>"
                     for f in s["failures"])
        parts.append("</table>")
    else:
        parts.append("<p>None.</p>")
    a, t = s["alarms"], s["time_to_ack_s"]
    parts.append("<h2>Alarms</h2><p>" + f"{a['total']} alarms: " + ", ".join(
        f"{n} {p}" for p, n in a["by_priority"].items()) + "</p><table><tr><th>condition</th>"
        "<th>alarms</th></tr>")
    parts.extend(f"<tr><td>{escape(c)}</td><td>{n}</td></tr>"
                 for c, n in a["by_condition"].items())
    longest = t["longest"]
    parts.append("</table><p>Time to acknowledge: "
                 f"{t['acknowledged']} acknowledged; median {t['median']} s, 90th percentile "
                 f"{t['p90']} s"
                 + (f", longest {longest['seconds']} s ({escape(longest['alarm_id'])} in "
                    f"{escape(longest['session'])})" if longest else "") + ".</p>")
    parts.append("<h2>Overrides</h2>")
    parts.append("<ul>" + "".join(
        f"<li>{escape(o['session'])}: {escape(str(o['by']))}: {escape(o['reason'])} "
        f"(unmet: {escape(', '.join(o['overridden']))})</li>" for o in s["overrides"])
        + "</ul>" if s["overrides"] else "<p>None.</p>")
    parts.append("<h2>Refused commands</h2>")
    parts.append("<ul>" + "".join(
        f"<li>{escape(r['session'])} {escape(str(r['at']))}: {escape(r['type'])} by "
        f"{escape(str(r['by']))}: {escape('; '.join(r['reasons']))}</li>"
        for r in s["refusals"]) + "</ul>" if s["refusals"] else "<p>None.</p>")
    parts.append("<h2>Desaturation</h2><p>" + (", ".join(
        f"{m:g} min below {limit} % (in {s['sessions_desaturated'].get(limit, 0)} sessions)"
        for limit, m in s["desaturation_min"].items()) or "No SpO2 limit configured.")
        + "</p>")
    parts.append(f"<p class='note'>Month summary version {s['month_version']}.</p>"
                 "</body></html>")
    return "\n".join(parts) + "\n"


def wire_logs(folder: Path) -> list[Path]:
    """The ``.jsonl`` wire logs of a folder, in name order."""
    return sorted(folder.glob("*.jsonl"))
