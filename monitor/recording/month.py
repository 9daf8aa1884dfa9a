"""The month at a glance: many sessions' reports summed up for QA and the medical director.

`summarize` is pure: it takes the JSON of each session's report (`report.build`) and returns
the sessions, the compliance rate of each check, every failed check with its session and
evidence, alarm counts by priority and by condition, the time to acknowledge (median, 90th
percentile, longest), overrides with their reasons, refusals, and minutes of desaturation.
`build_reports` makes the reports on every core; `render` draws the summary as HTML
(``templates/month.html.j2``).
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from markupsafe import Markup

from . import pages

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


def _rate(value: float | None) -> str | Markup:
    return pages.DASH if value is None else f"{value * 100:.1f} %"


def render(summary: dict[str, Any], *, title: str = "Monitoring compliance") -> str:
    """The summary as one page (``templates/month.html.j2``), with the compliance rate per
    check as bars."""
    return pages.render("month.html.j2", summary=summary, title=title, rate=_rate) + "\n"


def wire_logs(folder: Path) -> list[Path]:
    """The ``.jsonl`` wire logs of a folder, in name order."""
    return sorted(folder.glob("*.jsonl"))
