"""How long the session report takes over many sessions on this machine.

Makes ``--sessions`` synthetic Spravato sessions (as in ``benchmarks/replay.py``: heart
rate and SpO2 every ``--interval`` seconds, a cuff reading every 5 minutes), writes each as
a JSON Lines wire log of its inputs, then times, for every file: reading it, the report
(which replays the engine over it), and the JSON and HTML forms (the process's CPU time,
one session after another); then the wall time of the same work over ``--jobs`` processes
(default: every core), as ``chairside qa`` runs it.

    uv run python benchmarks/report_many.py [--sessions N] [--hours H] [--interval S] [--jobs J]

Prints machine information and the results; records nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from replay import START, machine, session_inputs

from monitor.engine import EngineConfig
from monitor.recording import report_html, wirelog
from monitor.recording.report import build


def one(path: Path) -> int:
    """Everything the report of one wire log takes: read, report, JSON, HTML."""
    log = wirelog.read(path)
    report = build(log, EngineConfig(), source=path.name)
    report.to_json()
    report_html.render(report)
    return len(log.records)


def thin(records: list[wirelog.WireRecord], interval: int) -> list[wirelog.WireRecord]:
    """Keep heart rate and SpO2 every ``interval`` seconds (BP and commands all)."""
    if interval <= 1:
        return records
    return [r for r in records if "/readings/blood_pressure" in r.topic
            or "/readings/" not in r.topic
            or int((r.received_at - START).total_seconds()) % interval == 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--hours", type=float, default=2.25)
    parser.add_argument("--interval", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    machine()
    config = EngineConfig()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = []
        t0 = time.process_time()
        for i in range(args.sessions):
            start = START + timedelta(days=i)
            records = thin(session_inputs(args.hours, seed=i, start=start), args.interval)
            path = folder / f"session-{i:03d}.jsonl"
            with path.open("w", encoding="utf-8") as fh:
                wirelog.write(records, fh)
            files.append(path)
        made = time.process_time() - t0
        size = sum(p.stat().st_size for p in files)
        print(f"sessions {args.sessions} x {args.hours:g} h, HR and SpO2 every "
              f"{args.interval} s: {size / 1e6:.1f} MB of JSON Lines (made in {made:.1f} s)")
        read_s = report_s = json_s = html_s = 0.0
        messages = 0
        for path in files:
            t0 = time.process_time()
            log = wirelog.read(path)
            t1 = time.process_time()
            report = build(log, config, source=path.name)
            t2 = time.process_time()
            report.to_json()
            t3 = time.process_time()
            report_html.render(report)
            t4 = time.process_time()
            read_s += t1 - t0
            report_s += t2 - t1
            json_s += t3 - t2
            html_s += t4 - t3
            messages += len(log.records)
        total = read_s + report_s + json_s + html_s
        n = len(files)
        print(f"read     {read_s:8.1f} s  ({read_s / n * 1000:7.0f} ms a session)")
        print(f"report   {report_s:8.1f} s  ({report_s / n * 1000:7.0f} ms a session, "
              f"{messages / report_s:.0f} msg/s)")
        print(f"json     {json_s:8.2f} s  ({json_s / n * 1000:7.1f} ms a session)")
        print(f"html     {html_s:8.2f} s  ({html_s / n * 1000:7.1f} ms a session)")
        print(f"total    {total:8.1f} s  ({total / n:.2f} s a session)")
        t0 = time.perf_counter()
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            list(pool.map(one, files))
        wall = time.perf_counter() - t0
        print(f"{args.jobs} jobs  {wall:8.1f} s wall for all  ({wall / n:.2f} s a session; "
              f"load average {os.getloadavg()[0]:.2f})")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
