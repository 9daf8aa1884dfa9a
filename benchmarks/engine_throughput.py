"""Readings per second through the session engine.

Ten chairs with open Spravato sessions, each sending SpO2 and heart rate once a second and
a blood pressure every five minutes, for a simulated hour. The engine runs as the live
service runs it (``publish_states="deferred"``: a reading marks its chair, and the state is
built when it is published). Prints the machine, the readings handled per second (handle
only), the rate with the service's ticks counted in (every half second, publishing each
changed chair's state), the rate when every reading builds its chair's complete state (as
the engine did before), and the memory the engine holds at the half-way point and at the
end (it must not grow with the session's length: every per-chair history is bounded).
Times are the process's CPU time, so other work on a shared machine counts less.

    uv run python benchmarks/engine_throughput.py [--chairs 10] [--minutes 60]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from drivers.wire import DoseGiven, ManualBp, Reading, StartSession
from monitor.engine import Engine, EngineConfig
from monitor.engine.engine import StatesMode

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def readings(chairs: list[str], seconds: int) -> list[tuple[datetime, str, Reading]]:
    """The whole stream, built before timing (building pydantic models is the gateway's
    cost, not the engine's)."""
    out: list[tuple[datetime, str, Reading]] = []
    for s in range(1, seconds + 1):
        now = T0 + timedelta(seconds=s)
        for i, chair in enumerate(chairs):
            spo2 = 96.0 + (s + i) % 3
            hr = 70.0 + (s * 7 + i) % 20
            common = {"chair": chair, "source": "bench", "measured_at": now,
                      "received_at": now}
            out.append((now, chair, Reading.model_validate({
                **common, "id": f"{chair}-s{s}", "device": "oxi", "kind": "spo2",
                "values": {"spo2": spo2, "pulse_rate": hr}, "unit": "%"})))
            out.append((now, chair, Reading.model_validate({
                **common, "id": f"{chair}-h{s}", "device": "ecg", "kind": "heart_rate",
                "values": {"heart_rate": hr}, "unit": "/min"})))
            if s % 300 == 0:
                sys_ = 120.0 + (s // 300 + i) % 50
                out.append((now, chair, Reading.model_validate({
                    **common, "id": f"{chair}-b{s}", "device": "cuff",
                    "kind": "blood_pressure",
                    "values": {"systolic": sys_, "diastolic": 80.0, "mean": 95.0},
                    "unit": "mm[Hg]"})))
    return out


def prepared(chairs: list[str], states: StatesMode = "deferred") -> Engine:
    engine = Engine(EngineConfig(), publish_states=states)
    for chair in chairs:
        engine.handle(chair, StartSession(id=f"{chair}-start", at=T0, by="nurse",
                                          patient_code="P1", protocol="spravato",
                                          dose_mg=56), T0)
        engine.handle(chair, ManualBp(id=f"{chair}-bp", at=T0, by="nurse", systolic=125,
                                      diastolic=80), T0)
        engine.handle(chair, DoseGiven(id=f"{chair}-dose", at=T0, by="nurse"), T0)
    return engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chairs", type=int, default=10)
    parser.add_argument("--minutes", type=int, default=60)
    args = parser.parse_args()
    chairs = [f"chair-{n + 1}" for n in range(args.chairs)]
    seconds = args.minutes * 60
    stream = readings(chairs, seconds)

    engine = prepared(chairs)
    start = time.process_time()
    outputs = 0
    for now, chair, reading in stream:
        outputs += len(engine.handle(chair, reading, now))
    handle_s = time.process_time() - start

    engine = prepared(chairs)
    half_s = timedelta(seconds=0.5)
    states = 0
    start = time.process_time()
    last = T0
    for now, chair, reading in stream:
        if now != last:
            states += len(engine.tick(last + half_s))
            states += len(engine.tick(now))
            last = now
        engine.handle(chair, reading, now)
    total_s = time.process_time() - start

    engine = prepared(chairs, states=True)
    start = time.process_time()
    for now, chair, reading in stream:
        engine.handle(chair, reading, now)
    every_s = time.process_time() - start

    stream_half = stream[len(stream) // 2][0]
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    engine = prepared(chairs)
    half = 0
    for now, chair, reading in stream:
        engine.handle(chair, reading, now)
        if not half and now >= stream_half:
            half = tracemalloc.get_traced_memory()[0] - base
    held, peak = (m - base for m in tracemalloc.get_traced_memory())
    tracemalloc.stop()

    print(f"date:      {date.today().isoformat()}")
    print(f"machine:   {os.cpu_count()} CPUs, {cpu_model()}")
    print(f"python:    {platform.python_version()} ({platform.python_implementation()})")
    print(f"workload:  {args.chairs} chairs x {args.minutes} min, {len(stream)} readings, "
          f"{outputs} outputs")
    print(f"handle:    {len(stream) / handle_s:,.0f} readings/s "
          f"({handle_s * 1e6 / len(stream):.0f} us each)")
    print(f"with tick: {len(stream) / total_s:,.0f} readings/s "
          f"(2 Hz tick over all chairs included, {states} outputs, most of them states)")
    print(f"state per reading: {len(stream) / every_s:,.0f} readings/s "
          f"({every_s * 1e6 / len(stream):.0f} us each: handle building every state)")
    print(f"memory:    engine holds {half / 1e6:.1f} MB half-way, {held / 1e6:.1f} MB at the "
          f"end (peak {peak / 1e6:.1f} MB, tracemalloc)")


if __name__ == "__main__":
    main()
