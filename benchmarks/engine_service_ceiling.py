"""The engine service's ceiling: the highest input rate it keeps up with, beside the broker's
own relay rate on the same machine.

    uv run python benchmarks/engine_service_ceiling.py [--chairs 50] [--seconds 15]
                                                        [--rates 50,100,200,400,800,1600]

For each rate: a Mosquitto of its own (persistence off, ``set_tcp_nodelay true``) and
``chairside engine`` as a process of its own, a session at every chair, and the load of
``benchmarks/alarm_latency.py`` at that many readings a second in all, with its alarm probes.
The engine keeps up when its lag does not grow: every probe is answered, and the probes'
median latency over the last third of the run is under 100 ms and under twice that of the
first third (an engine behind its input falls further behind every second, and its probes
wait behind the backlog the broker holds for it). The rates stop at the first it does not
keep up with.

The broker's own relay rate: ``mosquitto_pub`` sends 100,000 QoS 1 messages to a
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alarm_latency import Bench, Run, engine_process, loadavg, machine  # type: ignore[import-not-found]  # noqa: E402

from drivers.mqtt import MqttSettings  # noqa: E402
from tests.brokers import Mosquitto, mosquitto_path  # noqa: E402

RELAYED = 100_000


def relay_rate(binary: str) -> float:
    """Messages a second Mosquitto relays from one C client to another at QoS 1."""
    pub, sub = shutil.which("mosquitto_pub"), shutil.which("mosquitto_sub")
    if pub is None or sub is None:
        return float("nan")
    with tempfile.TemporaryDirectory(prefix="chairside-relay-") as tmp:
        broker = Mosquitto(Path(tmp), binary,
                           extra_config=["persistence false", "set_tcp_nodelay true"])
        broker.start()
        try:
            port = str(broker.port)
            receiver = subprocess.Popen(
                [sub, "-p", port, "-t", "relay", "-q", "1", "-C", str(RELAYED)],
                stdout=subprocess.DEVNULL)
            time.sleep(0.5)
            lines = b"".join(b'{"v":1,"n":%d,"pad":"................................"}\n' % i
                             for i in range(RELAYED))
            started = time.perf_counter()
            subprocess.run([pub, "-p", port, "-t", "relay", "-q", "1", "-l"], input=lines,
                           check=True)
            receiver.wait(timeout=300)
            return RELAYED / (time.perf_counter() - started)
        finally:
            broker.stop()


def kept_up(run: Run) -> tuple[bool, float, float]:
    """Whether the lag stayed flat: (kept up, first third's median ms, last third's)."""
    if run.missed or len(run.alarm_ms) < 6:
        return False, float("nan"), float("nan")
    third = len(run.alarm_ms) // 3
    first = statistics.median(run.alarm_ms[:third])
    last = statistics.median(run.alarm_ms[-third:])
    return last < 100 and last < 2 * max(first, 5.0), first, last


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
    print(f"broker relay (mosquitto_pub -> mosquitto_sub, QoS 1): {relay_rate(binary):,.0f} "
          "messages/s")
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
