"""How much CPU `chairside dashboard` spends showing a busy floor, measured from outside.

A Mosquitto of the benchmark's own signs its users in (the site's password file and ACL, as
`chairside users` writes them). A publisher, as the engine, sends every chair's state at
1 Hz. The dashboard runs in tmux at 160x48 and signs in as a nurse by keys, as a person
would. Its process's CPU time (utime + stime from /proc/PID/stat) and RSS are sampled over
two phases:

- changing: every chair's vitals move each second, and every 15 s the chair with a high
  alarm and the one with a medium alarm move on (so the overview's order changes and
  something flashes);
- unchanged: every chair's last state is published again each second, unchanged (low alarms
  only: nothing flashes), so only the ages on screen move.

    uv run python benchmarks/dashboard_cpu.py [--seconds 60] [--chairs 24] [--profile FILE]

`--profile FILE` runs the dashboard under cProfile (much slower: for where the time goes,
not for the CPU figures) and prints its top entries. Prints machine information and the
results as Markdown; records nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import pstats
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drivers import topics  # noqa: E402
from drivers.mqtt import QOS, MqttSettings, connected  # noqa: E402
from drivers.wire import EngineStatus  # noqa: E402
from tests.dashboard.states import alarm, chair_state  # noqa: E402
from tests.signin_site import PASSWORDS, as_user, signing_broker, write_site  # noqa: E402

SIZE = ("160", "48")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tmux(socket: str, *args: str) -> str:
    done = subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True,
                          check=True)
    return done.stdout


async def wait_for(socket: str, session: str, text: str, timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        screen = tmux(socket, "capture-pane", "-p", "-t", session)
        if text in screen:
            return screen
        await asyncio.sleep(0.25)
    raise TimeoutError(f"{text!r} never appeared:\n{screen}")


class Floor:
    """The states the publisher sends: moving in the changing phase, frozen after."""

    def __init__(self, chairs: list[str]) -> None:
        self.chairs = chairs
        self.changing = True
        self.frozen: dict[str, bytes] = {}
        self.step = 0

    def payloads(self) -> dict[str, bytes]:
        if not self.changing:
            return self.frozen
        now = datetime.now(UTC)
        self.step += 1
        turn = self.step // 15
        out: dict[str, bytes] = {}
        for i, chair in enumerate(self.chairs):
            alarms = [alarm(chair, "low")] if i % 5 == 0 else []
            if i == turn % len(self.chairs):
                alarms = [alarm(chair, "high")]
            elif i == (turn + 7) % len(self.chairs):
                alarms = [alarm(chair, "medium")]
            state = chair_state(chair, "observation", now, alarms=alarms,
                                hr=70 + (self.step + i) % 9, spo2=95 + (self.step + i) % 4)
            out[chair] = state.to_json()
        return out

    def freeze(self) -> None:
        """From now on the same states again and again, none alarming above low."""
        now = datetime.now(UTC)
        self.frozen = {
            chair: chair_state(chair, "observation", now,
                               alarms=[alarm(chair, "low")] if i % 5 == 0 else []).to_json()
            for i, chair in enumerate(self.chairs)
        }
        self.changing = False


async def publish(mqtt: MqttSettings, site: str, floor: Floor, stop: asyncio.Event) -> None:
    async with connected(mqtt, f"bench-engine-{uuid.uuid4().hex[:6]}") as client:
        while not stop.is_set():
            began = time.monotonic()
            status = EngineStatus(state="online", at=datetime.now(UTC))
            await client.publish(topics.engine_status(site), status.to_json(), qos=QOS,
                                 retain=True)
            for chair, payload in floor.payloads().items():
                await client.publish(topics.state(site, chair), payload, qos=QOS, retain=True)
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - began)))


async def measure(pid: int, seconds: float) -> tuple[float, float, str]:
    """(CPU % of one core, RSS MB at the end, load average during) over ``seconds``."""
    cpu0, wall0 = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds / 2)
    load = loadavg()
    await asyncio.sleep(seconds / 2)
    cpu1, wall1 = cpu_seconds(pid), time.monotonic()
    return 100 * (cpu1 - cpu0) / (wall1 - wall0), rss_mb(pid), load


async def run(seconds: float, count: int, profile: Path | None) -> None:
    chairs = [f"chair-{i}" for i in range(1, count + 1)]
    site = f"bench{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        directory = write_site(tmp, site, tuple(chairs))
        config = tmp / "config.toml"
        config.write_text(f'[site]\nid = "{site}"\n\n[access]\nusers = "{directory.path}"\n')
        (tmp / "broker").mkdir()
        with signing_broker(tmp / "broker", directory) as broker:
            mqtt = broker.settings
            floor, stop = Floor(chairs), asyncio.Event()
            publisher = asyncio.create_task(publish(as_user(mqtt, "engine"), site, floor, stop))
            socket = f"bench-{uuid.uuid4().hex[:6]}"
            session = "dash"
            python = [sys.executable]
            if profile is not None:
                python += ["-m", "cProfile", "-o", str(profile)]
            command = (f"cd {tmp} && PYTHONPATH={ROOT} exec {' '.join(python)} -m monitor.cli "
                       f"dashboard --config {config} --broker mqtt://127.0.0.1:{mqtt.port}")
            tmux(socket, "new-session", "-d", "-s", session, "-x", SIZE[0], "-y", SIZE[1],
                 command)
            try:
                await wait_for(socket, session, "User name")
                tmux(socket, "send-keys", "-t", session, "-l", "amy")
                tmux(socket, "send-keys", "-t", session, "Enter")
                await asyncio.sleep(0.5)
                tmux(socket, "send-keys", "-t", session, "-l", PASSWORDS["amy"])
                tmux(socket, "send-keys", "-t", session, "Enter")
                await wait_for(socket, session, chairs[-1])
                pid = int(tmux(socket, "display", "-p", "-t", session, "#{pane_pid}"))
                await asyncio.sleep(10)  # warm up: every tile mounted, the trends filling
                changing = await measure(pid, seconds)
                floor.freeze()
                await asyncio.sleep(3)
                unchanged = await measure(pid, seconds)
                tmux(socket, "send-keys", "-t", session, "q")
                for _ in range(100):  # the profile is written on the way out
                    if not await asyncio.to_thread(os.path.exists, f"/proc/{pid}"):
                        break
                    await asyncio.sleep(0.2)
            finally:
                stop.set()
                await publisher
                await asyncio.to_thread(subprocess.run, ["tmux", "-L", socket, "kill-server"],
                                        capture_output=True)
    report(seconds, count, changing, unchanged, profile)


def report(seconds: float, count: int, changing: tuple[float, float, str],
           unchanged: tuple[float, float, str], profile: Path | None) -> None:
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {os.cpu_count()} cores (nproc), {cpu_model()}")
    print(f"python: {platform.python_version()}")
    print(f"{count} chairs at 1 Hz, tmux {SIZE[0]}x{SIZE[1]}, {seconds:.0f} s per phase"
          + (" (under cProfile)" if profile else ""))
    print()
    print("| phase | CPU (% of one core) | RSS (MB) | load average during |")
    print("|---|---|---|---|")
    for name, (cpu, rss, load) in (("changing", changing), ("unchanged", unchanged)):
        print(f"| {name} | {cpu:.1f} | {rss:.0f} | {load} |")
    if profile is not None and profile.exists():
        print()
        stats = pstats.Stats(str(profile))
        stats.sort_stats("tottime").print_stats(20)
        stats.sort_stats("cumulative").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="per phase")
    parser.add_argument("--chairs", type=int, default=24)
    parser.add_argument("--profile", type=Path, default=None, metavar="FILE")
    args = parser.parse_args()
    profile = args.profile.resolve() if args.profile is not None else None
    asyncio.run(run(args.seconds, args.chairs, profile))


if __name__ == "__main__":
    main()
