"""One region on this machine: site Mosquittos bridged to a regional Mosquitto on loopback.

    uv run python benchmarks/region_load.py [--sites 4] [--chairs 24,96,250] [--seconds 20]
                                            [--rate 4]

For each chair count per site: a regional Mosquitto that signs clients in and enforces the
ACL `chairside sites` writes, and ``--sites`` site Mosquittos each bridged to it with the
configuration `chairside sites` writes (persistent sessions, QoS 1, TLS off on loopback).
A load generator publishes, at every site, ``--rate`` messages a second per chair of what a
site sends up (chair states of a real size, QoS 1, spread evenly over the second), each
stamped with the time it was published; a subscriber at the region, signed in as the
region's QA user, times each one's arrival. In the same run the same generator publishes
the same messages straight to the regional broker at a tenth of the rate, and the same
subscriber times them: the broker's own round trip, beside which the bridge's hop is read.

Prints, per step: messages offered and received at the region per second, p50/p99 of the
bridged and of the direct latency and their ratio, the CPU (of one core) of the regional
broker, of the site brokers together and of the generator, and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pydantic import SecretStr  # noqa: E402

from benchmarks.replay import machine  # noqa: E402
from drivers import topics  # noqa: E402
from drivers.mqtt import QOS, make_client, payload_bytes  # noqa: E402
from drivers.mqtt_settings import MqttSettings  # noqa: E402
from monitor.access.commands import write_files  # noqa: E402
from monitor.access.directory import User, new  # noqa: E402
from monitor.access.passwords import hash_password  # noqa: E402
from monitor.sites import load, write  # noqa: E402
from tests.brokers import Mosquitto, mosquitto_path, signing_in  # noqa: E402
from tests.dashboard.states import NOW, alarm, chair_state  # noqa: E402

IN_FLIGHT = 2000
"""Publishes awaiting their PUBACK beyond which the generator skips one (and counts it)."""
DIRECT = "direct"
"""The pseudo-site of the messages published straight to the regional broker."""


def ticks(pid: int) -> float:
    """CPU seconds a process has used (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Step:
    chairs: int
    sites: int
    offered: int = 0
    skipped: int = 0
    bridged: list[float] = field(default_factory=list)
    direct: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    load: str = ""


def region(folder: Path, sites: list[str], binary: str) -> tuple[Mosquitto, dict[str, Mosquitto]]:
    """The regional broker and the site brokers, written by `chairside sites`."""
    for site in sites:
        (folder / f"{site}.env").write_text(
            f"REMOTE_USERNAME=bridge-{site}\nREMOTE_PASSWORD=pw-bridge-{site}\n")
    people = new(folder / "region-users.toml", "region").with_user("qa", User(role="qa"))
    write_files(people, {"qa": hash_password("pw-qa-user", iterations=1000)})
    out = folder / "out"
    (folder / "region").mkdir()
    hub = Mosquitto(folder / "region", binary, extra_config=[
        *signing_in(out / "region.passwd", out / "region.acl"), "persistence false",
        "set_tcp_nodelay true"])
    text = (f'[region]\nhost = "127.0.0.1"\nport = {hub.port}\nusers = "region-users.toml"\n'
            + "".join(f'[sites.{s}]\nenv_file = "{s}.env"\n' for s in sites))
    (folder / "sites.toml").write_text(text)
    write(load(folder / "sites.toml"), out, iterations=1000)
    brokers = {}
    for site in sites:
        (folder / site).mkdir()
        brokers[site] = Mosquitto(folder / site, binary, extra_config=[
            *(out / f"bridge-{site}.conf").read_text().splitlines(), "set_tcp_nodelay true"])
    return hub, brokers


async def measure(hub: Mosquitto, brokers: dict[str, Mosquitto], chairs: int, rate: float,
                  seconds: float) -> Step:
    step = Step(chairs, len(brokers))
    body = chair_state("chair-1", "observation", NOW["observation"],
                       alarms=[alarm("chair-1", "medium")]).to_json()
    qa = MqttSettings(broker="external", host="127.0.0.1", port=hub.port, username="qa",
                      password=SecretStr("pw-qa-user"), keepalive_s=30)
    measuring = False
    tasks: set[asyncio.Task[Any]] = set()

    def fire(client: Any, topic: str, stamp: float) -> bool:
        if len(tasks) > IN_FLIGHT:
            return False  # the generator is behind: said, not hidden in the latency
        task = asyncio.create_task(
            client.publish(topic, f"{stamp:.9f} ".encode() + body, qos=QOS))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return True

    async def listen(client: Any) -> None:
        async for message in client.messages:
            now = time.perf_counter()
            topic = message.topic.value
            if topic.startswith("chairside/bridge/"):
                continue
            sent = float(payload_bytes(message).split(b" ", 1)[0])
            if measuring:
                (step.direct if topic.split("/")[2] == DIRECT else step.bridged).append(
                    now - sent)

    async def generate(client: Any, site: str, per_s: float) -> None:
        names = [f"chair-{i}" for i in range(1, chairs + 1)]
        gap, start, n = 1.0 / per_s, time.perf_counter(), 0
        while True:
            due = start + n * gap
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            sent = fire(client, topics.state(site, names[n % len(names)]), time.perf_counter())
            if measuring and site != DIRECT:
                step.offered += sent
                step.skipped += not sent
            n += 1

    async with contextlib.AsyncExitStack() as stack:
        sub = await stack.enter_async_context(make_client(qa, "bench-region-qa"))
        await sub.subscribe("chairside/v1/+/chairs/+/state", qos=QOS)
        await sub.subscribe("chairside/bridge/+/state", qos=QOS)
        listener = asyncio.create_task(listen(sub))
        direct = await stack.enter_async_context(make_client(MqttSettings(
            broker="external", host="127.0.0.1", port=hub.port, username=f"bridge-{DIRECT}",
            password=SecretStr(f"pw-bridge-{DIRECT}")), "bench-direct"))
        clients = {site: await stack.enter_async_context(
            make_client(broker.settings, f"bench-{site}")) for site, broker in brokers.items()}
        workers = [asyncio.create_task(generate(c, s, chairs * rate))
                   for s, c in clients.items()]
        workers.append(asyncio.create_task(generate(direct, DIRECT, max(1.0, chairs * rate / 10))))
        await asyncio.sleep(2)  # warm-up: bridges settle, queues drain
        procs = {"region broker": [hub], "site brokers": list(brokers.values())}
        before = {k: sum(ticks(b.proc.pid) for b in v if b.proc) for k, v in procs.items()}
        me = time.process_time()
        t0 = time.perf_counter()
        measuring = True
        await asyncio.sleep(seconds)
        measuring = False
        wall = time.perf_counter() - t0
        step.cpu = {k: (sum(ticks(b.proc.pid) for b in v if b.proc) - before[k]) / wall
                    for k, v in procs.items()}
        step.cpu["generator and subscriber"] = (time.process_time() - me) / wall
        step.load = os.getloadavg()[0].__format__(".2f")
        for worker in workers:
            worker.cancel()
        await asyncio.sleep(1)  # what is in flight arrives
        listener.cancel()
        await asyncio.gather(*workers, listener, return_exceptions=True)
        step.offered = int(step.offered / wall)
        step.cpu["seconds"] = wall
    return step


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=4)
    parser.add_argument("--chairs", default="24,96,250", help="chairs per site, per step")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=4.0, help="messages a second per chair")
    args = parser.parse_args()
    logging.getLogger("mqtt").setLevel(logging.ERROR)  # no line per late PUBACK
    binary = mosquitto_path()
    if binary is None:
        sys.exit("region_load: needs Mosquitto (apt-get install mosquitto)")
    machine()
    print(f"load avg {Path('/proc/loadavg').read_text().strip()} (before)")
    sites = [f"site{i}" for i in range(1, args.sites + 1)]
    print(f"{args.sites} sites bridged to one region, {args.rate:g} msg/s per chair, "
          f"{args.seconds:g} s per step\n")
    print("| chairs per site | chairs | offered msg/s | received at region msg/s | bridged "
          "p50 / p99 ms | direct p50 / p99 ms | p99 ratio | region broker CPU | site brokers "
          "CPU | generator CPU | skipped by the generator | load |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for chairs in (int(c) for c in args.chairs.split(",")):
        with tempfile.TemporaryDirectory(prefix="chairside-region-") as tmp:
            hub, brokers = region(Path(tmp), [*sites, DIRECT], binary)
            brokers.pop(DIRECT)  # the direct publisher uses the bridge's account, no broker
            for broker in (hub, *brokers.values()):
                broker.start()
            try:
                step = asyncio.run(asyncio.wait_for(
                    measure(hub, brokers, chairs, args.rate, args.seconds),
                    args.seconds + 60))
            finally:
                for broker in (hub, *brokers.values()):
                    broker.stop()
        received = len(step.bridged) / step.cpu["seconds"]
        b50, b99 = pct(step.bridged, 0.5), pct(step.bridged, 0.99)
        d50, d99 = pct(step.direct, 0.5), pct(step.direct, 0.99)
        print(f"| {chairs} | {chairs * args.sites} | {step.offered:,} | {received:,.0f} | "
              f"{b50:.1f} / {b99:.1f} | {d50:.1f} / {d99:.1f} | {b99 / d99:.1f}x | "
              f"{step.cpu['region broker']:.0%} | {step.cpu['site brokers']:.0%} | "
              f"{step.cpu['generator and subscriber']:.0%} | {step.skipped:,} | {step.load} |",
              flush=True)
    print(f"\nload avg {Path('/proc/loadavg').read_text().strip()} (after)")


if __name__ == "__main__":
    main()
