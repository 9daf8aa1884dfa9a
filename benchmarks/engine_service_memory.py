"""The engine service's memory over a simulated clinic day, through a real Mosquitto.

    uv run python benchmarks/engine_service_memory.py [--hours 12] [--chairs 24] [--trace]

Starts a Mosquitto of its own (persistence off) and the engine service in this process on a
fake clock, opens a dosed session at every chair, then publishes, per chair, one SpO2
reading a second of simulated time (a cuff BP every five minutes instead), as fast as the
engine takes them: the publisher stays at most ``--window`` readings ahead of what the engine
has handled, so nothing queues without bound. The clock is set to each reading's time before
it is published, so a 12-hour day runs in however long the engine needs for its readings.

Every simulated half hour it prints the process's RSS and, with ``--trace``, the Python heap
(tracemalloc); at the end the growth after the warm-up (``--warm-up``, an hour) and, with
``--trace``, the ten places whose allocations grew most from the warm-up to the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alarm_latency import loadavg, machine  # type: ignore[import-not-found]  # noqa: E402

from drivers import topics  # noqa: E402
from drivers.clock import FakeClock  # noqa: E402
from drivers.mqtt import QOS, make_client  # noqa: E402
from drivers.mqtt_settings import MqttSettings  # noqa: E402
from monitor.engine import EngineConfig  # noqa: E402
from monitor.engine_service import EngineService  # noqa: E402
from tests.brokers import Mosquitto, mosquitto_path  # noqa: E402

SITE = "day"
T0 = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)


def stamp(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Counting(EngineService):
    handled = 0

    def process(self, topic: str, payload: bytes, now: datetime) -> None:
        super().process(topic, payload, now)
        self.handled += 1


def reading(chair: str, n: int, at: datetime, bp: bool) -> tuple[str, bytes]:
    base = {"v": 1, "id": f"{chair}-{n}", "chair": chair, "measured_at": stamp(at),
            "received_at": stamp(at)}
    if bp:
        body = {**base, "device": "cuff", "source": "ble-2a35", "kind": "blood_pressure",
                "values": {"systolic": 118 + n % 9, "diastolic": 76}, "unit": "mm[Hg]"}
    else:
        body = {**base, "device": "oximeter", "source": "nonin-8", "kind": "spo2",
                "values": {"spo2": 96 + n % 3, "pulse_rate": 70 + n % 5}, "unit": "%"}
    return topics.reading(SITE, chair, str(body["kind"])), json.dumps(body).encode()


async def day(mqtt: MqttSettings, hours: float, chairs: int, window: int, trace: bool,
              warm_up_s: float) -> None:
    clock = FakeClock(T0)
    names = [f"c{i + 1}" for i in range(chairs)]
    engine = Counting(mqtt, SITE, EngineConfig(), clock, chairs=names, restore_wait_s=0.5)
    task = asyncio.create_task(engine.run())
    await engine.connected.wait()
    samples: list[tuple[float, float, float]] = []  # simulated hours, RSS MB, heap MB
    first: tracemalloc.Snapshot | None = None
    async with make_client(mqtt, "day-gateways", max_inflight=window + 1) as client:
        for kind in ("start_session", "dose_given"):
            for chair in names:
                await client.publish(topics.commands(SITE, chair), json.dumps({
                    "v": 1, "id": f"{kind}-{chair}", "type": kind, "at": stamp(clock.now()),
                    "by": "nurse", "patient_code": f"P-{chair}", "protocol": "spravato"}),
                    qos=QOS)
            while engine.handled < len(names) * (2 if kind == "dose_given" else 1):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        base = engine.handled
        total = int(hours * 3600 * chairs)
        next_sample = 0.0
        sample_s = min(1800.0, hours * 3600 / 12)
        started = time.perf_counter()
        pending: set[asyncio.Task[None]] = set()
        for n in range(total):
            second, k = divmod(n, chairs)
            at = T0 + timedelta(seconds=second + k / chairs)
            if second >= next_sample:
                heap = tracemalloc.get_traced_memory()[0] / 1e6 if trace else 0.0
                samples.append((second / 3600, rss_mb(), heap))
                print(f"  {second / 3600:5.1f} h  RSS {rss_mb():6.1f} MB  heap {heap:6.2f} MB  "
                      f"{engine.handled - base} readings  load {loadavg():.2f}", flush=True)
                if trace and first is None and second >= warm_up_s:
                    first = tracemalloc.take_snapshot()
                next_sample += sample_s
            while n - (engine.handled - base) > window:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
            clock.set(at)
            topic, payload = reading(names[k], second, at, bp=second % 300 == 0)
            publish = asyncio.create_task(client.publish(topic, payload, qos=QOS))
            pending.add(publish)
            publish.add_done_callback(pending.discard)
        while engine.handled - base < total or engine.unacknowledged:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        seconds = time.perf_counter() - started
        heap = tracemalloc.get_traced_memory()[0] / 1e6 if trace else 0.0
        samples.append((hours, rss_mb(), heap))
        last = tracemalloc.take_snapshot() if trace else None
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    print(f"\n{total} readings in {seconds:.0f} s ({total / seconds:.0f}/s), "
          f"{hours:g} simulated hours at {chairs} chairs")
    after = [s for s in samples if s[0] >= warm_up_s / 3600]
    if len(after) >= 2:
        (h0, r0, m0), (h1, r1, m1) = after[0], after[-1]
        print(f"RSS after warm-up {r0:.1f} MB -> {r1:.1f} MB over {h1 - h0:.1f} h: "
              f"{(r1 - r0) / (h1 - h0):+.2f} MB/h")
        if trace:
            print(f"heap after warm-up {m0:.2f} MB -> {m1:.2f} MB: "
                  f"{(m1 - m0) / (h1 - h0):+.3f} MB/h")
    if first is not None and last is not None:
        print("\nallocations that grew most between the end of the warm-up and the end:")
        keep = [tracemalloc.Filter(False, tracemalloc.__file__)]
        for stat in last.filter_traces(keep).compare_to(first.filter_traces(keep),
                                                        "lineno")[:10]:
            print(f"  {stat}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=12.0, help="simulated hours")
    parser.add_argument("--chairs", type=int, default=24)
    parser.add_argument("--window", type=int, default=200,
                        help="readings the publisher may be ahead of the engine")
    parser.add_argument("--trace", action="store_true", help="also trace the Python heap")
    parser.add_argument("--warm-up", type=float, default=1.0, help="simulated hours")
    args = parser.parse_args()
    binary = mosquitto_path()
    if binary is None:
        sys.exit("this benchmark needs Mosquitto")
    print(machine())
    if args.trace:
        tracemalloc.start(1)
    with tempfile.TemporaryDirectory(prefix="chairside-day-") as tmp:
        broker = Mosquitto(Path(tmp), binary, extra_config=["persistence false"])
        broker.start()
        try:
            asyncio.run(day(MqttSettings(host="127.0.0.1", port=broker.port), args.hours,
                            args.chairs, args.window, args.trace, args.warm_up * 3600))
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
