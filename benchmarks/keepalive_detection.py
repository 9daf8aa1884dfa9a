"""How long Mosquitto takes to find a client whose network was cut, and send its will.

A client with keep-alive K publishes once a second through a TCP relay; the relay is cut
the way a partition cuts (nothing passes, nothing closes), at a random moment; a second
client, connected directly, times the will from the cut. MQTT asks a broker to act after
1.5 K of silence; Mosquitto 2.0 checks its clients' keep-alives only every few seconds and
in whole seconds, which adds to that. This is the floor under Chairside's "gateway offline".

    uv run python benchmarks/keepalive_detection.py [--runs 20] [--keepalive 5]

Writes ``benchmarks/RESULTS-keepalive.md`` with the machine and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.faults_long import machine  # noqa: E402
from tests.brokers import Mosquitto, mosquitto_path  # noqa: E402
from tests.integration.helpers import Link  # noqa: E402


async def one_cut(port: int, keepalive: int, rng: random.Random) -> float:
    link = Link("127.0.0.1", port)
    await link.start()
    topic = f"keepalive/{uuid.uuid4().hex[:8]}"
    gone = asyncio.get_running_loop().create_future()
    subscribed = asyncio.Event()

    async def watch() -> None:
        async with aiomqtt.Client("127.0.0.1", port, identifier="w-" + topic[-8:]) as c:
            await c.subscribe(topic, qos=1)
            subscribed.set()
            async for _ in c.messages:
                gone.set_result(time.monotonic())
                return

    watcher = asyncio.create_task(watch())
    await subscribed.wait()
    client = aiomqtt.Client("127.0.0.1", link.port, keepalive=keepalive,
                            will=aiomqtt.Will(topic, b"offline", qos=1),
                            identifier="c-" + topic[-8:])
    await client.__aenter__()

    async def publish() -> None:
        while True:
            await client.publish("keepalive/data", b"x", qos=1)
            await asyncio.sleep(1)

    publisher = asyncio.create_task(publish())
    await asyncio.sleep(rng.uniform(2, 2 + keepalive))
    cut = time.monotonic()
    link.cut.set()
    try:
        return float(await asyncio.wait_for(gone, 10 * keepalive)) - cut
    finally:
        publisher.cancel()
        watcher.cancel()
        await asyncio.gather(publisher, watcher, return_exceptions=True)
        with contextlib.suppress(aiomqtt.MqttError):  # its link is cut: no goodbye
            await client.__aexit__(None, None, None)
        await link.stop()


async def main(runs: int, keepalive: int, seed: int) -> list[float]:
    binary = mosquitto_path()
    if binary is None:
        raise SystemExit("Mosquitto is not installed")
    with tempfile.TemporaryDirectory() as folder:
        broker = Mosquitto(Path(folder), binary)
        broker.start()
        rng = random.Random(seed)
        try:
            out = []
            for i in range(runs):
                out.append(await one_cut(broker.port, keepalive, rng))
                print(f"cut {i + 1}: will after {out[-1]:.2f} s", flush=True)
            return out
        finally:
            broker.stop()


def report(times: list[float], keepalive: int, runs: int, seed: int, before: str,
           after: str, version: str) -> str:
    ordered = sorted(times)
    return "\n".join([
        "# Keep-alive detection",
        "",
        f"`uv run python benchmarks/keepalive_detection.py --runs {runs} --keepalive "
        f"{keepalive} --seed {seed}`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {version}.",
        "",
        f"- Machine at the start: {before}",
        f"- Machine at the end: {after}",
        "",
        f"From the cut to the will, keep-alive {keepalive} s ({runs} cuts): "
        f"min {ordered[0]:.2f} s, median {statistics.median(ordered):.2f} s, "
        f"max {ordered[-1]:.2f} s; 1.5 x keep-alive is {1.5 * keepalive:g} s.",
        "",
        "Every cut, in seconds: " + ", ".join(f"{t:.2f}" for t in times),
        "",
        "Mosquitto 2.0 runs its keep-alive check only when more than 5 s have passed since "
        "the last one, in whole seconds, and compares the silence with keep-alive x 3 / 2 in "
        "integer arithmetic (`src/keepalive.c`). A client it should drop at 1.5 K can "
        "therefore wait up to about 7 s more. Chairside's bound on \"gateway offline\" "
        "after a partition is this, plus the alarm's delay and the engine's half-second "
        "tick.",
        "",
    ])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--keepalive", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    start = machine()
    found = asyncio.run(main(args.runs, args.keepalive, args.seed))
    binary = mosquitto_path() or "mosquitto"
    version = subprocess.run([binary, "-h"], capture_output=True, text=True).stdout.split("\n")[0]
    text = report(found, args.keepalive, args.runs, args.seed, start, machine(), version)
    (ROOT / "benchmarks" / "RESULTS-keepalive.md").write_text(text)
    print(text)
