"""How fast a 3-hour session replays through the engine on this machine.

A synthetic Spravato session (84 mg, three devices; heart rate and SpO2 every second, a
cuff reading every 5 minutes; a BP rise at 40 minutes and an SpO2 dip at an hour) is
replayed (decoding included) several ways:

- from its wire log of inputs alone, time acting at the engine's deadlines: building no
  chair states (what `chairside replay --headless`, `--against` and "next alarm" need: the
  alarm events and answers), building a state only where something besides the latest
  values changed (what the report reads), and building one with every input;
- from a full recording (inputs and a state per input, as the engine once published): the
  replay ticks where the engine published, and reproduces its alarms exactly; with and
  without states;
- from the same recording as the recorder keeps it (only the states that say something new,
  `monitor.recording.thinning`), which must replay to the same outputs;
- reading the JSON Lines files back (inputs alone, and the full recording).

Times are the process's CPU time (best of ``--repeat``).

    uv run python benchmarks/replay.py [--hours H] [--repeat N] [--write FILE] [--stages N]

Prints machine information, each recording's size by topic, and the results; ``--write``
also writes the recording as the recorder keeps it, as JSON Lines.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import random
import time
from datetime import UTC, datetime, timedelta

from drivers import topics
from drivers.wire import (
    Assessment,
    Discharge,
    DoseGiven,
    Reading,
    StartSession,
)
from monitor.engine import EngineConfig
from monitor.recording import wirelog
from monitor.recording.replay import Replay, prepare, with_engine_outputs
from monitor.recording.thinning import thin
from monitor.recording.wirelog import WireLog, WireRecord

SITE, CHAIR = "bench", "c1"
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def session_inputs(hours: float = 3.0, seed: int = 1, start: datetime = START,
                   chair: str = CHAIR) -> list[WireRecord]:
    """One session's inputs, deterministic for a seed."""
    rng = random.Random(seed)
    out: list[WireRecord] = []
    end = start + timedelta(hours=hours)

    def command(at: datetime, cmd: object) -> None:
        out.append(WireRecord(topics.commands(SITE, chair), at, cmd.to_json()))  # type: ignore[attr-defined]

    def reading(at: datetime, kind: str, unit: str, values: dict[str, float]) -> None:
        r = Reading(chair=chair, device=kind.replace("_", "-"), source="bench", kind=kind,  # type: ignore[arg-type]
                    measured_at=at, received_at=at, unit=unit, values=values)  # type: ignore[arg-type]
        out.append(WireRecord(topics.reading(SITE, chair, kind), at, r.to_json()))

    command(start, StartSession(at=start, by="nurse", patient_code=f"P-{seed:04d}",
                                protocol="spravato", dose_mg=84, lot="L42"))
    doses = [start + timedelta(minutes=m) for m in (5, 10, 15)]
    for d in doses:
        command(d, DoseGiven(at=d, by="nurse"))
    t = start
    while t <= end:
        minutes = (t - start).total_seconds() / 60
        rise = max(0.0, 1 - abs(minutes - 45) / 40) * 40
        if int((t - start).total_seconds()) % 300 == 120:
            reading(t, "blood_pressure", "mm[Hg]",
                    {"systolic": round(125 + rise + rng.gauss(0, 4)),
                     "diastolic": round(80 + rise / 2 + rng.gauss(0, 3))})
        dip = 89.0 if 60 <= minutes < 60.7 else 97.0
        reading(t, "spo2", "%", {"spo2": round(dip + rng.gauss(0, 0.5)),
                                 "pulse_rate": round(72 + rng.gauss(0, 2))})
        reading(t, "heart_rate", "/min", {"heart_rate": round(72 + rise / 4 + rng.gauss(0, 2))})
        t += timedelta(seconds=1)
    assess = end - timedelta(minutes=5)
    command(assess, Assessment(at=assess, by="nurse", sedation="none", dissociation="none",
                               respiration="normal"))
    command(end, Discharge(at=end, by="physician", override_reason="bench: discharge at end"))
    out.sort(key=lambda r: r.received_at)
    return out


def machine() -> None:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if "model name" in line)
    except (OSError, StopIteration):
        pass
    print(f"date     {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"python   {platform.python_version()} ({platform.python_implementation()})")
    print(f"system   {platform.system()} {platform.release()} {platform.machine()}")
    print(f"cpu      {cpu}, nproc {os.cpu_count()}")


def sizes(name: str, records: list[WireRecord]) -> int:
    """Print a recording's size as JSON Lines, by kind of topic; return the whole."""
    by: dict[str, list[int]] = {}
    for record in records:
        parts = record.topic.split("/")
        kind = "/".join(parts[5:7]) if len(parts) > 6 and parts[5] == "readings" else (
            parts[5] if len(parts) > 5 else record.topic)
        entry = by.setdefault(kind, [0, 0])
        entry[0] += 1
        entry[1] += len(wirelog.to_line(record)) + 1
    total = sum(size for _, size in by.values())
    print(f"{name}: {sum(n for n, _ in by.values())} messages, {total / 1e6:.2f} MB as "
          "JSON Lines")
    for kind, (count, size) in sorted(by.items(), key=lambda item: -item[1][1]):
        print(f"  {kind:<28} {count:7} {size / 1e6:7.2f} MB {size / count:7.0f} B each")
    return total


def best(repeat: int, fn: object) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()  # type: ignore[operator]
        times.append(time.process_time() - t0)
    return min(times)


def stages(inputs: list[WireRecord], config: EngineConfig, repeat: int, top: int) -> None:
    """The replay from inputs as its two stages: decoding every input (`prepare`) and the
    engine's run over what was decoded; beside the read of the same lines."""
    out = io.StringIO()
    wirelog.write(inputs, out)
    lines = out.getvalue().splitlines()
    read = best(repeat, lambda: wirelog.read_lines(lines))
    whole = best(repeat, lambda: Replay(WireLog(list(inputs)), config, states=False).run())
    decode = best(repeat, lambda: prepare(WireLog(list(inputs))))
    prepared = prepare(WireLog(list(inputs)))
    engine = best(repeat, lambda: Replay(prepared, config, states=False).run())
    print(f"read JSON Lines (inputs only)            {read:7.3f} s")
    print(f"replay, inputs only, alarms only         {whole:7.3f} s  {whole / read:4.1f}x the read")
    print(f"  decoding the inputs (prepare)          {decode:7.3f} s  {decode / read:4.1f}x")
    print(f"  the engine over them                   {engine:7.3f} s  {engine / read:4.1f}x")
    if top:
        profile = cProfile.Profile()
        profile.runcall(lambda: Replay(prepared, config, states=False).run())
        pstats.Stats(profile).sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", metavar="FILE",
                        help="write the recording as the recorder keeps it")
    parser.add_argument("--stages", type=int, metavar="N", default=None,
                        help="only the replay from inputs (alarms only) against the read of "
                             "its lines, split into decoding and the engine, with the top N "
                             "entries of the engine's profile")
    args = parser.parse_args()
    machine()
    config = EngineConfig()
    inputs = session_inputs(args.hours)
    if args.stages is not None:
        stages(inputs, config, args.repeat, args.stages)
        return
    full = with_engine_outputs(inputs, config, SITE)
    text = io.StringIO()
    wirelog.write(full, text)
    lines = text.getvalue().splitlines()
    span = args.hours * 3600
    print(f"session  {args.hours:g} h: {len(inputs)} inputs; full recording {len(full)} "
          f"messages, {len(text.getvalue()) / 1e6:.1f} MB as JSON Lines")
    kept = list(thin(full))
    sizes("full recording, a state per input", full)
    sizes("as the recorder keeps it", kept)
    if args.write:
        with open(args.write, "w") as fh:
            wirelog.write(kept, fh)
    same = (Replay(WireLog(list(kept)), config, states=False).run()
            == Replay(WireLog(list(full)), config, states=False).run())
    print(f"kept     replays to the same alarms and answers as the full recording: {same}")
    only = io.StringIO()
    wirelog.write(inputs, only)
    input_lines = only.getvalue().splitlines()
    recorded = io.StringIO()
    wirelog.write(kept, recorded)
    kept_lines = recorded.getvalue().splitlines()
    print(f"inputs   {len(only.getvalue()) / 1e6:.1f} MB as JSON Lines")
    results = [
        ("replay, inputs only, alarms only", len(inputs),
         best(args.repeat, lambda: Replay(WireLog(list(inputs)), config, states=False).run())),
        ("replay, inputs only, states on change", len(inputs),
         best(args.repeat,
              lambda: Replay(WireLog(list(inputs)), config, states="changes").run())),
        ("replay, inputs only, state per input", len(inputs),
         best(args.repeat, lambda: Replay(WireLog(list(inputs)), config).run())),
        ("read JSON Lines (inputs only)", len(input_lines),
         best(args.repeat, lambda: wirelog.read_lines(input_lines))),
        ("replay, full recording", len(full),
         best(args.repeat, lambda: Replay(WireLog(list(full)), config).run())),
        ("replay, full recording, alarms only", len(full),
         best(args.repeat, lambda: Replay(WireLog(list(full)), config, states=False).run())),
        ("read JSON Lines (full recording)", len(lines),
         best(args.repeat, lambda: wirelog.read_lines(lines))),
        ("replay, as recorded", len(kept),
         best(args.repeat, lambda: Replay(WireLog(list(kept)), config).run())),
        ("replay, as recorded, alarms only", len(kept),
         best(args.repeat, lambda: Replay(WireLog(list(kept)), config, states=False).run())),
        ("read JSON Lines (as recorded)", len(kept_lines),
         best(args.repeat, lambda: wirelog.read_lines(kept_lines))),
    ]
    for name, count, seconds in results:
        print(f"{name:<40} {seconds:7.2f} s  {count / seconds:9.0f} msg/s  "
              f"{span / seconds:7.0f}x real time")


if __name__ == "__main__":
    main()
