"""Where the engine's time goes: cProfile's top entries for two workloads.

``handle``: the readings of ``engine_throughput.py`` (10 chairs, 1 Hz SpO2 and heart rate,
a cuff every 5 minutes) through ``Engine.handle``. ``replay``: the 3-hour session of
``replay.py`` replayed from its inputs alone, as the report does.

    uv run python benchmarks/engine_profile.py [handle|replay] [--top 15] [--minutes 10]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from engine_throughput import prepared, readings
from replay import session_inputs

from monitor.engine import EngineConfig
from monitor.recording.replay import Replay
from monitor.recording.wirelog import WireLog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=("handle", "replay"))
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--minutes", type=int, default=10)
    args = parser.parse_args()
    profile = cProfile.Profile()
    if args.workload == "handle":
        chairs = [f"chair-{n + 1}" for n in range(10)]
        stream = readings(chairs, args.minutes * 60)
        engine = prepared(chairs)
        profile.enable()
        for now, chair, reading in stream:
            engine.handle(chair, reading, now)
        profile.disable()
    else:
        inputs = session_inputs(3.0)
        replay = Replay(WireLog(list(inputs)), EngineConfig(), states=False)
        profile.enable()
        replay.run()
        profile.disable()
    stats = pstats.Stats(profile)
    stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
