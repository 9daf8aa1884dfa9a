"""The engine service's ceiling: the highest input rate it keeps up with, beside the broker's
own relay rate on the same machine.

    uv run python benchmarks/engine_service_ceiling.py [--chairs 50] [--seconds 15]
                                                        [--rates 50,100,200,400,800,1600]

For each rate: a Mosquitto of its own (persistence off, ``set_tcp_nodelay true``) and
``chairside engine`` as a process of its own, a session at every chair, and the load of
``benchmarks/alarm_latency.py`` at that many readings a second in all, with its alarm probes.
The engine keeps up when its lag does not grow: every probe is answered, and the probes'
median latency over the last third of the run is under 50 ms or under twice that of the
first third (an engine behind its input falls further behind every second, and its probes
wait behind the backlog the broker holds for it). The rates stop at the first it does not
keep up with.

The broker's own relay rate: ``mosquitto_pub`` sends 20,000 QoS 1 messages to a
``mosquitto_sub`` through the same Mosquitto build; the rate is the subscriber's.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alarm_latency import Bench, Run, engine_process, loadavg, machine  # type: ignore[import-not-found]  # noqa: E402

from drivers.mqtt_settings import MqttSettings  # noqa: E402
from tests.brokers import Mosquitto, mosquitto_path  # noqa: E402

RELAYED = 20_000
LAG_MS = 50.0
"""A last third whose median probe is under this, or under twice the first third's, has no
growing lag: an engine behind its input is seconds behind within a run."""


def relay_rate(binary: str) -> tuple[float, int]:
    """Messages a second Mosquitto relays from one C client to another at QoS 1, and how
    many of the ``RELAYED`` sent arrived."""
    pub, sub = shutil.which("mosquitto_pub"), shutil.which("mosquitto_sub")
    if pub is None or sub is None:
        return float("nan"), 0
    with tempfile.TemporaryDirectory(prefix="chairside-relay-") as tmp:
        broker = Mosquitto(Path(tmp), binary,
                           extra_config=["persistence false", "set_tcp_nodelay true"])
        broker.start()
        receiver = subprocess.Popen([sub, "-p", str(broker.port), "-t", "relay", "-q", "1"],
                                    stdout=subprocess.PIPE)
        try:
            arrived, last = 0, time.perf_counter()

            def count() -> None:
                nonlocal arrived, last
                assert receiver.stdout is not None
                for _ in receiver.stdout:
                    arrived += 1
                    last = time.perf_counter()

            reader = threading.Thread(target=count, daemon=True)
            reader.start()
            time.sleep(0.5)
            lines = b"".join(b'{"v":1,"n":%d,"pad":"................................"}\n' % i
                             for i in range(RELAYED))
            started = time.perf_counter()
            subprocess.run([pub, "-p", str(broker.port), "-t", "relay", "-q", "1", "-l"],
                           input=lines, check=True)
            while time.perf_counter() - last < 1.0 and arrived < RELAYED:
                time.sleep(0.1)
            return arrived / (last - started), arrived
        finally:
            receiver.kill()
            receiver.wait()
            broker.stop()


def kept_up(run: Run) -> tuple[bool, float, float]:
    """Whether the lag stayed flat: (kept up, first third's median ms, last third's)."""
    if run.missed or len(run.alarm_ms) < 6:
        return False, float("nan"), float("nan")
    third = len(run.alarm_ms) // 3
    first = statistics.median(run.alarm_ms[:third])
    last = statistics.median(run.alarm_ms[-third:])
    return last < max(LAG_MS, 2 * first), first, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chairs", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rates", default="50,100,200,400,800,1600")
    args = parser.parse_args()
    binary = mosquitto_path()
    if binary is None:
        sys.exit("this benchmark needs Mosquitto")
    print(machine())
    print(f"load average before {Path('/proc/loadavg').read_text().strip()}")
    rate, arrived = relay_rate(binary)
    print(f"broker relay (mosquitto_pub -> mosquitto_sub, QoS 1): {rate:,.0f} messages/s "
          f"({arrived} of {RELAYED} arrived)")
    print("| readings/s | kept up | probe median first / last third ms | engine CPU | "
          "load avg max |")
    print("|---|---|---|---|---|")
    for rate in (int(r) for r in args.rates.split(",")):
        run = Run(args.chairs, True)
        with tempfile.TemporaryDirectory(prefix="chairside-ceiling-") as tmp:
            folder = Path(tmp)
            broker = Mosquitto(folder, binary,
                               extra_config=["persistence false", "set_tcp_nodelay true"])
            broker.start()
            try:
                mqtt = MqttSettings(host="127.0.0.1", port=broker.port)
                with engine_process(mqtt, folder) as proc:
                    bench = Bench(mqtt, run, args.seconds, hz=rate / args.chairs)
                    bench.warm_up_s = 2.0
                    asyncio.run(bench.main(proc.pid, rate))
            finally:
                broker.stop()
        ok, first, last = kept_up(run)
        print(f"| {rate} | {'yes' if ok else 'no'} | {first:.1f} / {last:.1f} | "
              f"{100 * run.engine_cpu:.0f}% | {max(run.load or [loadavg()]):.2f} |", flush=True)
        if not ok:
            break


if __name__ == "__main__":
    main()
