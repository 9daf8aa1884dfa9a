"""End-to-end alarm latency through a real Mosquitto, beside the broker's own round trip.

    uv run python benchmarks/alarm_latency.py [--chairs 10,50,200] [--seconds 60] [--runs 1]
                                              [--nodelay both|on|off]

For each chair count (and with and without Mosquitto's ``set_tcp_nodelay``): starts a
Mosquitto of its own on a free port (its own configuration, persistence off) and
``chairside engine`` as a process of its own, opens a session at every chair, then a load
generator publishes one blood pressure reading a second per chair (spread evenly over the
second, QoS 1, as gateways do). At random moments a probe publishes an elevated BP (168/92)
at a chair with no alarm, and the subscriber times the ``bp_high`` event the engine raises
for that reading; the chair's next normal reading clears it. At other random moments the same
probe publishes a ping on a topic the same subscriber holds: the raw broker round trip, in the
same run, through the same clients. An alarm crosses the broker twice (reading in, event
out), so about twice the raw round trip is the floor.

Prints p50 / p99 of both and their ratio per run, the median over ``--runs``, the engine's
CPU (of one core) and the load average during each run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drivers import topics  # noqa: E402
from drivers.mqtt import QOS, make_client, payload_bytes  # noqa: E402
from drivers.mqtt_settings import MqttSettings  # noqa: E402
from tests.brokers import Mosquitto, mosquitto_path  # noqa: E402

SITE = "bench"
PING = "chairside/bench-ping"
WARM_UP_S = 5.0


def machine() -> str:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (f"date {datetime.now(UTC).isoformat(timespec='seconds')}; nproc {os.cpu_count()}; "
            f"cpu {model}; python {sys.version.split()[0]}")


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def bp(chair: str, rid: str, systolic: int, diastolic: int) -> bytes:
    now = stamp()
    return json.dumps({
        "v": 1, "id": rid, "chair": chair, "device": "cuff", "source": "ble-2a35",
        "kind": "blood_pressure", "measured_at": now, "received_at": now,
        "values": {"systolic": systolic, "diastolic": diastolic}, "unit": "mm[Hg]"}).encode()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Run:
    chairs: int
    nodelay: bool
    alarm_ms: list[float] = field(default_factory=list)
    alarm_at: list[float] = field(default_factory=list)  # when each probe was sent
    raw_ms: list[float] = field(default_factory=list)
    engine_cpu: float = 0.0
    load: list[float] = field(default_factory=list)
    missed: int = 0

    def figures(self) -> dict[str, float]:
        a50, a99 = percentile(self.alarm_ms, 0.5), percentile(self.alarm_ms, 0.99)
        r50, r99 = percentile(self.raw_ms, 0.5), percentile(self.raw_ms, 0.99)
        return {"alarm_p50": a50, "alarm_p99": a99, "raw_p50": r50, "raw_p99": r99,
                "ratio_p50": a50 / r50, "ratio_p99": a99 / r99, "cpu": self.engine_cpu,
                "load": max(self.load), "alarms": len(self.alarm_ms),
                "pings": len(self.raw_ms), "missed": self.missed}


@contextlib.contextmanager
def engine_process(mqtt: MqttSettings, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    config = workdir / "config.toml"
    config.write_text(f'[site]\nid = "{SITE}"\n')
    binary = Path(sys.executable).parent / "chairside"
    log = (workdir / "engine.log").open("wb")
    proc = subprocess.Popen(
        [str(binary), "engine", "--config", str(config),
         "--broker", f"mqtt://{mqtt.host}:{mqtt.port}"],
        stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


class Bench:
    def __init__(self, mqtt: MqttSettings, run: Run, seconds: float, hz: float = 1.0) -> None:
        self.mqtt = mqtt
        self.hz = hz
        self.run = run
        self.seconds = seconds
        self.names = [f"c{i + 1}" for i in range(run.chairs)]
        self.busy: set[str] = set()  # chairs with a probe's alarm raised and not yet cleared
        self.sent: dict[str, tuple[str, float]] = {}  # probe reading id -> (chair, sent at)
        self.pings: dict[str, float] = {}
        self.results: set[str] = set()
        self.online = asyncio.Event()
        self.measuring = False
        self.warm_up_s = WARM_UP_S
        self._tasks: set[asyncio.Task[Any]] = set()

    def _fire(self, client: Any, topic: str, payload: bytes) -> None:
        """Publish without waiting for the PUBACK, as a gateway's steady stream does."""
        task = asyncio.create_task(client.publish(topic, payload, qos=QOS))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def listen(self, client: Any) -> None:
        async for message in client.messages:
            now = time.perf_counter()
            topic = message.topic.value
            if topic == PING:
                sent = self.pings.pop(payload_bytes(message).decode(), None)
                if sent is not None and self.measuring:
                    self.run.raw_ms.append((now - sent) * 1000)
                continue
            if topic.endswith("/engine/status"):
                if json.loads(payload_bytes(message)).get("state") == "online":
                    self.online.set()
                continue
            body = json.loads(payload_bytes(message))
            if topic.endswith("/command-results"):
                self.results.add(body["id"])
                continue
            if body.get("condition") != "bp_high":
                continue
            chair = body["chair"]
            if body["event"] == "raised":
                probe = self.sent.pop(body.get("reading_id") or "", None)
                if probe is not None and self.measuring:
                    self.run.alarm_ms.append((now - probe[1]) * 1000)
                    self.run.alarm_at.append(probe[1])
            elif body["event"] == "cleared":
                self.busy.discard(chair)

    async def load(self, client: Any) -> None:
        """``hz`` readings a second per chair, spread evenly over the second."""
        start = time.perf_counter()
        step = 1.0 / (len(self.names) * self.hz)
        n = 0
        while True:
            due = start + n * step
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            chair = self.names[n % len(self.names)]
            self._fire(client, topics.reading(SITE, chair, "blood_pressure"),
                       bp(chair, f"r-{n}", 118 + n % 7, 76))
            n += 1

    async def probe_alarms(self, client: Any, rng: random.Random) -> None:
        n = 0
        while True:
            await asyncio.sleep(rng.uniform(0.2, 0.8))
            idle = [c for c in self.names if c not in self.busy]
            if not idle:
                continue
            chair = rng.choice(idle)
            rid = f"probe-{n}"
            n += 1
            self.busy.add(chair)
            payload = bp(chair, rid, 168, 92)
            self.sent[rid] = (chair, time.perf_counter())
            self._fire(client, topics.reading(SITE, chair, "blood_pressure"), payload)

    async def probe_pings(self, client: Any, rng: random.Random) -> None:
        n = 0
        while True:
            await asyncio.sleep(rng.uniform(0.2, 0.8))
            key = f"ping-{n}"
            n += 1
            self.pings[key] = time.perf_counter()
            self._fire(client, PING, key.encode())

    async def main(self, engine_pid: int, seed: int) -> None:
        rng = random.Random(seed)
        async with make_client(self.mqtt, "bench-sub") as sub, \
                make_client(self.mqtt, "bench-load", max_inflight=1000) as gen, \
                make_client(self.mqtt, "bench-probe", max_inflight=100) as probe:
            for flt in (topics.chairs_filter(SITE, "alarms"),
                        topics.chairs_filter(SITE, "command-results"),
                        topics.engine_status(SITE), PING):
                await sub.subscribe(flt, qos=QOS)
            listener = asyncio.create_task(self.listen(sub))
            async with asyncio.timeout(30):
                await self.online.wait()
            for chair in self.names:
                await gen.publish(topics.commands(SITE, chair), json.dumps({
                    "v": 1, "id": f"start-{chair}", "type": "start_session", "at": stamp(),
                    "by": "nurse", "patient_code": f"P-{chair}", "protocol": "spravato"}),
                    qos=QOS)
            async with asyncio.timeout(60):
                while len(self.results) < len(self.names):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            workers = [asyncio.create_task(self.load(gen)),
                       asyncio.create_task(self.probe_alarms(probe, rng)),
                       asyncio.create_task(self.probe_pings(probe, rng))]
            await asyncio.sleep(self.warm_up_s)
            self.sent.clear()
            self.pings.clear()
            cpu0, t0 = cpu_seconds(engine_pid), time.perf_counter()
            self.measuring = True
            end = time.perf_counter() + self.seconds
            while time.perf_counter() < end:
                self.run.load.append(loadavg())
                await asyncio.sleep(min(5.0, max(0.0, end - time.perf_counter())))
            self.measuring = False
            self.run.engine_cpu = (cpu_seconds(engine_pid) - cpu0) / (time.perf_counter() - t0)
            await asyncio.sleep(1.0)  # the last probes' answers
            self.run.missed = sum(1 for _, at in self.sent.values() if at < end - 1.0)
            for task in [*workers, listener]:
                task.cancel()
            await asyncio.gather(*workers, listener, return_exceptions=True)


def one_run(binary: str, chairs: int, nodelay: bool, seconds: float, seed: int) -> Run:
    run = Run(chairs, nodelay)
    with tempfile.TemporaryDirectory(prefix="chairside-latency-") as tmp:
        folder = Path(tmp)
        broker = Mosquitto(folder, binary, extra_config=[
            "persistence false", f"set_tcp_nodelay {'true' if nodelay else 'false'}"])
        broker.start()
        try:
            mqtt = MqttSettings(host="127.0.0.1", port=broker.port)
            with engine_process(mqtt, folder) as proc:
                asyncio.run(Bench(mqtt, run, seconds).main(proc.pid, seed))
        finally:
            broker.stop()
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chairs", default="10,50,200")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--nodelay", choices=["both", "on", "off"], default="both")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    binary = mosquitto_path()
    if binary is None:
        sys.exit("this benchmark needs Mosquitto")
    version = subprocess.run([binary, "-h"], capture_output=True, text=True).stdout
    print(machine())
    print(f"broker {version.splitlines()[0] if version else binary}; load average before "
          f"{Path('/proc/loadavg').read_text().strip()}")
    modes = {"both": [False, True], "on": [True], "off": [False]}[args.nodelay]
    print("| set_tcp_nodelay | chairs | alarm p50 / p99 ms | raw p50 / p99 ms | ratio p50 / p99 "
          "| engine CPU | alarms, pings (missed) | load avg max |")
    print("|---|---|---|---|---|---|---|---|")
    for nodelay in modes:
        for chairs in (int(c) for c in args.chairs.split(",")):
            figures = []
            for i in range(args.runs):
                f = one_run(binary, chairs, nodelay, args.seconds, args.seed + i).figures()
                figures.append(f)
                print(f"  run {i + 1}: " + ", ".join(
                    f"{k} {100 * v:.1f}%" if k == "cpu" else f"{k} {v:.2f}"
                    for k, v in f.items()), file=sys.stderr, flush=True)
            m = {k: statistics.median(f[k] for f in figures) for k in figures[0]}
            print(f"| {'true' if nodelay else 'false'} | {chairs} | "
                  f"{m['alarm_p50']:.1f} / {m['alarm_p99']:.1f} | "
                  f"{m['raw_p50']:.2f} / {m['raw_p99']:.2f} | "
                  f"{m['ratio_p50']:.1f}x / {m['ratio_p99']:.1f}x | {100 * m['cpu']:.1f}% | "
                  f"{m['alarms']:.0f}, {m['pings']:.0f} ({m['missed']:.0f}) | "
                  f"{m['load']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
