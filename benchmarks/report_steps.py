"""What the session report costs beyond its replay, step by step, on this machine.

One synthetic Spravato session (as in ``benchmarks/replay.py``: heart rate and SpO2 every
second, a cuff reading every 5 minutes) is prepared and replayed once (timed); then, best
of ``--repeat``: ``report.build`` over the replay's outputs (the session's inputs, the
numbers, the checks and the report's model: the report's own work); and best of ten times
as many: its JSON form, the HTML page with its three charts, the REMS form.

    uv run python benchmarks/report_steps.py [--hours H] [--repeat N]

Prints machine information, the load average and the results; records nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from replay import best, machine, session_inputs

from monitor.engine import EngineConfig
from monitor.recording import rems_form, report_html
from monitor.recording import report as reporting
from monitor.recording.replay import Replay, prepare
from monitor.recording.report import build
from monitor.recording.wirelog import WireLog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2.25)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    machine()
    config = EngineConfig()
    prepared = prepare(WireLog(session_inputs(args.hours, seed=1)))
    print(f"session  {args.hours:g} h, {len(prepared.steps)} inputs")
    t0 = time.perf_counter()
    outputs = Replay(prepared, config).run()
    replay_s = time.perf_counter() - t0

    class Replayed:
        """The replay's outputs, made once: what build adds to them is the report's work."""

        def __init__(self, *_: object) -> None:
            pass

        def run(self) -> list[object]:
            return list(outputs)

    reporting.Replay = Replayed  # type: ignore[assignment,misc]
    build_s = best(args.repeat, lambda: build(prepared, config))
    made = build(prepared, config)
    parts = [getattr(made, f.name) for f in dataclasses.fields(made)]
    json_s = best(args.repeat * 10, lambda: type(made)(*parts).to_json())  # nothing cached
    html_s = best(args.repeat * 10, lambda: report_html.render(made))
    rems_s = best(args.repeat * 10, lambda: rems_form.render(made.data))
    print(f"replay   {replay_s * 1000:9.1f} ms  (once)")
    print(f"report   {build_s * 1000:9.1f} ms  (build over the replay's outputs)")
    print(f"json     {json_s * 1000:9.2f} ms")
    print(f"html     {html_s * 1000:9.2f} ms")
    print(f"rems     {rems_s * 1000:9.2f} ms")
    with open("/proc/loadavg") as fh:
        print(f"loadavg  {fh.read().strip()}")


if __name__ == "__main__":
    main()
